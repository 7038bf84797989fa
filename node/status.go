package node

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/internal/jsonnum"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/sinks"
)

// Report says what one change of the desired state did.
type Report struct {
	Generation uint64    `json:"generation"` // of the configuration after the change
	Source     string    `json:"source"`     // start, file, api
	At         time.Time `json:"at"`
	// Outcome is applied, unchanged (valid, and nothing to do), failed
	// (nothing changed: Error says why) or partial (applied, but a step
	// failed: Error says which).
	Outcome     string   `json:"outcome"`
	Error       string   `json:"error,omitempty"`
	Added       []string `json:"added,omitempty"`
	Removed     []string `json:"removed,omitempty"`
	Reconnected []string `json:"reconnected,omitempty"` // source changed
	Moved       []string `json:"moved,omitempty"`       // camera→detector
	// RulesChanged are the cameras whose rules changed (added cameras'
	// rules are not listed here).
	RulesChanged []string `json:"rules_changed,omitempty"`
	Detectors    struct {
		Loaded   []string `json:"loaded,omitempty"`  // name=model@version
		Swapped  []string `json:"swapped,omitempty"` // name=new model@version
		Unloaded []string `json:"unloaded,omitempty"`
	} `json:"detectors"`
	Tracker  bool   `json:"tracker,omitempty"`   // the tracker's settings changed
	LogLevel string `json:"log_level,omitempty"` // the new level, when it changed
	// RestartRequired are keys that changed but need a restart to take
	// effect (config.RestartNeeded); the rest of the change is applied.
	RestartRequired []string `json:"restart_required,omitempty"`
	DurationMS      float64  `json:"duration_ms"`
}

func (r *Report) changed() bool {
	return len(r.Added)+len(r.Removed)+len(r.Reconnected)+len(r.Moved)+len(r.RulesChanged)+
		len(r.Detectors.Loaded)+len(r.Detectors.Swapped)+len(r.Detectors.Unloaded) > 0 || r.Tracker || r.LogLevel != ""
}

// ConfigStatus is the configuration's part of /healthz and
// /api/config/status.
type ConfigStatus struct {
	Generation uint64  `json:"generation"`
	LastReload *Report `json:"last_reload,omitempty"` // the last change tried, applied or not
}

// statusBoard keeps the generation and the last change, and counts
// changes by outcome.
type statusBoard struct {
	mu      sync.Mutex
	gen     uint64
	last    *Report
	reloads *prometheus.CounterVec
	genG    prometheus.Gauge
	log     func(r Report, err error)
}

func (s *statusBoard) init(reg prometheus.Registerer) {
	s.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_config_reloads_total", Help: "Changes of the desired state tried (file reloads, API calls), by outcome: applied, unchanged, partial, failed.",
	}, []string{"outcome"})
	s.genG = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vigil_config_generation", Help: "Generation of the configuration running now: 1 at start, one more per applied change.",
	})
	reg.MustRegister(s.reloads, s.genG)
	for _, o := range []string{"applied", "unchanged", "partial", "failed"} {
		s.reloads.WithLabelValues(o)
	}
}

func (s *statusBoard) started() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen = 1
	s.genG.Set(1)
}

func (s *statusBoard) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

func (s *statusBoard) get() ConfigStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ConfigStatus{Generation: s.gen}
	if s.last != nil {
		r := *s.last
		st.LastReload = &r
	}
	return st
}

// failed records a change that changed nothing.
func (s *statusBoard) failed(source string, err error) Report {
	s.mu.Lock()
	r := Report{Generation: s.gen, Source: source, At: time.Now().UTC(), Outcome: "failed", Error: err.Error()}
	s.last = &r
	s.mu.Unlock()
	return s.tell(r, err)
}

