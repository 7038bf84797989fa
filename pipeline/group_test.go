package pipeline

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/track"
)

// inModel counts the detectors inside Infer at once, over all groups.
type inModel struct{ now, most atomic.Int32 }

// countingDetector is a staged detector that records how many models run
// at the same time and may take longer than the model (a slower device).
type countingDetector struct {
	*detect.Detector
	in    *inModel
	extra time.Duration
	runs  atomic.Int32
}

func (c *countingDetector) Infer(s *detect.Slot) error {
	n := c.in.now.Add(1)
	defer c.in.now.Add(-1)
	for {
		most := c.in.most.Load()
		if n <= most || c.in.most.CompareAndSwap(most, n) {
			break
		}
	}
	c.runs.Add(1)
	time.Sleep(c.extra)
	return c.Detector.Infer(s)
}

// TestGroupsRunSideBySide: two detectors, each serving its own cameras,
// run at the same time; a slow one does not hold the other up; every
// result says which detector made it and carries that detector's labels.
func TestGroupsRunSideBySide(t *testing.T) {
	var in inModel
	gate := &countingDetector{Detector: detectorThreads(t, 1), in: &in}
	dock := &countingDetector{Detector: detectorThreads(t, 1), in: &in, extra: 300 * time.Millisecond}
	dockLabels := slices.Clone(dock.Labels())
	dockLabels[0] = "worker" // the docks' fine-tuned model calls class 0 otherwise
	cams := []*capture.Camera{
		camera(t, capture.Config{ID: "gate-1", URL: assets.Media("vtest.avi")}),
		camera(t, capture.Config{ID: "dock-1", URL: assets.Media("vtest.avi")}),
		camera(t, capture.Config{ID: "dock-2", URL: assets.Media("Megamind.avi")}),
	}
	rec := &groupRecorder{detector: map[string]string{}, label0: map[string]string{}, seqs: map[string][]uint64{}}
	reg := prometheus.NewRegistry()
	p, err := New(Options{
		Cameras: cams,
		Groups: []Group{
			{Name: "gates", Detector: gate, Labels: gate.Labels(), Cameras: []string{"gate-1"}},
			{Name: "docks", Detector: dock, Labels: dockLabels, Cameras: []string{"dock-1", "dock-2"}},
		},
		Tracker: track.DefaultConfig(), Sinks: []Sink{rec}, MaxFrames: 24, Registry: reg, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}

	if p.Processed() != 24 {
		t.Errorf("processed %d frames over both groups, want MaxFrames 24 exactly", p.Processed())
	}
	if in.most.Load() < 2 {
		t.Errorf("at most %d models ran at once; the groups' detectors must run side by side", in.most.Load())
	}
	for cam, want := range map[string]string{"gate-1": "gates", "dock-1": "docks", "dock-2": "docks"} {
		if got := rec.detector[cam]; got != want {
			t.Errorf("camera %s: results from detector %q, want %q", cam, got, want)
		}
		wantLabel := "person"
		if want == "docks" {
			wantLabel = "worker"
		}
		if got := rec.label0[cam]; got != wantLabel {
			t.Errorf("camera %s: labels[0] %q, want its detector's %q", cam, got, wantLabel)
		}
		for i, s := range rec.seqs[cam] {
			if s != uint64(i+1) {
				t.Fatalf("camera %s: result %d is seq %d; a lossless file lost or reordered frames", cam, i, s)
			}
		}
	}
	gateN, dockN := len(rec.seqs["gate-1"]), len(rec.seqs["dock-1"])+len(rec.seqs["dock-2"])
	if gateN <= dockN {
		t.Errorf("gate %d frames, docks %d: the docks' slow detector held the gate's back", gateN, dockN)
	}
	// Both dock cameras are served (how evenly is TestRoundRobinIsFair's
	// business: here one file may open later than the other).
	if len(rec.seqs["dock-1"]) == 0 || len(rec.seqs["dock-2"]) == 0 {
		t.Errorf("dock-1 %d frames, dock-2 %d: the docks' detector serves both", len(rec.seqs["dock-1"]), len(rec.seqs["dock-2"]))
	}
	if int(gate.runs.Load()) != gateN || int(dock.runs.Load()) != dockN {
		t.Errorf("gate model ran %d times for %d results, dock %d for %d", gate.runs.Load(), gateN, dock.runs.Load(), dockN)
	}
	if p.DetectorOf("dock-2") != "docks" || p.DetectorOf("gate-1") != "gates" || p.DetectorOf("nowhere") != "" {
		t.Errorf("DetectorOf: dock-2 %q, gate-1 %q, nowhere %q", p.DetectorOf("dock-2"), p.DetectorOf("gate-1"), p.DetectorOf("nowhere"))
	}
	stages := p.Stages()
	if _, ok := stages["detect/gates"]; !ok {
		t.Errorf("stages %v: want detect/gates and detect/docks", stages)
	}
	for name, want := range map[string]int{"gates": gateN, "docks": dockN} {
		if got := inferenceCount(t, reg, name); got != want {
			t.Errorf("vigil_detector_inference_seconds{detector=%q} counted %d inferences, want %d", name, got, want)
		}
	}
}

// inferenceCount is the sample count of a detector's inference histogram.
func inferenceCount(t *testing.T, reg *prometheus.Registry, detector string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vigil_detector_inference_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "detector" && l.GetValue() == detector {
					return int(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return -1
}

type groupRecorder struct {
	detector, label0 map[string]string
	seqs             map[string][]uint64
}

func (r *groupRecorder) Consume(res *Result) { // one goroutine: no lock needed
	cam := res.Frame.Camera
	r.detector[cam] = res.Detector
	r.label0[cam] = res.Labels[0]
	r.seqs[cam] = append(r.seqs[cam], res.Frame.Seq)
}

func TestGroupsRejected(t *testing.T) {
	d := &detect.Detector{}
	a := camera(t, capture.Config{ID: "a", URL: "testsrc"})
	b := camera(t, capture.Config{ID: "b", URL: "testsrc"})
	cams := []*capture.Camera{a, b}
	for name, o := range map[string]Options{
		"both":            {Cameras: cams, Detector: d, Groups: []Group{{Name: "x", Detector: d, Cameras: []string{"a", "b"}}}},
		"camera twice":    {Cameras: cams, Groups: []Group{{Name: "x", Detector: d, Cameras: []string{"a", "b"}}, {Name: "y", Detector: d, Cameras: []string{"b"}}}},
		"camera in none":  {Cameras: cams, Groups: []Group{{Name: "x", Detector: d, Cameras: []string{"a"}}}},
		"unknown camera":  {Cameras: cams, Groups: []Group{{Name: "x", Detector: d, Cameras: []string{"a", "b", "c"}}}},
		"no detector":     {Cameras: cams, Groups: []Group{{Name: "x", Cameras: []string{"a", "b"}}}},
		"empty group":     {Cameras: cams, Groups: []Group{{Name: "x", Detector: d, Cameras: []string{"a", "b"}}, {Name: "y", Detector: d}}},
		"duplicate group": {Cameras: cams, Groups: []Group{{Name: "x", Detector: d, Cameras: []string{"a"}}, {Name: "x", Detector: d, Cameras: []string{"b"}}}},
		"bad name":        {Cameras: cams, Groups: []Group{{Name: "x y", Detector: d, Cameras: []string{"a", "b"}}}},
	} {
		o.Tracker = track.DefaultConfig()
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "pipeline: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
