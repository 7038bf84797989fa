package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/goccy/go-yaml"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/sinks"
)

// maxBody bounds a camera block sent to the API; real ones are a few KiB,
// and walking a large one costs seconds.
const maxBody = 256 << 10

// startHTTP serves /healthz, /metrics, /api/cameras, the live view and the
// configuration API.
func (n *Node) startHTTP(cfg *config.Config) error {
	web, err := sinks.StartHTTP(sinks.HTTPOptions{
		Listen: cfg.HTTP.Listen, Gatherer: n.reg, Logger: n.log, Token: n.token,
		Health:  n.health,
		Cameras: func() any { return n.cameraStates() },
	})
	if err != nil {
		return err
	}
	n.web = web
	n.register(web.Mux)
	if err := n.startEventsAPI(cfg, web.Mux); err != nil {
		return err
	}
	n.log.Info().Str("url", "http://"+web.Addr()).Msg("http: /healthz /metrics /api/cameras /api/config")
	if n.live != nil {
		n.live.Register(web.Mux)
		n.log.Info().Str("url", "http://"+web.Addr()+"/").Bool("token", n.token != "").
			Msg("live view: the page, WHEP at /api/whep/<camera>, MJPEG and snapshots at /api/cameras/<camera>/")
	}
	return nil
}

// register adds the configuration API:
//
//	GET    /api/config/status        the generation and the last change
//	POST   /api/config/reload        read the config file again and apply it
//	GET    /api/config/cameras       every camera's block (passwords redacted)
//	GET    /api/config/cameras/{id}  one camera's block
//	PUT    /api/config/cameras/{id}  add or replace one camera (YAML or JSON)
//	DELETE /api/config/cameras/{id}  remove one camera
//
// Changes made here live in memory: a reload from the file replaces them.
func (n *Node) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/fleet", n.serveFleet)
	mux.HandleFunc("GET /api/models/shadow", n.serveShadows)
	mux.HandleFunc("GET /api/models/remote", n.serveRemotes)
	mux.HandleFunc("GET /api/config/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.status.get())
	})
	mux.HandleFunc("POST /api/config/reload", func(w http.ResponseWriter, r *http.Request) {
		rep, _ := n.Reload("api")
		writeReport(w, rep, http.StatusUnprocessableEntity)
	})
	mux.HandleFunc("GET /api/config/cameras", func(w http.ResponseWriter, r *http.Request) {
		cfg := n.Config()
		out := make([]any, 0, len(cfg.Cameras))
		for _, c := range cfg.Cameras {
			v, err := cameraJSON(c)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			out = append(out, v)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/config/cameras/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, ok := n.Config().Camera(r.PathValue("id"))
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Errorf("no camera %q in the configuration; PUT one to add it", r.PathValue("id")))
			return
		}
		v, err := cameraJSON(c)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("PUT /api/config/cameras/{id}", n.servePutCamera)
	mux.HandleFunc("DELETE /api/config/cameras/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var missing bool
		rep, err := n.Change("api", func(cur *config.Config) (*config.Config, error) {
			next, ok := cur.WithoutCamera(id)
			if !ok {
				missing = true
				return nil, fmt.Errorf("no camera %q in the configuration", id)
			}
			return next, nil
		})
		if missing {
			writeError(w, http.StatusNotFound, err)
			return
		}
		writeReport(w, rep, http.StatusUnprocessableEntity)
	})
}

func (n *Node) servePutCamera(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("read body: %w", err))
		return
	}
	if len(body) > maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, errors.New("camera block larger than 256 KiB"))
		return
	}
	cam, err := config.ParseCameraAs(body, "request body", id)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var invalid error // the camera does not fit the configuration
	rep, _ := n.Change("api", func(cur *config.Config) (*config.Config, error) {
		if old, ok := cur.Camera(id); ok && cam.URL == old.RedactedURL() {
			cam.URL = old.URL // a block read back from GET, its password redacted
		}
		next, err := cur.WithCamera(cam)
		invalid = err
		return next, err
	})
	if invalid != nil {
		writeError(w, http.StatusBadRequest, invalid)
		return
	}
	writeReport(w, rep, http.StatusUnprocessableEntity)
}

// cameraJSON is a camera's block with the config's own key names, its URL's
// password redacted.
func cameraJSON(c config.Camera) (any, error) {
	c.URL = c.RedactedURL()
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// writeReport answers with a change's report (its error included): 200,
// or failCode when nothing changed.
func writeReport(w http.ResponseWriter, rep Report, failCode int) {
	code := http.StatusOK
	if rep.Outcome == "failed" {
		code = failCode
	}
	writeJSON(w, code, rep)
}

// writeError answers with an error, and each of its problems when it joins
// several (config's field errors).
func writeError(w http.ResponseWriter, code int, err error) {
	body := struct {
		Error    string   `json:"error"`
		Problems []string `json:"problems,omitempty"`
	}{Error: err.Error()}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			body.Problems = append(body.Problems, e.Error())
		}
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