// applied records a change that was carried out, err saying what of it
// failed.
func (s *statusBoard) applied(r Report, err error) Report {
	s.mu.Lock()
	r.At = time.Now().UTC()
	r.DurationMS = jsonnum.Round(r.DurationMS, 3)
	switch {
	case err != nil:
		r.Outcome, r.Error = "partial", err.Error()
	case r.changed():
		r.Outcome = "applied"
	default:
		r.Outcome = "unchanged"
	}
	if r.Outcome != "unchanged" {
		s.gen++
		s.genG.Set(float64(s.gen))
	}
	r.Generation = s.gen
	s.last = &r
	s.mu.Unlock()
	return s.tell(r, err)
}

// tell counts a change by its outcome and logs it.
func (s *statusBoard) tell(r Report, err error) Report {
	s.reloads.WithLabelValues(r.Outcome).Inc()
	if s.log != nil {
		s.log(r, err)
	}
	return r
}

// logReport logs a change once, with what it changed.
func (n *Node) logReport(r Report, err error) {
	var ev = n.log.Info()
	switch r.Outcome {
	case "failed":
		ev = n.log.Error().Err(err)
	case "partial":
		ev = n.log.Warn().Err(err)
	}
	ev = ev.Uint64("generation", r.Generation).Str("source", r.Source).Str("outcome", r.Outcome)
	for k, v := range map[string][]string{
		"added": r.Added, "removed": r.Removed, "reconnected": r.Reconnected, "moved": r.Moved, "rules_changed": r.RulesChanged,
		"detectors_loaded": r.Detectors.Loaded, "detectors_swapped": r.Detectors.Swapped, "detectors_unloaded": r.Detectors.Unloaded,
		"restart_required": r.RestartRequired,
	} {
		if len(v) > 0 {
			ev = ev.Strs(k, v)
		}
	}
	if r.Tracker {
		ev = ev.Bool("tracker", true)
	}
	if r.LogLevel != "" {
		ev = ev.Str("log_level", r.LogLevel)
	}
	msg := "configuration applied"
	switch r.Outcome {
	case "failed":
		msg = "configuration not applied: nothing changed"
	case "unchanged":
		msg = "configuration unchanged"
	case "partial":
		msg = "configuration applied in part"
	}
	if r.Outcome != "failed" {
		ev = ev.Float64("ms", r.DurationMS)
	}
	ev.Msg(msg)
	if len(r.RestartRequired) > 0 {
		n.log.Warn().Strs("keys", r.RestartRequired).Msg("these changes take effect only after a restart; the rest is applied")
	}
}

// health is ready when every stage runs and the publisher is alive.
func (n *Node) health() sinks.Health {
	stages := n.p.Stages()
	select {
	case <-n.pubDone:
		stages["publish"] = false
	default:
		stages["publish"] = true
	}
	ready := true
	for _, up := range stages {
		ready = ready && up
	}
	st := n.status.get()
	h := sinks.Health{Ready: ready, Stages: stages, Cameras: n.cameraStates(), Config: st}
	if a := n.alertsHealth(); a != nil {
		h.Alerts = a
	}
	return h
}

// alertsState is the alerts' part of /healthz. A full disk does not make
// vigil unready: a restart would lose the alerts held in memory.
type alertsState struct {
	Spool   string `json:"spool,omitempty"` // "ok", or why it cannot be written: "disk_full: …"
	Pending int    `json:"pending"`         // in the spool, not yet in JetStream
	Held    int    `json:"held,omitempty"`  // in memory: the spool could not write them
	Dropped uint64 `json:"dropped,omitempty"`
	// JetStreamStore is why the embedded server's JetStream cannot store
	// (a full disk); "" while it can.
	JetStreamStore string `json:"jetstream_store,omitempty"`
}

func (n *Node) alertsHealth() *alertsState {
	var a alertsState
	if n.natsd != nil {
		a.JetStreamStore = n.natsd.StoreError()
	}
	al := n.alerts.Load()
	if al == nil && a.JetStreamStore == "" {
		return nil
	}
	if al != nil {
		st := al.Stats()
		a.Spool, a.Pending, a.Held, a.Dropped = st.Spool, st.Pending, st.Held, st.Dropped
	}
	return &a
}

