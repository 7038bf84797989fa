package pipeline

import (
	"sync"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/sched"
	"github.com/vigil-vision/vigil/track"
	"gocv.io/x/gocv"
)

// niceSeen records the nice values that each part of the pipeline ran at.
type niceSeen struct {
	mu   sync.Mutex
	seen map[string]map[int]bool
}

func (n *niceSeen) record(part string) {
	v, err := sched.Nice()
	if err != nil {
		panic(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen == nil {
		n.seen = map[string]map[int]bool{}
	}
	if n.seen[part] == nil {
		n.seen[part] = map[int]bool{}
	}
	n.seen[part][v] = true
}

type niceDetector struct {
	*detect.Detector
	n *niceSeen
}

func (d niceDetector) Prepare(s *detect.Slot, img gocv.Mat) error {
	d.n.record("letterbox")
	return d.Detector.Prepare(s, img)
}

func (d niceDetector) Infer(s *detect.Slot) error {
	d.n.record("model")
	return d.Detector.Infer(s)
}

type niceTap struct{ n *niceSeen }

func (t niceTap) Frame(*capture.Frame) { t.n.record("capture") }

// TestWorkerNice: with WorkerNice, capture, letterbox and the post stage
// run at the lower priority, and the model at the process's own.
func TestWorkerNice(t *testing.T) {
	base, err := sched.Nice()
	if err != nil {
		t.Fatal(err)
	}
	n := &niceSeen{}
	cam := camera(t, capture.Config{ID: "walkway", URL: assets.Media("vtest.avi")})
	d := niceDetector{Detector: detector(t), n: n}
	p, err := New(Options{
		Cameras: []*capture.Camera{cam}, Detector: d, Tracker: track.DefaultConfig(),
		Sinks: []Sink{SinkFunc(func(*Result) { n.record("post") })}, Taps: []Tap{niceTap{n}},
		MaxFrames: 6, WorkerNice: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"capture": base + 7, "letterbox": base + 7, "post": base + 7, "model": base}
	for part, nice := range want {
		got := n.seen[part]
		if len(got) != 1 || !got[nice] {
			t.Errorf("%s ran at nice %v, want only %d", part, keysOf(got), nice)
		}
	}
}

func keysOf(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	return out
}
