package node

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/dataset"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/examples"
	"github.com/vigil-vision/vigil/model"
	"github.com/vigil-vision/vigil/modelstore"
	"github.com/vigil-vision/vigil/pipeline"
	"gocv.io/x/gocv"
)

// A detector that follows a store model (store: NAME) checks the name's
// candidate version (modelstore.Entry.Candidate: the last one pushed, or
// vigil model shadow NAME@VERSION) in shadow: the candidate is fetched and
// loaded in the background with its own session on model.shadow.threads
// threads at a lower priority, and runs on one processed frame in
// model.shadow.every beside the live model (model.Shadow), skipping a
// frame while it is still busy with the last one. Every report_every the
// node publishes how the two agree on <prefix>.models.<name>.shadow and
// keeps it for GET /api/models/shadow; frames where they disagree go to
// the hard examples of cameras whose strategies say shadow: true. With
// promote: auto the node promotes the candidate once the report passes
// the configured thresholds; the model watch then swaps it in between two
// frames (models.go), which ends the trial.

// ShadowReport is one shadow's state, as published and served.
type ShadowReport struct {
	Node       string             `json:"node,omitempty"`
	Detector   string             `json:"detector"`
	Model      string             `json:"model"`     // the store name
	Live       string             `json:"live"`      // NAME@VERSION the detector runs
	Candidate  string             `json:"candidate"` // NAME@VERSION on trial
	State      string             `json:"state"`     // loading|running|failed|stopped
	Error      string             `json:"error,omitempty"`
	Since      time.Time          `json:"since"`
	At         time.Time          `json:"at"`
	Every      int                `json:"every"`
	Threads    int                `json:"threads"`
	Counts     model.ShadowCounts `json:"counts"`
	Comparison *model.Comparison  `json:"comparison,omitempty"`
	Promote    string             `json:"promote"` // manual|auto
	Passes     bool               `json:"passes"`
	Verdict    string             `json:"verdict"`
}

// Shadow states.
const (
	ShadowLoading = "loading"
	ShadowRunning = "running"
	ShadowFailed  = "failed"
	ShadowStopped = "stopped"
)

// shadowState is the node's shadows, one per detector at most.
type shadowState struct {
	mu      sync.Mutex
	entries map[string]modelstore.Entry // followed name → its latest entry
	runs    map[string]*shadowRun       // detector → its shadow
	sinks   atomic.Pointer[map[string]*shadowRun]
	wg      sync.WaitGroup
	stopped bool
}

type shadowRun struct {
	key             string // what it checks, with which settings: another key means another run
	detector, name  string
	live, candidate string   // refs
	version         int      // the candidate's
	labels          []string // the live model's
	cfg             config.Shadow
	ctx             context.Context
	cancel          context.CancelFunc
	since           time.Time
	sh              atomic.Pointer[model.Shadow] // nil until loaded
	mu              sync.Mutex
	state, err      string
	promoted        bool
}

// observeShadow offers a processed frame to its detector's shadow, on the
// pipeline's sink goroutine: a map lookup for a frame no shadow wants.
func (n *Node) observeShadow(r *pipeline.Result) {
	m := n.shadows.sinks.Load()
	if m == nil || r.Skipped {
		return // no trial, or a frame the live model did not run on (motion gating)
	}
	run := (*m)[r.Detector]
	if run == nil || r.Model != run.live {
		return // no trial, or the frame is from the model before a swap
	}
	if sh := run.sh.Load(); sh != nil {
		sh.Offer(r.Frame.Camera, r.Frame.Time, r.Frame.Image, r.Detections)
	}
}

// noteEntry keeps a followed name's latest entry, for syncShadows.
func (n *Node) noteEntry(e modelstore.Entry) {
	n.shadows.mu.Lock()
	defer n.shadows.mu.Unlock()
	if n.shadows.entries == nil {
		n.shadows.entries = map[string]modelstore.Entry{}
	}
	n.shadows.entries[e.Name] = e
}

