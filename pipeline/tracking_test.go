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
// tracker's buffer time, and then not.
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
	got = tr.UpdateAt("c", []detect.Detection{box}, at(6.1))
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("found again 0.1 s later: %v, want track %d (the 5 s held did not count against it)", got, id)
	}
	if _, active := tr.Activity("c", 0.1); active != 0 {
		t.Fatalf("found again: %d active", active)
	}
	tr.UpdateAt("c", nil, at(6.2))
	for s := 6.3; s < 8; s += 0.1 {
		tr.UpdateAt("c", nil, at(s))
	}
	if _, active := tr.Activity("c", 0.1); active != 0 {
		t.Fatalf("gone for 1.8 s (buffer 1 s): still %d active", active)
	}
}
