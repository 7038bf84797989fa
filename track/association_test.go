package track

import (
	"math"
	"testing"
)

// TestScoreWeighsOverlap: in the first association a detection's score
// weighs its IoU with the prediction (ByteTrack's fuse_score), so a pair is
// allowed at IoU × score >= MatchThreshold (0.2).
func TestScoreWeighsOverlap(t *testing.T) {
	for _, c := range []struct {
		name  string
		shift float64 // px the 30-wide box moves in the frame tested
		score float64
		kept  bool
	}{
		// A 30-wide box moved 16 px: IoU 14/46 = 0.30.
		{"IoU 0.30, score 0.9: 0.27", 16, 0.9, true},
		{"IoU 0.30, score 0.6: 0.18", 16, 0.6, false},
		// Moved 6 px: IoU 24/36 = 0.67, enough at any high score.
		{"IoU 0.67, score 0.6: 0.40", 6, 0.6, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := New(DefaultConfig())
			var id uint64
			for k := 1; k <= 5; k++ {
				got := tr.Update([]Detection{at(100, 100, 30, 60, 0.9, person)})
				if len(got) == 1 {
					id = got[0].ID
				}
			}
			got := tr.Update([]Detection{at(100+c.shift, 100, 30, 60, c.score, person)})
			kept := len(got) == 1 && got[0].ID == id
			if kept != c.kept {
				t.Fatalf("got %+v; want the track (ID %d) kept: %v", got, id, c.kept)
			}
		})
	}
}

// TestScoreBreaksTies: of two detections overlapping a track's prediction
// alike, the surer one extends it.
func TestScoreBreaksTies(t *testing.T) {
	tr := New(DefaultConfig())
	for k := 1; k <= 5; k++ {
		tr.Update([]Detection{at(100, 100, 30, 60, 0.9, person)})
	}
	weak, sure := at(90, 100, 30, 60, 0.65, person), at(110, 100, 30, 60, 0.95, person)
	for _, dets := range [][]Detection{{weak, sure}, {sure, weak}} {
		tr := *tr
		tr.tracks = append([]strack(nil), tr.tracks...)
		got := tr.Update(dets)
		if len(got) != 1 || got[0].ID != 1 || got[0].Box != sure.Box {
			t.Fatalf("detections %v: got %+v, want track 1 on the 0.95 box", dets, got)
		}
	}
}

// TestTrackedBeforeLost: a track in view gets its detection before a lost
// track whose prediction overlaps it more (the matching cascade).
func TestTrackedBeforeLost(t *testing.T) {
	tr := New(DefaultConfig())
	a, b := at(85, 100, 30, 60, 0.9, person), at(115, 100, 30, 60, 0.9, person)
	for k := 1; k <= 5; k++ {
		tr.Update([]Detection{a, b})
	}
	tr.Update([]Detection{a}) // b is lost
	// x 88–118: IoU 0.25 with a, 0.43 with b's lost track.
	got := tr.Update([]Detection{at(103, 100, 30, 60, 0.9, person)})
	if len(got) != 1 || got[0].ID != 1 {
		t.Fatalf("got %+v, want track 1 (a, in view), not 2 (lost)", got)
	}
}

// TestConfidentDetectionsConfirmAndFind: a detection that could not start a
// track (below NewTrackThreshold, 0.6) cannot confirm one or find a lost
// one again either; it only extends a track being followed.
func TestConfidentDetectionsConfirmAndFind(t *testing.T) {
	box := func(score float64) []Detection { return []Detection{at(100, 100, 30, 60, score, person)} }
	t.Run("confirm", func(t *testing.T) {
		for _, c := range []struct {
			score float64
			want  int
		}{{0.55, 0}, {0.65, 1}} {
			tr := New(DefaultConfig()) // MinHits 3
			tr.Update(box(0.9))
			var got []Track
			for k := 2; k <= 4; k++ {
				got = tr.Update(box(c.score))
			}
			if len(got) != c.want {
				t.Fatalf("born at 0.9, then %v: got %+v, want %d tracks", c.score, got, c.want)
			}
		}
	})
	t.Run("find again", func(t *testing.T) {
		for _, c := range []struct {
			score float64
			found bool
		}{{0.55, false}, {0.65, true}} {
			tr := New(DefaultConfig())
			for k := 1; k <= 5; k++ {
				tr.Update(box(0.9))
			}
			tr.Update(nil)
			tr.Update(nil)
			got := tr.Update(box(c.score))
			if found := len(got) == 1 && got[0].ID == 1; found != c.found {
				t.Fatalf("lost, then %v: got %+v, want found %v", c.score, got, c.found)
			}
		}
	})
	t.Run("extend", func(t *testing.T) {
		tr := New(DefaultConfig())
		for k := 1; k <= 5; k++ {
			tr.Update(box(0.9))
		}
		if got := tr.Update(box(0.55)); len(got) != 1 || got[0].ID != 1 {
			t.Fatalf("tracked, then 0.55: got %+v, want track 1 extended", got)
		}
	})
}

// TestEstimateSmoothsJitter: Estimate, the filter's box, is nearer a still
// object than the jittering detections it is made from; Box is the
// detection itself.
func TestEstimateSmoothsJitter(t *testing.T) {
	truth := at(200, 150, 40, 100, 0.9, person).Box
	jitter := []float64{3, -4, 2, -1, 4, -3, 1, -2}
	tr := New(DefaultConfig())
	var errBox, errEst float64
	for k := 0; k < 80; k++ {
		j := jitter[k%len(jitter)]
		d := at(200+j, 150-j/2, 40+j/2, 100-j, 0.9, person)
		got := tr.Update([]Detection{d})
		if k < 20 {
			continue
		}
		if len(got) != 1 || got[0].Box != d.Box {
			t.Fatalf("frame %d: got %+v, want one track on the detection", k+1, got)
		}
		errBox += 1 - iou(got[0].Box, truth)
		errEst += 1 - iou(got[0].Estimate, truth)
	}
	if !(errEst < 0.75*errBox) || math.IsNaN(errEst) {
		t.Fatalf("mean 1−IoU with the object: estimate %.4f, detections %.4f; want the estimate clearly nearer", errEst/60, errBox/60)
	}
}
