package pipeline

import (
	"testing"
	"time"

	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/track"
)

// TestTrackingActivityAndHold: a box standing still is a track that does
// not move; held frames keep it without moving the tracker's clock; when a
// detected frame misses it, the camera is active (look again) for the
// next lookAgain updates, and then not.
func TestTrackingActivityAndHold(t *testing.T) {
	tr := NewTracking(track.DefaultConfig())
	box := detect.Detection{Box: detect.Box{X1: 100, Y1: 100, X2: 140, Y2: 200}, Score: 0.9}
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	var got []track.Track
	for i := range 10 {
		got = tr.UpdateAt("c", []detect.Detection{box}, at(float64(i)/10))
	}
	if n, active := tr.Activity("c", 0.1); len(got) != 1 || n != 1 || active != 0 {
		t.Fatalf("a box standing still: %d tracks reported, Activity %d tracks %d active; want 1, 1, 0", len(got), n, active)
	}
	id := got[0].ID
	for i := range 50 { // 5 s held
		if h := tr.Hold("c", at(1+float64(i)/10)); len(h) != 1 || h[0].ID != id {
			t.Fatalf("held frame %d: %v", i, h)
		}
	}
	got = tr.UpdateAt("c", nil, at(6)) // a recheck that misses it
	if n, active := tr.Activity("c", 0.1); len(got) != 0 || n != 0 || active != 1 {
		t.Fatalf("missed once: %d reported, Activity %d tracks %d active; want 0, 0, 1 (look again)", len(got), n, active)
	}
	if l := tr.Looking(nil, "c", 0.1); len(l) != 1 || l[0].X1 < 95 || l[0].X1 > 105 {
		t.Fatalf("looking for %v; want the lost box near x 100", l)
	}
	got = tr.UpdateAt("c", []detect.Detection{box}, at(6.1))
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("found again 0.1 s later: %v, want track %d (the 5 s held did not count against it)", got, id)
	}
	if _, active := tr.Activity("c", 0.1); active != 0 {
		t.Fatalf("found again: %d active", active)
	}
	for i := range lookAgain + 1 {
		tr.UpdateAt("c", nil, at(6.2+float64(i)/10))
		_, active := tr.Activity("c", 0.1)
		if want := b2i(i < lookAgain); active != want || len(tr.Looking(nil, "c", 0.1)) != want {
			t.Fatalf("update %d after it went: %d active, looking at %v, want %d (look again %d times)", i, active, tr.Looking(nil, "c", 0.1), want, lookAgain)
		}
	}

	// A track that was moving when it went gets no look again: motion
	// shows it if it still moves in view.
	walker := NewTracking(track.DefaultConfig())
	for i := range 10 {
		b := box
		b.Box.X1 += float32(10 * i)
		b.Box.X2 += float32(10 * i)
		walker.UpdateAt("c", []detect.Detection{b}, at(float64(i)/10))
	}
	if _, active := walker.Activity("c", 0.1); active != 1 {
		t.Fatalf("a box walking 1 box height a second: %d active, want 1", active)
	}
	walker.UpdateAt("c", nil, at(1))
	if n, active := walker.Activity("c", 0.1); n != 0 || active != 0 {
		t.Fatalf("the walking box gone: Activity %d tracks %d active, want 0, 0", n, active)
	}

	// Lost, then held: held time ages the lost track as updates would. A
	// track lost 0.5 s (buffer 1 s) is found again; one lost 1.5 s is not
	// (the box there starts a new track).
	for _, c := range []struct {
		held  float64
		again bool
	}{{0.5, true}, {1.5, false}} {
		tr := NewTracking(track.DefaultConfig())
		var id uint64
		for i := range 10 {
			if got := tr.UpdateAt("c", []detect.Detection{box}, at(float64(i)/10)); len(got) == 1 {
				id = got[0].ID
			}
		}
		tr.UpdateAt("c", nil, at(1))
		for s := 1.1; s <= 1+c.held+0.01; s += 0.1 {
			tr.Hold("c", at(s))
		}
		got := tr.UpdateAt("c", []detect.Detection{box}, at(1.1+c.held))
		if found := len(got) == 1 && got[0].ID == id; found != c.again {
			t.Errorf("lost, then %.1f s held: reported %v; found again %v, want %v", c.held, got, found, c.again)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestTrackingCountsSkippedFrames: frames a camera read but neither
// detected nor held (dropped while the detector was busy) are skipped for
// the tracker, which follows a fast walker across them; held frames are
// not (nothing moved in them).
func TestTrackingCountsSkippedFrames(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(seq int) time.Time { return t0.Add(time.Duration(seq) * 100 * time.Millisecond) }
	// 30×80, 8 px a frame to the right: three frames apart, IoU about 0.11.
	walker := func(seq int) []detect.Detection {
		x := float32(100 + 8*seq)
		return []detect.Detection{{Box: detect.Box{X1: x, Y1: 200, X2: x + 30, Y2: 280}, Score: 0.8}}
	}
	ids := func(tr *Tracking, hold bool) map[uint64]bool {
		seen := map[uint64]bool{}
		for seq := 1; seq <= 16; seq += 3 {
			for _, x := range tr.UpdateFrame("c", walker(seq), at(seq), uint64(seq)) {
				seen[x.ID] = true
			}
			if hold {
				tr.Hold("c", at(seq+1))
				tr.Hold("c", at(seq+2))
			}
		}
		return seen
	}
	if got := ids(NewTracking(track.DefaultConfig()), false); len(got) != 1 {
		t.Errorf("a walker on every third frame, two dropped between: %d IDs, want one", len(got))
	}
	// Held between instead: the tracker takes the frames as following each
	// other with nothing moving, and a box that jumped 24 px is not the
	// same track.
	if got := ids(NewTracking(track.DefaultConfig()), true); len(got) > 0 {
		t.Errorf("frames held between: %d IDs; want none confirmed, held frames are not skipped ones", len(got))
	}
}