type cameraState struct {
	capture.Status
	Detector  string `json:"detector"` // the detectors: entry serving it; "default" is model:
	Model     string `json:"model"`    // what that detector runs: file@version
	Processed uint64 `json:"processed"`
	Dropped   uint64 `json:"dropped"`
	// In a fleet: the node that runs the camera and its lease epoch (0 for
	// this node's own cameras); Remote: another node runs it, and State is
	// the fleet's word for it (running, free, unplaced, …).
	Node       string `json:"node,omitempty"`
	LeaseEpoch uint64 `json:"lease_epoch,omitempty"`
	Remote     bool   `json:"remote,omitempty"`
	// Motion is the camera's motion gating; absent when it is off.
	Motion *motionState `json:"motion,omitempty"`
}

// motionState is a camera's motion gating in /api/cameras.
type motionState struct {
	Fraction float64 `json:"fraction"` // share of the picture that moved in the last frame
	// Frames counts the frames by the gate's decision: to the detector
	// for settling, motion, tracks (moving tracks) or recheck, or held
	// (still) or dropped while a detected frame was pending.
	Frames map[string]uint64 `json:"frames"`
	// Saving is the share of the frames gated that the detector did not
	// see.
	Saving   float64 `json:"saving"`
	Tracks   int     `json:"tracks"`             // tracks of the last detected frame
	Moving   int     `json:"moving"`             // tracks moving, or standing ones just lost
	NearLine bool    `json:"near_line"`          // an object near a rule's line: served first
	Interval float64 `json:"recheck_interval_s"` // the look it gets while nothing moves
	// RegionFrames were looked at in crops at full resolution, Crops of
	// them in all (each one inference); RegionsPerFrame is their mean.
	RegionFrames    uint64  `json:"region_frames"`
	Crops           uint64  `json:"crops"`
	RegionsPerFrame float64 `json:"regions_per_frame"`
}

func (n *Node) cameraStates() []cameraState {
	cams := n.p.Cameras()
	models := *n.models.Load()
	out := make([]cameraState, 0, len(cams))
	for _, c := range cams {
		pr, dr := n.p.CameraCounts(c.ID())
		s := c.Status()
		s.FPS = jsonnum.Round(s.FPS, 2)
		det := n.p.DetectorOf(c.ID())
		cs := cameraState{Status: s, Detector: det, Model: models[det], Processed: pr, Dropped: dr}
		if g, ok := n.p.Gating(c.ID()); ok && g.Gated {
			cs.Motion = &motionState{Fraction: jsonnum.Round(g.Motion, 4), Frames: g.Frames, Tracks: g.Tracks, Moving: g.Moving, NearLine: g.Near,
				Interval: g.Interval.Seconds(), RegionFrames: g.RegionFrames, Crops: g.Crops}
			if g.RegionFrames > 0 {
				cs.Motion.RegionsPerFrame = jsonnum.Round(float64(g.Crops)/float64(g.RegionFrames), 2)
			}
			var all, skipped uint64
			for reason, n := range g.Frames {
				all += n
				if reason == pipeline.GateStill || reason == pipeline.GateDropped {
					skipped += n
				}
			}
			if all > 0 {
				cs.Motion.Saving = jsonnum.Round(float64(skipped)/float64(all), 4)
			}
		}
		if m := n.member.Load(); m != nil {
			cs.Node = m.Node()
			cs.LeaseEpoch, _ = m.Fence(c.ID())
		}
		out = append(out, cs)
	}
	if m := n.member.Load(); m != nil {
		for _, c := range m.Status().Cameras {
			if c.Owner == m.Node() || n.p.Camera(c.ID) != nil {
				continue
			}
			st := capture.Status{Camera: c.ID, State: capture.State(c.State), LastError: c.Reason}
			out = append(out, cameraState{Status: st, Node: c.Owner, LeaseEpoch: c.Epoch, Remote: true})
		}
	}
	return out
}
