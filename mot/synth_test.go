package mot

import (
	"bytes"
	"slices"
	"testing"
)

func TestSynthIsDeterministic(t *testing.T) {
	a, b := Synth(42, SynthOptions{Frames: 100}), Synth(42, SynthOptions{Frames: 100})
	if !slices.Equal(a.GT, b.GT) || !slices.Equal(a.Det, b.Det) {
		t.Fatal("the same seed gave different sequences")
	}
	if c := Synth(43, SynthOptions{Frames: 100}); slices.Equal(a.Det, c.Det) {
		t.Fatal("different seeds gave the same detections")
	}
}

// TestSynthHasWhatTrackersStruggleWith checks that a default sequence has
// the situations it is meant to: occlusion, people coming and going,
// low-score detections, misses, clutter, and ignored ground truth.
func TestSynthHasWhatTrackersStruggleWith(t *testing.T) {
	s := Synth(1, SynthOptions{})
	ids, flag0, hidden, partly := map[int]bool{}, 0, 0, 0
	for _, g := range s.GT {
		ids[g.ID] = true
		switch {
		case g.Conf == 0:
			flag0++
		case g.Vis < 0.15:
			hidden++
		case g.Vis < 0.6:
			partly++
		}
	}
	low := 0
	for _, d := range s.Det {
		if d.Conf < 0.5 {
			low++
		}
	}
	perFrame := float64(len(s.GT)) / float64(s.Info.Length)
	checks := []struct {
		what string
		ok   bool
	}{
		{"about 20 people in view", perFrame > 15 && perFrame < 25},
		{"people enter and leave", len(ids) > 25},
		{"some hidden entirely", hidden > 20},
		{"many partly hidden", partly > 300},
		{"flag-0 distractors", flag0 == 2*s.Info.Length},
		{"low-score detections", low > len(s.Det)/20},
		{"fewer detections than people (misses)", len(s.Det) < len(s.GT)},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: GT %d rows, %d IDs, %d hidden, %d partly, %d flag 0; %d detections, %d low",
				c.what, len(s.GT), len(ids), hidden, partly, flag0, len(s.Det), low)
		}
	}

	// What it writes reads back as valid MOTChallenge files.
	var gt, det bytes.Buffer
	WriteGroundTruth(&gt, s.GT)
	Write(&det, s.Det)
	gtBack, err := Read(&gt, "gt", GroundTruth)
	if err != nil || len(gtBack) != len(s.GT) {
		t.Fatalf("ground truth read back: %d rows, %v", len(gtBack), err)
	}
	if _, err := Read(&det, "det", Detections); err != nil {
		t.Fatal(err)
	}
	if m := Evaluate(s.GT, gtBack).Metrics(); m.MOTA != 1 || m.IDF1 != 1 || m.HOTA != 1 {
		t.Fatalf("ground truth against itself: %+v", m)
	}
}
