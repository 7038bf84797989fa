package pipeline

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vigil-vision/vigil/capture"
)

// seqTap records the frames it sees, per camera.
type seqTap struct {
	mu   sync.Mutex
	seqs map[string][]uint64
}

func (s *seqTap) Frame(f *capture.Frame) {
	if f.Image.Empty() {
		panic("tap got a closed image")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seqs == nil {
		s.seqs = map[string][]uint64{}
	}
	s.seqs[f.Camera] = append(s.seqs[f.Camera], f.Seq)
}

// TestTapSeesEveryCapturedFrame: a live source faster than the detector
// drops frames at the hand-off, but the tap sees each one, in order.
func TestTapSeesEveryCapturedFrame(t *testing.T) {
	cam := camera(t, capture.Config{ID: "live", URL: "testsrc", FPS: 50, Width: 320, Height: 240})
	tap := &seqTap{}
	p, rec, _ := run(t, Options{Cameras: []*capture.Camera{cam}, MaxFrames: 6, Taps: []Tap{tap}})
	seen := tap.seqs["live"]
	for i, s := range seen {
		if s != uint64(i+1) {
			t.Fatalf("tap frame %d is seq %d; want every frame in order", i, s)
		}
	}
	captured := testutil.ToFloat64(p.m.captured.WithLabelValues("live"))
	if float64(len(seen)) != captured {
		t.Errorf("tap saw %d frames, camera captured %v", len(seen), captured)
	}
	if len(seen) <= len(rec.seqs["live"]) {
		t.Errorf("tap saw %d frames, detector took %d; a 50 fps source outruns the detector", len(seen), len(rec.seqs["live"]))
	}
}