// syncShadowsLocked starts the shadows the running detectors and their
// names' entries call for and stops the others. n.mu is held.
func (n *Node) syncShadowsLocked() {
	want := map[string]*shadowRun{}
	if n.cfg != nil {
		for _, dm := range n.cfg.DetectorModels() {
			d := n.dets[dm.Name]
			s := dm.Model.Shadow
			if d == nil || d.follows == "" || !s.Enabled {
				continue
			}
			n.shadows.mu.Lock()
			e, ok := n.shadows.entries[d.follows]
			n.shadows.mu.Unlock()
			if !ok || e.Candidate == 0 || e.Candidate == d.version {
				continue
			}
			run := &shadowRun{detector: dm.Name, name: d.follows, live: d.model, version: e.Candidate, labels: d.det.Labels(),
				candidate: modelstore.Ref(d.follows, e.Candidate), cfg: s}
			run.key = fmt.Sprintf("%s>%s %+v %+v", run.live, run.candidate, s, d.spec)
			want[dm.Name] = run
		}
	}
	n.shadows.mu.Lock()
	defer n.shadows.mu.Unlock()
	if n.shadows.stopped {
		return
	}
	if n.shadows.runs == nil {
		n.shadows.runs = map[string]*shadowRun{}
	}
	for det, old := range n.shadows.runs {
		if w := want[det]; w == nil || w.key != old.key {
			n.stopShadowLocked(old)
			delete(n.shadows.runs, det)
		}
	}
	for det, run := range want {
		if _, ok := n.shadows.runs[det]; ok {
			continue
		}
		n.shadows.runs[det] = run
		run.ctx, run.cancel = context.WithCancel(context.Background())
		run.since, run.state = time.Now(), ShadowLoading
		spec := n.dets[det].spec
		n.shadows.wg.Add(1)
		go func() {
			defer n.shadows.wg.Done()
			n.runShadow(run, spec)
		}()
	}
	sinks := maps.Clone(n.shadows.runs)
	n.shadows.sinks.Store(&sinks)
}

// stopShadowLocked ends a run: its goroutine closes the shadow.
func (n *Node) stopShadowLocked(run *shadowRun) {
	run.cancel()
	run.mu.Lock()
	run.state = ShadowStopped
	run.mu.Unlock()
	n.log.Info().Str("detector", run.detector).Str("candidate", run.candidate).Msg("shadow: stopped")
}

// stopShadows ends every shadow and waits for them; none starts after.
func (n *Node) stopShadows() {
	n.shadows.mu.Lock()
	n.shadows.stopped = true
	for det, run := range n.shadows.runs {
		n.stopShadowLocked(run)
		delete(n.shadows.runs, det)
	}
	n.shadows.sinks.Store(nil)
	n.shadows.mu.Unlock()
	n.shadows.wg.Wait()
}

// runShadow loads the candidate, then reports every report_every until
// the run is stopped, and closes the shadow.
func (n *Node) runShadow(run *shadowRun, spec detectorSpec) {
	log := n.log.With().Str("detector", run.detector).Str("live", run.live).Str("candidate", run.candidate).Logger()
	sh, err := n.loadShadow(run, spec)
	if err != nil && run.ctx.Err() != nil {
		return // stopped while it loaded
	}
	if err != nil {
		run.mu.Lock()
		run.state, run.err = ShadowFailed, err.Error()
		run.mu.Unlock()
		log.Error().Err(err).Msg("shadow: the candidate cannot run; the live model goes on")
		n.publishShadow(run)
		return
	}
	if run.ctx.Err() != nil {
		sh.Close()
		return
	}
	run.mu.Lock()
	run.state = ShadowRunning
	run.mu.Unlock()
	run.sh.Store(sh)
	log.Info().Int("every", run.cfg.Every).Int("threads", run.cfg.Threads).Str("promote", run.cfg.Promote).Msg("shadow: the candidate runs beside the live model")
	n.publishShadow(run)
	t := time.NewTicker(run.cfg.ReportEvery.D())
	defer t.Stop()
	for {
		select {
		case <-run.ctx.Done():
			run.sh.Store(nil)
			sh.Close()
			n.publishShadow(run) // its last numbers, state stopped
			return
		case <-t.C:
			rep := n.publishShadow(run)
			if run.cfg.Promote == config.PromoteAuto && rep.Passes && !run.promoted {
				n.autoPromote(run, rep)
			}
		}
	}
}

