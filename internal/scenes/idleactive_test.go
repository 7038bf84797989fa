package scenes

import (
	"slices"
	"testing"
)

// TestIdleActivePlan: a plan covers the frames asked for, starts still,
// alternates, is active the share asked for, is the same for the same
// seed, and differs for another.
func TestIdleActivePlan(t *testing.T) {
	plan := IdleActive(1, 1200, 0.15, 40, 795)
	total, active := 0, 0
	for i, s := range plan {
		if s.Active != (i%2 == 1) {
			t.Fatalf("segment %d: active %v; still and active stretches must take turns, starting still", i, s.Active)
		}
		if s.Frames <= 0 || s.From < 0 || s.From >= 795 {
			t.Fatalf("segment %d: %+v", i, s)
		}
		total += s.Frames
		if s.Active {
			active += s.Frames
		}
	}
	if total != 1200 {
		t.Fatalf("plan covers %d frames, want 1200", total)
	}
	if share := float64(active) / float64(total); share < 0.12 || share > 0.18 {
		t.Errorf("active %.3f of the time, want about 0.15", share)
	}
	if !slices.Equal(plan, IdleActive(1, 1200, 0.15, 40, 795)) {
		t.Error("two plans for the same seed differ")
	}
	if slices.Equal(plan, IdleActive(2, 1200, 0.15, 40, 795)) {
		t.Error("plans for seeds 1 and 2 are the same")
	}
}
