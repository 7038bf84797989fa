package liveview

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
)

// maxOffer bounds a WHEP offer's size; real ones are a few kilobytes.
const maxOffer = 64 << 10

// snapshotWait bounds how long a snapshot request waits for a frame.
const snapshotWait = 5 * time.Second

// Register adds the live view's routes to mux:
//
//	GET    /                                   the page
//	GET    /live.js                            its script
//	GET    /api/live                           cameras, their state and live numbers, ICE servers
//	POST   /api/whep/{camera}                  WHEP: SDP offer in, 201 + SDP answer + Location out
//	DELETE /api/whep/{camera}/{session}        WHEP: end the session
//	GET    /api/cameras/{camera}/mjpeg         annotated MJPEG
//	GET    /api/cameras/{camera}/snapshot.jpg  annotated JPEG (?raw=1: as captured)
//	PUT    /api/cameras/{camera}/overlay       {"motion": true}: draw motion gating's view too
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", assets.Page("web/index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /live.js", assets.Page("web/live.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /api/live", s.serveStatus)
	mux.HandleFunc("POST /api/whep/{camera}", s.serveOffer)
	mux.HandleFunc("DELETE /api/whep/{camera}/{session}", s.serveDelete)
	mux.HandleFunc("GET /api/cameras/{camera}/mjpeg", s.serveMJPEG)
	mux.HandleFunc("GET /api/cameras/{camera}/snapshot.jpg", s.serveSnapshot)
	mux.HandleFunc("PUT /api/cameras/{camera}/overlay", s.serveOverlay)
}

// overlayJSON is the body of PUT /api/cameras/{camera}/overlay, and its
// answer.
type overlayJSON struct {
	Camera string `json:"camera,omitempty"`
	Motion *bool  `json:"motion"`
}

// serveOverlay switches a camera's motion overlay: its motion blobs, the
// crops the detector looked in and the gate's decision drawn on its
// frames. It is the camera's, not the viewer's: every viewer sees it.
func (s *Server) serveOverlay(w http.ResponseWriter, r *http.Request) {
	c := s.cameraOr404(w, r)
	if c == nil {
		return
	}
	var body overlayJSON
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Motion == nil {
		http.Error(w, `bad overlay: send {"motion": true} or {"motion": false}`, http.StatusBadRequest)
		return
	}
	c.overlay.Store(*body.Motion)
	on := c.overlay.Load()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(overlayJSON{Camera: c.id, Motion: &on})
}

// cameraOr404 finds the camera named in the path, or answers 404.
func (s *Server) cameraOr404(w http.ResponseWriter, r *http.Request) *camera {
	id := r.PathValue("camera")
	c := s.camera(id)
	if c == nil && (s.opts.Forward == nil || !s.opts.Forward(w, r, id)) {
		s.unknownCamera(w, id)
	}
	return c
}

func (s *Server) unknownCamera(w http.ResponseWriter, id string) {
	http.Error(w, fmt.Sprintf("unknown camera %q; cameras: %s", id, s.cameraIDs()), http.StatusNotFound)
}

// stopped answers a request whose camera stopped while it started: 503
// while the server closes, else (the camera was removed) 404 as for any
// unknown camera.
func (s *Server) stopped(w http.ResponseWriter, c *camera) {
	if s.closed.Load() {
		http.Error(w, "the live view is shutting down", http.StatusServiceUnavailable)
		return
	}
	s.unknownCamera(w, c.id)
}

