package track

import "testing"

// crowd is a frame of n still objects of class, 100 px apart on a row, that
// the detector scores alternately sure and surer: the detector's usual.
func crowd(n int, sure, surer float64, class int) []Detection {
	dets := make([]Detection, n)
	for i := range dets {
		s := sure
		if i%2 == 1 {
			s = surer
		}
		dets[i] = at(100+100*float64(i), 100, 30, 60, s, class)
	}
	return dets
}

// TestReportsTracksThatScoreLikeTheDetector: a track whose detections the
// detector scores far below its usual for that class is followed but not
// reported, whatever the absolute scores; a small difference, another
// class's scores or too few samples to know the usual do not hide one.
func TestReportsTracksThatScoreLikeTheDetector(t *testing.T) {
	for _, c := range []struct {
		name    string
		usual   []Detection // every frame
		odd     Detection   // the object in question, every frame
		reports bool        // from frame 20 on
	}{
		{"far below, sure detector", crowd(6, 0.9, 0.99, person), at(100, 300, 30, 60, 0.62, person), false},
		{"far below, timid detector", crowd(6, 0.6, 0.7, person), at(100, 300, 30, 60, 0.35, person), false},
		{"usual for a timid detector", crowd(6, 0.6, 0.7, person), at(100, 300, 30, 60, 0.62, person), true},
		{"among the usual", crowd(6, 0.9, 0.99, person), at(100, 300, 30, 60, 0.9, person), true},
		// A detector that always says the same: a hair below is no outlier.
		{"steady detector", crowd(6, 0.9, 0.9, person), at(100, 300, 30, 60, 0.85, person), true},
		{"other class scored higher", crowd(6, 0.9, 0.99, car), at(100, 300, 30, 60, 0.62, person), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.HighThreshold, cfg.NewTrackThreshold, cfg.LowThreshold = 0.1, 0.1, 0.05
			tr := New(cfg)
			frame := append(append([]Detection(nil), c.usual...), c.odd)
			for k := 1; k <= 30; k++ {
				got := tr.Update(frame)
				_, reported := byBox(got, c.odd.Box)
				// Confirmed in frame 3, when there are no samples yet: reported.
				if k == 3 && !reported {
					t.Fatalf("frame 3, before the detector's scores are known: %+v, want the object reported", got)
				}
				if k >= 20 && reported != c.reports {
					t.Fatalf("frame %d: reported %v, want %v (%+v)", k, reported, c.reports, got)
				}
				if k >= 20 && len(got) < len(c.usual) {
					t.Fatalf("frame %d: %d tracks reported, want the %d usual ones at least", k, len(got), len(c.usual))
				}
			}
		})
	}
}

// TestUnreportedTracksTakeNoID: IDs come with a track's first report, so a
// track never reported leaves no gap.
func TestUnreportedTracksTakeNoID(t *testing.T) {
	tr := New(DefaultConfig())
	usual := crowd(6, 0.9, 0.99, person)
	for k := 1; k <= 20; k++ {
		tr.Update(usual)
	}
	odd := at(100, 300, 30, 60, 0.62, person)
	for k := 1; k <= 5; k++ {
		if _, ok := byBox(tr.Update(append(usual[:6:6], odd)), odd.Box); ok {
			t.Fatalf("a track scored far below the usual was reported")
		}
	}
	newcomer := at(100, 500, 30, 60, 0.95, person)
	var got []Track
	for k := 1; k <= 3; k++ {
		got = tr.Update(append(usual[:6:6], odd, newcomer))
	}
	if n, ok := byBox(got, newcomer.Box); !ok || n.ID != 7 {
		t.Fatalf("newcomer: %+v, want ID 7 after the 6 usual objects", got)
	}
}

// TestDoubtedTrackYieldsToBelievedOne: a track that scores too low to be
// reported gets a detection only if no reported track wants it, and is not
// kept once lost.
func TestDoubtedTrackYieldsToBelievedOne(t *testing.T) {
	tr := New(DefaultConfig())
	usual := crowd(6, 0.9, 0.99, person)
	a := at(700, 100, 30, 60, 0.95, person) // believed
	d := at(720, 100, 30, 60, 0.62, person) // doubted, overlapping it
	for k := 1; k <= 20; k++ {
		tr.Update(append(usual[:6:6], a, d))
	}
	// One detection between them, nearer the doubted track's box:
	// IoU × score 0.41 with a's track, 0.55 with d's.
	between := at(712, 100, 30, 60, 0.95, person)
	got := tr.Update(append(usual[:6:6], between))
	if _, ok := byBox(got, between.Box); !ok {
		t.Fatalf("the detection between them went to the doubted track: %+v", got)
	}
	// The doubted track missed that frame, so it was dropped: d's next
	// detections start a new track rather than find it.
	back := at(720, 100, 30, 60, 0.99, person)
	for k := 1; k <= 2; k++ {
		tr.Update(append(usual[:6:6], a, back))
	}
	for _, s := range tr.tracks {
		if s.box == back.Box && (s.state != stateUnconfirmed || s.hits != 2) {
			t.Fatalf("d's detections went to a track of %d matches (state %d), want a new one of 2", s.hits, s.state)
		}
	}
}
