package track

import (
	"math"
	"testing"
)

// TestVelocity feeds objects moving at constant speed and checks that the
// reported velocity converges to that speed, and that Predict extrapolates
// the matched box with it.
func TestVelocity(t *testing.T) {
	cases := []struct {
		name           string
		vx, vy, growth float64 // px per frame: centre, and height
	}{
		{"still", 0, 0, 0},
		{"right", 6, 0, 0},
		{"down-left", -3, 4, 0},
		{"approaching", 2, 1, 0.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(DefaultConfig())
			var last Track
			for k := 0; k < 40; k++ {
				h := 80 + tc.growth*float64(k)
				d := at(200+tc.vx*float64(k), 150+tc.vy*float64(k), h/2, h, 0.9, person)
				got := tr.Update([]Detection{d})
				if k >= 2 && len(got) != 1 {
					t.Fatalf("frame %d: %d tracks, want 1", k, len(got))
				}
				if len(got) == 1 {
					last = got[0]
				}
			}
			v := last.Velocity
			if math.Abs(v.CX-tc.vx) > 0.3 || math.Abs(v.CY-tc.vy) > 0.3 || math.Abs(v.H-tc.growth) > 0.3 {
				t.Errorf("velocity %+v, want about cx=%v cy=%v h=%v", v, tc.vx, tc.vy, tc.growth)
			}
			if got := last.Predict(0); got != last.Box {
				t.Errorf("Predict(0) = %+v, want the matched box %+v", got, last.Box)
			}
			// 2.5 frames ahead, the object (moving exactly) is here:
			k := 39 + 2.5
			h := 80 + tc.growth*k
			want := at(200+tc.vx*k, 150+tc.vy*k, h/2, h, 0, 0).Box
			got := last.Predict(2.5)
			if iou(got, want) < 0.9 {
				t.Errorf("Predict(2.5) = %+v, want about %+v (IoU %.2f)", got, want, iou(got, want))
			}
		})
	}
}

func TestPredictKeepsBoxesValid(t *testing.T) {
	tr := Track{Box: Box{100, 100, 120, 140}, Velocity: Velocity{CX: 1, H: -5, Aspect: -0.2}}
	for _, frames := range []float64{-3, 1, 10, 1000} {
		b := tr.Predict(frames)
		if !(b.X2-b.X1 >= minSide && b.Y2-b.Y1 >= minSide) {
			t.Errorf("Predict(%v) = %+v: not a box", frames, b)
		}
	}
	degenerate := Track{Box: Box{5, 5, 5, 9}, Velocity: Velocity{CX: 3}}
	if got := degenerate.Predict(2); got != degenerate.Box {
		t.Errorf("a box without area moved: %+v", got)
	}
}