func (s *Server) serveOffer(w http.ResponseWriter, r *http.Request) {
	c := s.cameraOr404(w, r)
	if c == nil {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/sdp" {
		http.Error(w, "WHEP offers are SDP: send Content-Type: application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxOffer+1))
	if err != nil {
		http.Error(w, "read offer: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxOffer {
		http.Error(w, "offer larger than 64 KiB", http.StatusRequestEntityTooLarge)
		return
	}
	if reason := s.checkOffer(string(body)); reason != "" {
		http.Error(w, "malformed SDP offer: "+reason, http.StatusBadRequest)
		return
	}
	if s.closed.Load() {
		http.Error(w, "the live view is shutting down", http.StatusServiceUnavailable)
		return
	}
	sess, answer, err := c.newSession(string(body))
	switch {
	case errors.Is(err, errStopped):
		s.stopped(w, c)
		return
	case errors.Is(err, errBadOffer):
		http.Error(w, "SDP offer not accepted: "+strings.TrimPrefix(err.Error(), errBadOffer.Error()+": "), http.StatusBadRequest)
		return
	case err != nil:
		s.log.Error().Err(err).Str("camera", c.id).Msg("WHEP session failed")
		http.Error(w, "cannot start the session: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/api/whep/"+c.id+"/"+sess.id)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// checkOffer says what is wrong with an offer before any WebRTC state is
// made for it: "" when it parses and asks to receive this server's codec.
func (s *Server) checkOffer(sdp string) string {
	if strings.TrimSpace(sdp) == "" {
		return "empty body"
	}
	parsed, err := (&webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}).Unmarshal()
	if err != nil {
		return err.Error()
	}
	want := strings.ToLower(strings.TrimPrefix(s.codec.capability.MimeType, "video/")) + "/90000"
	video := false
	for _, md := range parsed.MediaDescriptions {
		if md.MediaName.Media != "video" {
			continue
		}
		video = true
		for _, a := range md.Attributes {
			if a.Key == "rtpmap" && strings.Contains(strings.ToLower(a.Value), " "+want) {
				return ""
			}
		}
	}
	if !video {
		return "no video section (m=video); add a recvonly video transceiver"
	}
	return fmt.Sprintf("the video section does not offer %s, the codec this server sends (liveview.codec)", strings.ToUpper(s.codec.name))
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request) {
	c := s.cameraOr404(w, r)
	if c == nil {
		return
	}
	sess := c.session(r.PathValue("session"))
	if sess == nil {
		http.Error(w, "no such session; it has ended", http.StatusNotFound)
		return
	}
	sess.end("viewer left (DELETE)")
	w.WriteHeader(http.StatusOK)
}

// liveStatus is GET /api/live.
type liveStatus struct {
	ServerTimeMS int64           `json:"server_time_ms"` // for the page's clock offset
	Codec        string          `json:"codec"`
	ICEServers   []iceServerJSON `json:"ice_servers"`
	Cameras      []liveCamera    `json:"cameras"`
}

type liveCamera struct {
	Camera         string        `json:"camera"`
	State          capture.State `json:"state"`
	LastError      string        `json:"last_error,omitempty"`
	CameraFPS      float64       `json:"camera_fps"` // captured
	DrawFPS        float64       `json:"draw_fps"`   // drawn for viewers
	Objects        int           `json:"objects"`    // tracked in the latest processed frame
	InferMS        float64       `json:"infer_ms"`
	ResultAgeMS    float64       `json:"result_age_ms"` // since the latest processed frame's capture; -1: none yet
	Viewers        int           `json:"viewers"`
	EncoderRunning bool          `json:"encoder_running"`
	MJPEGClients   int           `json:"mjpeg_clients"`
	WHEP           string        `json:"whep"`
	MJPEG          string        `json:"mjpeg"`
	Snapshot       string        `json:"snapshot"`
	Overlay        string        `json:"overlay"`        // PUT {"motion": true} to draw motion gating's view
	MotionOverlay  bool          `json:"motion_overlay"` // it is drawn
	// In a fleet: the node that runs the camera; a remote one is served
	// through this node from its owner.
	Node   string `json:"node,omitempty"`
	Remote bool   `json:"remote,omitempty"`
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	t := now()
	st := liveStatus{ServerTimeMS: t.UnixMilli(), Codec: s.codec.name, ICEServers: s.iceJSON, Cameras: []liveCamera{}}
	if st.ICEServers == nil {
		st.ICEServers = []iceServerJSON{}
	}
	for _, c := range s.cameras() {
		id := c.id
		cs := c.src.Status()
		lc := liveCamera{
			Camera: id, State: cs.State, LastError: cs.LastError, CameraFPS: round2(cs.FPS),
			DrawFPS: round2(c.outFPS()), ResultAgeMS: -1, Node: s.opts.Node,
			WHEP: "/api/whep/" + id, MJPEG: "/api/cameras/" + id + "/mjpeg", Snapshot: "/api/cameras/" + id + "/snapshot.jpg",
			Overlay: "/api/cameras/" + id + "/overlay", MotionOverlay: c.overlay.Load(),
		}
		if res := c.latest(); res != nil {
			lc.Objects = len(res.tracks)
			lc.InferMS = round2(float64(res.infer) / float64(time.Millisecond))
			lc.ResultAgeMS = round2(float64(t.Sub(res.at)) / float64(time.Millisecond))
		}
		c.mu.Lock()
		lc.Viewers, lc.EncoderRunning, lc.MJPEGClients = len(c.sessions), c.enc != nil, len(c.mjpeg)
		c.mu.Unlock()
		st.Cameras = append(st.Cameras, lc)
	}
	if s.opts.Remote != nil {
		for _, rc := range s.opts.Remote() {
			if s.camera(rc.Camera) != nil {
				continue // moving here right now
			}
			st.Cameras = append(st.Cameras, liveCamera{Camera: rc.Camera, State: capture.State(rc.State), ResultAgeMS: -1,
				Node: rc.Node, Remote: true, WHEP: "/api/whep/" + rc.Camera,
				MJPEG: "/api/cameras/" + rc.Camera + "/mjpeg", Snapshot: "/api/cameras/" + rc.Camera + "/snapshot.jpg",
				Overlay: "/api/cameras/" + rc.Camera + "/overlay"})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(st)
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
