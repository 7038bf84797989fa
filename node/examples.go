package node

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/dataset"
	"github.com/vigil-vision/vigil/examples"
	"github.com/vigil-vision/vigil/pipeline"
)

// examplesState is the node's hard-example capture: nil without one.
type examplesState struct {
	capture *examples.Capture
	global  config.Examples              // examples: as the node started (config.RestartNeeded)
	view    atomic.Pointer[examplesView] // what the running config says, per camera
}

// examplesView is a config's examples settings, resolved per camera and
// per detector, so that the sink looks them up without scanning.
type examplesView struct {
	cfg        *config.Config
	cameras    map[string]cameraExamples
	thresholds map[string]func(class int, label string) float64 // by detector
}

type cameraExamples struct {
	on bool
	s  examples.Strategies
}

// startExamples opens the store (the folder, or the NATS bucket a fleet
// shares) and starts the capture; the sink is observeExamples.
func (n *Node) startExamples(cfg *config.Config) error {
	e := cfg.Examples
	var store examples.Store
	if e.Store.Dir != "" {
		store = &examples.Folder{Dir: e.Store.Dir, MaxBytes: int64(e.Store.MaxBytes), MaxAge: e.Store.MaxAge.D()}
	} else {
		js, err := jetstream.New(n.nc)
		if err != nil {
			return fmt.Errorf("examples: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		replicas := e.Store.Replicas
		if cfg.Fleet.Enabled {
			replicas = max(replicas, fleetReplicas(cfg))
		}
		s, err := examples.OpenNATS(ctx, js, examples.NATSOptions{Replicas: replicas, MaxBytes: int64(e.Store.MaxBytes), MaxAge: e.Store.MaxAge.D()})
		if err != nil {
			return err
		}
		store = s
	}
	node, _ := cfg.Fleet.NodeName() // "": a random one
	c := &examples.Capture{
		Store: store, Quality: e.JPEGQuality, Node: node, Registerer: n.reg,
		Logger: n.log.With().Str("stage", "examples").Logger(),
		Sampler: &examples.Sampler{
			Limits:      examples.Limits{PerMinute: e.Limits.PerMinute, PerHour: e.Limits.PerHour, PerDay: e.Limits.PerDay},
			MaxDistance: 4,
		},
	}
	if err := c.Initialize(); err != nil {
		return err
	}
	n.examples = &examplesState{capture: c, global: e}
	return nil
}

func (n *Node) stopExamples() {
	if n.examples != nil {
		n.examples.capture.Close()
	}
}

// observeExamples offers every processed frame to the capture, in the
// pipeline's sink goroutine: it decides without the picture and clones
// it only for a frame it takes.
func (n *Node) observeExamples(r *pipeline.Result) {
	if r.Skipped {
		return // the detector did not run on it (motion gating): nothing to learn from
	}
	v := n.examples.viewOf(n.Config())
	f := r.Frame
	ce, ok := v.cameras[f.Camera]
	if !ok { // a camera the config does not list
		ce = cameraExamples{on: n.examples.global.Enabled, s: strategies(n.examples.global.Strategies)}
	}
	if !ce.on {
		return
	}
	fr := examples.Frame{Camera: f.Camera, Time: f.Time, Width: f.Image.Cols(), Height: f.Image.Rows(), Threshold: v.thresholds[r.Detector],
		Detections: make([]dataset.Box, len(r.Detections)), Tracks: make([]examples.Track, len(r.Tracks))}
	for i, d := range r.Detections {
		fr.Detections[i] = dataset.Box{Class: d.Class, Label: d.Label, Score: float64(d.Score),
			X: float64(d.Box.X1), Y: float64(d.Box.Y1), W: float64(d.Box.W()), H: float64(d.Box.H())}
	}
	for i, t := range r.Tracks {
		b := dataset.Box{Class: t.Class, Score: t.Score, X: t.Box.X1, Y: t.Box.Y1, W: t.Box.X2 - t.Box.X1, H: t.Box.Y2 - t.Box.Y1}
		if t.Class >= 0 && t.Class < len(r.Labels) {
			b.Label = r.Labels[t.Class]
		}
		fr.Tracks[i] = examples.Track{ID: t.ID, Box: b}
	}
	n.examples.capture.Offer(ce.s, &fr, f.Image)
}

// viewOf resolves cfg once per config change.
func (st *examplesState) viewOf(cfg *config.Config) *examplesView {
	old := st.view.Load()
	if old != nil && old.cfg == cfg {
		return old
	}
	v := &examplesView{cfg: cfg, cameras: map[string]cameraExamples{}, thresholds: map[string]func(int, string) float64{}}
	started := *cfg
	started.Examples = st.global
	for _, cam := range cfg.Cameras {
		on, s := started.ExamplesFor(cam)
		v.cameras[cam.ID] = cameraExamples{on: on, s: strategies(s)}
	}
	v.thresholds[config.DefaultDetector] = threshold(cfg.Model)
	for _, d := range cfg.Detectors {
		v.thresholds[d.Name] = threshold(d.Model)
	}
	if old != nil {
		for id := range old.cameras {
			if _, ok := v.cameras[id]; !ok {
				st.capture.Sampler.Forget(id) // its tracks and limits; a camera added again starts afresh
			}
		}
	}
	st.view.Store(v)
	return v
}

func strategies(s config.ExampleStrategies) examples.Strategies {
	return examples.Strategies{
		CloseToThreshold: s.CloseToThreshold.Epsilon, Random: s.Random.Fraction, Classes: s.Classes,
		CountMin: s.Count.Min, CountMax: s.Count.Max, TrackerMissed: s.Tracker.Missed, TrackerUnmatched: s.Tracker.Unmatched,
		Shadow: s.Shadow,
	}
}

// threshold is a model's confidence threshold per class: class_confidence
// by label, then by class id, else confidence (as package detect has it).
func threshold(m config.Model) func(int, string) float64 {
	return func(class int, label string) float64 {
		if v, ok := m.ClassConfidence[label]; ok && label != "" {
			return v
		}
		if v, ok := m.ClassConfidence[strconv.Itoa(class)]; ok {
			return v
		}
		return m.Confidence
	}
}
