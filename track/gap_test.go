package track

import (
	"testing"
	"time"
)

// walker is a 30×80 box moving right 8 px a frame: three frames apart it
// has moved 24 px, and plain IoU between its boxes is about 0.11.
func walker(frame int) Detection {
	x := 100 + 8*float64(frame)
	return Detection{Box: Box{X1: x, Y1: 200, X2: x + 30, Y2: 280}, Score: 0.8}
}

// A walker seen on every third frame of a 10 fps camera, the two between
// skipped (dropped before detection), keeps one ID and is confirmed on its
// second match: its matches span the three frames MinHits asks for, and the
// association widens the boxes across the skipped frames.
func TestSkippedFramesKeepTheTrack(t *testing.T) {
	at := func(f int) time.Time { return time.Unix(100, 0).Add(time.Duration(f) * 100 * time.Millisecond) }
	tr := New(DefaultConfig())
	var ids []uint64
	for i, f := range []int{0, 3, 6, 9, 12, 15} {
		got := tr.AppendUpdateAtSkipped(nil, []Detection{walker(f)}, at(f), min(i, 1)*2)
		if i == 0 {
			if len(got) != 0 {
				t.Fatalf("confirmed on its first sight: %+v", got)
			}
			continue
		}
		if len(got) != 1 {
			t.Fatalf("frame %d (match %d): %d tracks, want the walker's", f, i+1, len(got))
		}
		ids = append(ids, got[0].ID)
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("IDs %v: the walker changed ID across skipped frames", ids)
		}
	}

	// The same frames given without saying that frames were skipped: the
	// tracker takes them as consecutive, and plain IoU loses the walker.
	plain := New(DefaultConfig())
	confirmed := 0
	for _, f := range []int{0, 3, 6, 9, 12, 15} {
		confirmed += len(plain.UpdateAt([]Detection{walker(f)}, at(f)))
	}
	if confirmed != 0 {
		t.Errorf("without the skips: %d confirmed track frames; the test's walker should be too fast for plain IoU", confirmed)
	}
}

// On every frame, nothing changes: a track is confirmed on its third
// match, and the boxes are not widened.
func TestNoSkipNoWidening(t *testing.T) {
	tr := New(DefaultConfig())
	for f := range 6 {
		got := tr.AppendUpdateAtSkipped(nil, []Detection{walker(f)}, time.Unix(100, 0).Add(time.Duration(f)*100*time.Millisecond), 0)
		if (len(got) == 1) != (f >= 2) {
			t.Fatalf("frame %d: %d tracks; want the walker from the third frame on", f, len(got))
		}
		if b := tr.buffer(); b != 0 {
			t.Fatalf("frame %d: boxes widened by %g with no frame skipped", f, b)
		}
	}
}
