package node

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/fleet"
	"github.com/vigil-vision/vigil/liveview"
)

// fleetState is the node's part in a fleet: which of its running cameras
// the fleet handed it (the others are the file's).
type fleetState struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (f *fleetState) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ids[id]
}

func (f *fleetState) set(id string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		f.ids[id] = true
	} else {
		delete(f.ids, id)
	}
}

// fence says whether the node may publish a camera now, and under which
// lease epoch; without a fleet it is not used (nil in the publishers).
func (n *Node) fence(camera string) (uint64, bool) {
	if m := n.member.Load(); m != nil {
		return m.Fence(camera)
	}
	return 0, !n.fleet.has(camera) // before joining only the file's cameras run
}

// fleetRunner is the node as a fleet.Runner.
type fleetRunner struct{ n *Node }

func (r fleetRunner) Check(cam config.Camera) error {
	if r.Local(cam.ID) {
		return fmt.Errorf("camera %q is one of this node's own (its file's)", cam.ID)
	}
	_, err := r.n.Config().WithCamera(cam)
	return err
}

func (r fleetRunner) Start(cam config.Camera) error {
	n := r.n
	was := n.fleet.has(cam.ID)
	n.fleet.set(cam.ID, true)
	_, err := n.Change("fleet", func(cur *config.Config) (*config.Config, error) {
		if i := slices.IndexFunc(cur.Cameras, func(c config.Camera) bool { return c.ID == cam.ID }); i >= 0 && !was {
			return nil, fmt.Errorf("camera %q runs here from this node's file; the fleet's is not taken", cam.ID)
		}
		return cur.WithCamera(cam)
	})
	if err != nil && !was {
		n.fleet.set(cam.ID, false)
	}
	return err
}

func (r fleetRunner) Stop(id string) {
	n := r.n
	if !n.fleet.has(id) {
		return
	}
	_, err := n.Change("fleet", func(cur *config.Config) (*config.Config, error) {
		next, ok := cur.WithoutCamera(id)
		if !ok {
			return cur, nil
		}
		return next, nil
	})
	n.fleet.set(id, false)
	if err != nil {
		n.log.Debug().Err(err).Str("camera", id).Msg("fleet: camera not removed")
	}
}

func (r fleetRunner) Local(id string) bool {
	if r.n.fleet.has(id) {
		return false
	}
	_, ok := r.n.Config().Camera(id)
	return ok
}

func (r fleetRunner) Detectors() []string {
	var out []string
	for _, d := range r.n.Config().DetectorModels() {
		out = append(out, d.Name)
	}
	return out
}

func (r fleetRunner) Busy() time.Duration { return r.n.p.DetectorBusy() }

// withFleetCameras is a desired state read from the file, plus the fleet
// cameras the node runs now; a file camera with the id of a fleet camera
// wins, and the fleet's lease on it goes at the member's next step.
func (n *Node) withFleetCameras(file, running *config.Config) (*config.Config, error) {
	out := file
	for _, c := range running.Cameras {
		if !n.fleet.has(c.ID) {
			continue
		}
		if _, mine := file.Camera(c.ID); mine {
			n.log.Warn().Str("camera", c.ID).Msg("fleet: the file now has this camera; the fleet's camera of that id is given up here")
			n.fleet.set(c.ID, false)
			continue
		}
		var err error
		if out, err = out.WithCamera(c); err != nil {
			return nil, fmt.Errorf("fleet camera %q with the file's new state: %w", c.ID, err)
		}
	}
	return out, nil
}