// loadShadow fetches the candidate and loads it, and the live model once
// more for timing, both with the shadow's threads.
func (n *Node) loadShadow(run *shadowRun, spec detectorSpec) (*model.Shadow, error) {
	cfg := n.Config()
	store, err := n.modelStore(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(run.ctx, 5*time.Minute)
	defer cancel()
	path, v, err := store.Fetch(ctx, run.name, run.version, filepath.Join(cfg.DataDir, "model-cache"))
	if err != nil {
		return nil, err
	}
	o := DetectorOptions(spec.Model, n.log.With().Str("detector", run.detector).Str("shadow", v.Ref()).Logger())
	o.Confidence = min(o.Confidence, float32(spec.LowThreshold))
	o.IntraOpThreads, o.IntraOpSpinning, o.OptimizedModelCache = run.cfg.Threads, "off", ""
	cand, ref := o, o
	cand.Model = path
	return model.NewShadow(model.ShadowOptions{
		Candidate: cand, Reference: ref, Labels: run.labels,
		Confidence: float32(spec.Model.Confidence), MatchIoU: float32(run.cfg.MatchIoU),
		Every: run.cfg.Every, Nice: run.cfg.Nice,
		OnDisagree: func(camera string, at time.Time, img gocv.Mat, dets []detect.Detection, d model.Disagreement) {
			n.shadowExample(run, camera, at, img, dets, d)
		},
		Logger: n.log.With().Str("detector", run.detector).Logger(),
	})
}

// shadowExample hands a frame the two models disagree on to the hard
// examples, for a camera whose strategies want them.
func (n *Node) shadowExample(run *shadowRun, camera string, at time.Time, img gocv.Mat, dets []detect.Detection, d model.Disagreement) {
	ex := n.examples
	if ex == nil {
		return
	}
	v := ex.viewOf(n.Config())
	ce, ok := v.cameras[camera]
	if !ok {
		ce = cameraExamples{on: ex.global.Enabled, s: strategies(ex.global.Strategies)}
	}
	if !ce.on || !ce.s.Shadow {
		return
	}
	fr := examples.Frame{Camera: camera, Time: at, Width: img.Cols(), Height: img.Rows(), Threshold: v.thresholds[run.detector],
		Detections: make([]dataset.Box, len(dets))}
	for i, x := range dets {
		fr.Detections[i] = boxOf(x)
	}
	ex.capture.Take(&fr, img, []string{fmt.Sprintf("%s: %s against %s: %s", examples.ReasonShadow, run.candidate, run.live, d)})
}

func boxOf(d detect.Detection) dataset.Box {
	return dataset.Box{Class: d.Class, Label: d.Label, Score: float64(d.Score),
		X: float64(d.Box.X1), Y: float64(d.Box.Y1), W: float64(d.Box.W()), H: float64(d.Box.H())}
}

// report is the run's state now, with the verdict of its thresholds.
func (run *shadowRun) report(node string) ShadowReport {
	run.mu.Lock()
	rep := ShadowReport{Node: node, Detector: run.detector, Model: run.name, Live: run.live, Candidate: run.candidate,
		State: run.state, Error: run.err, Since: run.since, At: time.Now(), Every: run.cfg.Every, Threads: run.cfg.Threads,
		Promote: run.cfg.Promote}
	run.mu.Unlock()
	if sh := run.sh.Load(); sh != nil {
		var err error
		rep.Counts, rep.Comparison, err = sh.Report()
		if err != nil && rep.Error == "" {
			rep.Error = "last failure: " + err.Error()
		}
	}
	rep.Passes, rep.Verdict = verdict(rep, run.cfg)
	return rep
}

// verdict says whether a report passes the thresholds, and why or why not.
func verdict(rep ShadowReport, s config.Shadow) (bool, string) {
	c := rep.Comparison
	switch {
	case rep.State == ShadowFailed:
		return false, "failed: " + rep.Error
	case c == nil:
		return false, rep.State
	case c.Frames < s.MinFrames:
		return false, fmt.Sprintf("collecting: %d of %d frames checked", c.Frames, s.MinFrames)
	case c.Agreement < s.MinAgreement:
		return false, fmt.Sprintf("fails: agreement %.3f is below %.3f over %d frames", c.Agreement, s.MinAgreement, c.Frames)
	case s.MinSpeedRatio > 0 && c.TimedFrames == 0:
		return false, "collecting: no frame timed yet"
	case s.MinSpeedRatio > 0 && c.SpeedRatio < s.MinSpeedRatio:
		return false, fmt.Sprintf("fails: speed ratio %.2f (live %.1f ms, candidate %.1f ms) is below %.2f", c.SpeedRatio, c.RefMS, c.CandMS, s.MinSpeedRatio)
	}
	if s.MinSpeedRatio == 0 {
		return true, fmt.Sprintf("passes: agreement %.3f (at least %.3f) over %d frames; speed not checked", c.Agreement, s.MinAgreement, c.Frames)
	}
	return true, fmt.Sprintf("passes: agreement %.3f (at least %.3f) and speed ratio %.2f (at least %.2f) over %d frames",
		c.Agreement, s.MinAgreement, c.SpeedRatio, s.MinSpeedRatio, c.Frames)
}

// reportingNode names the node in its reports: its fleet name, or "" for
// a node on its own.
func reportingNode(cfg *config.Config) string {
	if !cfg.Fleet.Enabled {
		return ""
	}
	node, _ := cfg.Fleet.NodeName()
	return node
}

// ShadowSubject is where a store model's shadow reports are published.
func ShadowSubject(prefix, name string) string { return prefix + ".models." + name + ".shadow" }

// publishShadow publishes the run's report and returns it.
func (n *Node) publishShadow(run *shadowRun) ShadowReport {
	cfg := n.Config()
	rep := run.report(reportingNode(cfg))
	if b, err := json.Marshal(rep); err == nil {
		if err := n.nc.Publish(ShadowSubject(cfg.NATS.SubjectPrefix, run.name), b); err != nil {
			n.log.Debug().Err(err).Msg("shadow: report not published")
		}
	}
	return rep
}

// autoPromote promotes a candidate whose report passes.
func (n *Node) autoPromote(run *shadowRun, rep ShadowReport) {
	cfg := n.Config()
	store, err := n.modelStore(cfg)
	if err == nil {
		ctx, cancel := context.WithTimeout(run.ctx, 30*time.Second)
		err = store.Promote(ctx, run.name, run.version)
		cancel()
	}
	log := n.log.With().Str("detector", run.detector).Str("candidate", run.candidate).Logger()
	if err != nil {
		log.Error().Err(err).Msg("shadow: the candidate passes, but promoting it failed; trying again at the next report")
		return
	}
	run.promoted = true
	log.Info().Str("verdict", rep.Verdict).Msg("shadow: the candidate passes; promoted (promote: auto)")
}

// ShadowReports are the node's shadows now, by detector.
func (n *Node) ShadowReports() []ShadowReport {
	n.shadows.mu.Lock()
	runs := slices.SortedFunc(maps.Values(n.shadows.runs), func(a, b *shadowRun) int { return strings.Compare(a.detector, b.detector) })
	n.shadows.mu.Unlock()
	node := reportingNode(n.Config())
	out := make([]ShadowReport, 0, len(runs))
	for _, run := range runs {
		out = append(out, run.report(node))
	}
	return out
}

func (n *Node) serveShadows(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"shadows": n.ShadowReports()})
}
