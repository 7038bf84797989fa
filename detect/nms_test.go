package detect

import (
	"math"
	"testing"
)

// TestGridNMSMatchesPlain checks the grid NMS against the textbook
// all-pairs version on crowds, mixed classes, degenerate and NaN boxes,
// agnostic or not, with a reused Suppressor.
func TestGridNMSMatchesPlain(t *testing.T) {
	odd := crowd(300, 20)
	odd = append(odd,
		Detection{Score: 0.9, Box: Box{100, 100, 90, 120}},                             // inverted
		Detection{Score: 0.8, Box: Box{50, 50, 50, 80}},                                // zero width
		Detection{Score: 0.7, Box: Box{float32(math.NaN()), 10, 20, 30}},               // NaN
		Detection{Score: 0.6, Box: Box{-1e6, -1e6, 1e6, 1e6}},                          // huge
		Detection{Score: 0.95, Class: 1, Box: Box{0, 0, 1, 1}},                         // tiny
		Detection{Score: 0.95, Class: 1, Box: Box{0, 0, 1, 1}},                         // its twin
		Detection{Score: 0.5, Class: 2, Box: Box{600, 600, float32(math.Inf(1)), 610}}, // infinite
	)
	cases := []struct {
		name     string
		dets     []Detection
		agnostic bool
	}{
		{"crowd", crowd(2000, 60), false},
		{"crowd agnostic", crowd(2000, 60), true},
		{"300 people", people(3000, 300), false},
		{"odd boxes", odd, false},
		{"odd boxes agnostic", odd, true},
		{"one", crowd(1, 1), false},
		{"none", nil, false},
	}
	var s Suppressor
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, iou := range []float32{0, 0.45, 0.9} {
				got := s.NMS(append([]Detection(nil), c.dets...), iou, c.agnostic, 0)
				want := allPairsNMS(append([]Detection(nil), c.dets...), iou, c.agnostic)
				if len(got) != len(want) {
					t.Fatalf("iou %v: grid kept %d, plain %d", iou, len(got), len(want))
				}
				for i := range got {
					if !same(got[i], want[i]) {
						t.Fatalf("iou %v: [%d] grid %+v plain %+v", iou, i, got[i], want[i])
					}
				}
			}
		})
	}
}

func same(a, b Detection) bool {
	eq := func(x, y float32) bool { return x == y || x != x && y != y }
	return a.Class == b.Class && a.Score == b.Score &&
		eq(a.Box.X1, b.Box.X1) && eq(a.Box.Y1, b.Box.Y1) && eq(a.Box.X2, b.Box.X2) && eq(a.Box.Y2, b.Box.Y2)
}

func allPairsNMS(d []Detection, iou float32, agnostic bool) []Detection {
	NMS(d, 2, true, 0) // sort only: IoU never exceeds 2
	removed := make([]bool, len(d))
	var out []Detection
	for i := range d {
		if removed[i] {
			continue
		}
		out = append(out, d[i])
		for j := i + 1; j < len(d); j++ {
			if (agnostic || d[j].Class == d[i].Class) && IoU(d[i].Box, d[j].Box) > iou {
				removed[j] = true
			}
		}
	}
	return out
}

func TestNMSKeepsAtMostMaxDet(t *testing.T) {
	var s Suppressor
	if got := s.NMS(people(3000, 300), 0.45, false, 100); len(got) != 100 {
		t.Fatalf("kept %d, want 100", len(got))
	}
}