// runFleet joins the fleet, trying again while the NATS cluster is not
// ready (JetStream has no quorum yet, a bucket cannot get its replicas),
// then runs the member until ctx ends.
func (n *Node) runFleet(ctx context.Context, cfg *config.Config) {
	name, err := cfg.Fleet.NodeName()
	if err != nil {
		n.log.Error().Err(err).Msg("fleet: not joined")
		return
	}
	js, err := jetstream.New(n.nc)
	if err != nil {
		n.log.Error().Err(err).Msg("fleet: not joined")
		return
	}
	advertise := cfg.Fleet.Advertise
	if advertise == "" && n.web != nil {
		advertise = "http://" + n.web.Addr()
	}
	f := cfg.Fleet
	o := fleet.Options{
		JS: js, Node: name, Labels: f.Labels, TTL: f.LeaseTTL.D(), MaxCameras: f.MaxCameras, MaxLoad: f.MaxLoad,
		MinHold: f.MinHold.D(), Replicas: fleetReplicas(cfg), URL: advertise, Version: n.o.Version,
		Runner: fleetRunner{n}, Registerer: n.reg, Logger: n.log,
	}
	var m *fleet.Member
	for attempt := 0; ; attempt++ {
		jctx, cancel := context.WithTimeout(ctx, 2*f.LeaseTTL.D()+5*time.Second)
		m, err = fleet.Join(jctx, o)
		cancel()
		if err == nil {
			break
		}
		if strings.Contains(err.Error(), "already live") {
			n.log.Error().Err(err).Msg("fleet: not joined; this node runs only its own cameras")
			n.fleetErr.Store(&err)
			return
		}
		n.fleetErr.Store(&err)
		if attempt%5 == 0 {
			n.log.Warn().Err(err).Msg("fleet: not joined yet (is the NATS cluster up, with JetStream?); trying again")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	n.fleetErr.Store(nil)
	n.member.Store(m)
	m.Run(ctx)
}

// fleetReplicas is fleet.replicas, or 3 when the config names three or
// more NATS servers (its cluster's routes, or its nats.url list), else 1.
func fleetReplicas(cfg *config.Config) int {
	if r := cfg.Fleet.Replicas; r > 0 {
		return r
	}
	servers := 1
	if cfg.NATS.URL != "" {
		servers = len(strings.Split(cfg.NATS.URL, ","))
	} else if c := cfg.NATS.Cluster; c.Enabled() {
		servers = max(len(c.Routes), 2) // the routes may or may not list this server
		if !slices.ContainsFunc(c.Routes, func(r string) bool { return strings.HasSuffix(r, c.Listen) }) {
			servers++
		}
	}
	if servers >= 3 {
		return 3
	}
	return 1
}

// serveFleet answers GET /api/fleet: the fleet's nodes and cameras as
// this node sees them.
func (n *Node) serveFleet(w http.ResponseWriter, r *http.Request) {
	m := n.member.Load()
	if m == nil {
		msg := "this vigil is not in a fleet (fleet.enabled is false)"
		if p := n.fleetErr.Load(); p != nil {
			msg = "not joined to the fleet yet: " + (*p).Error()
		} else if n.Config().Fleet.Enabled {
			msg = "joining the fleet"
		}
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("%s", msg))
		return
	}
	writeJSON(w, http.StatusOK, m.Status())
}

// remoteCameras are the fleet's cameras other nodes run, for the live
// view's page.
func (n *Node) remoteCameras() []liveview.RemoteCamera {
	m := n.member.Load()
	if m == nil {
		return nil
	}
	var out []liveview.RemoteCamera
	for _, c := range m.Status().Cameras {
		if c.Owner == m.Node() || m.Held(c.ID) {
			continue
		}
		out = append(out, liveview.RemoteCamera{Camera: c.ID, Node: c.Owner, State: c.State})
	}
	return out
}

// forwardedHeader marks a request one node forwarded to another, which
// never forwards it again (two nodes with stale views would bounce it).
const forwardedHeader = "X-Vigil-Forwarded-By"

// forwardCamera serves a live-view request for a fleet camera another
// node runs from that node, through this one: the page needs one
// address, and the owner's token is the fleet's.
func (n *Node) forwardCamera(w http.ResponseWriter, r *http.Request, camera string) bool {
	m := n.member.Load()
	if m == nil || r.Header.Get(forwardedHeader) != "" {
		return false
	}
	owner, base := m.Owner(camera)
	if owner == "" || owner == m.Node() || base == "" {
		return false
	}
	target, err := url.Parse(base)
	if err != nil {
		return false
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set(forwardedHeader, m.Node())
		},
		FlushInterval: -1, // MJPEG streams
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, fmt.Sprintf("camera %q runs on node %s, which does not answer at %s: %v", camera, owner, base, err), http.StatusBadGateway)
		},
	}
	proxy.ServeHTTP(w, r)
	return true
}
