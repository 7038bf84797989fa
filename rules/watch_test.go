package rules

import (
	"testing"

	"github.com/vigil-vision/vigil/track"
)

func TestWatchNear(t *testing.T) {
	// box is a 20×40 object whose feet are at (x, y): half its height is
	// 20 px.
	box := func(x, y float64) track.Box { return track.Box{X1: x - 10, Y1: y - 40, X2: x + 10, Y2: y} }
	persons := door(func(r *Rule) { r.Classes = []int{0} })
	diagonal := Rule{Name: "diag", Kind: KindLine, Normalized: true, Points: pts(0, 0, 1, 1)} // (0,0)–(640,480)
	cases := []struct {
		name  string
		rules []Rule
		box   track.Box
		class int
		near  bool
	}{
		{"feet on the line", []Rule{door()}, box(100, 100), 0, true},
		{"head just over the line", []Rule{door()}, box(100, 139), 0, true},
		{"feet half a height short of it", []Rule{door()}, box(100, 85), 0, true},
		{"well short of it", []Rule{door()}, box(100, 50), 0, false},
		{"well past it", []Rule{door()}, box(100, 170), 0, false},
		{"beside its end", []Rule{door()}, box(240, 100), 0, false},
		{"within half a height of its end", []Rule{door()}, box(225, 100), 0, true},
		{"a class the rule does not count", []Rule{persons}, box(100, 100), 2, false},
		{"a class it counts", []Rule{persons}, box(100, 100), 0, true},
		{"deep inside a zone", []Rule{cell()}, box(200, 230), 0, false},
		{"on a zone's right edge", []Rule{cell()}, box(300, 230), 0, true},
		{"normalized, on the diagonal", []Rule{diagonal}, box(320, 260), 0, true},
		{"normalized, far from it", []Rule{diagonal}, box(500, 100), 0, false},
		{"the second rule", []Rule{cell(), door()}, box(100, 100), 0, true},
		{"an invalid box", []Rule{door()}, track.Box{}, 0, false},
	}
	for _, c := range cases {
		if got := NewWatch(c.rules).Near(c.box, c.class, 640, 480); got != c.near {
			t.Errorf("%s: Near(%v) = %v, want %v", c.name, c.box, got, c.near)
		}
	}
	if w := NewWatch(nil); w != nil || w.Near(box(100, 100), 0, 640, 480) {
		t.Errorf("no rules: Watch %v, near something", w)
	}
}
