package pipeline

import (
	"sync"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/track"
)

// detRecorder keeps every frame's detections and tracks.
type detRecorder struct {
	mu     sync.Mutex
	dets   [][]detect.Detection
	tracks [][]track.Track
	tm     []Timings
}

func (r *detRecorder) Consume(res *Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dets = append(r.dets, res.Detections)
	r.tracks = append(r.tracks, res.Tracks)
	r.tm = append(r.tm, res.Timings)
}

// TestOverlapMatchesSerial: letterboxing the next frame and decoding the
// last one while the model runs must not change a single detection or
// track on a lossless file.
func TestOverlapMatchesSerial(t *testing.T) {
	results := map[bool]*detRecorder{}
	for _, serial := range []bool{true, false} {
		rec := &detRecorder{}
		cam := camera(t, capture.Config{ID: "walkway", URL: assets.Media("vtest.avi")})
		p, _, _ := run(t, Options{Cameras: []*capture.Camera{cam}, MaxFrames: 20, Serial: serial, Sinks: []Sink{rec}})
		if (p.groups[DefaultGroup].cur.staged != nil) == serial {
			t.Fatalf("serial %v: the pipeline overlapped %v", serial, p.groups[DefaultGroup].cur.staged != nil)
		}
		results[serial] = rec
	}
	s, o := results[true], results[false]
	if len(s.dets) != 20 || len(o.dets) != 20 {
		t.Fatalf("serial %d frames, overlapped %d; want 20 each", len(s.dets), len(o.dets))
	}
	for i := range s.dets {
		if len(s.dets[i]) != len(o.dets[i]) || len(s.dets[i]) == 0 {
			t.Fatalf("frame %d: %d detections serial, %d overlapped", i, len(s.dets[i]), len(o.dets[i]))
		}
		for j := range s.dets[i] {
			if s.dets[i][j] != o.dets[i][j] {
				t.Errorf("frame %d detection %d: %+v serial, %+v overlapped", i, j, s.dets[i][j], o.dets[i][j])
			}
		}
		if len(s.tracks[i]) != len(o.tracks[i]) {
			t.Errorf("frame %d: %d tracks serial, %d overlapped", i, len(s.tracks[i]), len(o.tracks[i]))
		}
		if tm := o.tm[i]; tm.Preprocess <= 0 || tm.Infer <= 0 || tm.Postprocess <= 0 || tm.Total < tm.Infer {
			t.Errorf("frame %d timings %+v", i, tm)
		}
	}
}

// failingDetector is a staged detector whose model fails on every other
// frame: the pipeline must drop and count those and carry on.
type failingDetector struct {
	*detect.Detector
	n int
}

func (f *failingDetector) Infer(s *detect.Slot) error {
	f.n++
	if f.n%2 == 0 {
		return errInjected
	}
	return f.Detector.Infer(s)
}

type injected struct{}

func (injected) Error() string { return "injected inference failure" }

var errInjected = injected{}

func TestOverlapDropsFailedFrames(t *testing.T) {
	d := &failingDetector{Detector: detector(t)}
	cam := camera(t, capture.Config{ID: "walkway", URL: assets.Media("vtest.avi")})
	rec := &recorder{}
	p, err := New(Options{Cameras: []*capture.Camera{cam}, Detector: d, Tracker: track.DefaultConfig(), Sinks: []Sink{rec}, MaxFrames: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	processed, dropped := p.CameraCounts("walkway")
	if processed != 5 || rec.results != 5 {
		t.Errorf("processed %d (sink %d), want 5 of 10 with every other inference failing", processed, rec.results)
	}
	if dropped < 5 {
		t.Errorf("dropped %d, want at least the 5 failed", dropped)
	}
}
