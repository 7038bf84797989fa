package rules

import (
	"math"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/track"
)

func pts(xy ...float64) []Point {
	out := make([]Point, 0, len(xy)/2)
	for i := 0; i+1 < len(xy); i += 2 {
		out = append(out, Point{xy[i], xy[i+1]})
	}
	return out
}

var square = pts(100, 100, 300, 100, 300, 300, 100, 300)

func TestContains(t *testing.T) {
	concave := pts(0, 0, 100, 0, 100, 100, 50, 40, 0, 100) // a V-shaped notch at the bottom
	cases := []struct {
		name string
		poly []Point
		p    Point
		want bool
	}{
		{"square centre", square, Point{200, 200}, true},
		{"square left", square, Point{50, 200}, false},
		{"square above", square, Point{200, 99}, false},
		{"square just inside corner", square, Point{101, 101}, true},
		{"concave body", concave, Point{50, 20}, true},
		{"concave notch", concave, Point{50, 80}, false},
		{"concave arm", concave, Point{10, 80}, true},
		{"triangle inside", pts(0, 0, 10, 0, 0, 10), Point{2, 2}, true},
		{"triangle outside hypotenuse", pts(0, 0, 10, 0, 0, 10), Point{6, 6}, false},
	}
	for _, tc := range cases {
		if got := Contains(tc.poly, tc.p); got != tc.want {
			t.Errorf("%s: Contains(%v) = %v", tc.name, tc.p, got)
		}
	}
}

func TestBoundaryDistance(t *testing.T) {
	cases := []struct {
		p    Point
		want float64
	}{
		{Point{200, 200}, 100},
		{Point{110, 200}, 10},
		{Point{90, 200}, 10},
		{Point{97, 96}, 5}, // outside the corner: 3-4-5
	}
	for _, tc := range cases {
		if got := BoundaryDistance(square, tc.p); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("BoundaryDistance(%v) = %g, want %g", tc.p, got, tc.want)
		}
	}
}

func TestCrossSide(t *testing.T) {
	a, b := Point{0, 100}, Point{200, 100} // drawn left to right
	if cross(a, b, Point{50, 150}) <= 0 {
		t.Error("below a left-to-right line must be side B (the right hand, y down)")
	}
	if cross(a, b, Point{50, 50}) >= 0 {
		t.Error("above a left-to-right line must be side A")
	}
	if cross(a, b, Point{50, 100}) != 0 {
		t.Error("on the line must be 0")
	}
}

func TestSegmentsIntersect(t *testing.T) {
	cases := []struct {
		name string
		s    []Point
		want bool
	}{
		{"X", pts(0, 0, 10, 10, 0, 10, 10, 0), true},
		{"parallel", pts(0, 0, 10, 0, 0, 1, 10, 1), false},
		{"T touch", pts(0, 0, 10, 0, 5, 0, 5, 5), true},
		{"collinear overlap", pts(0, 0, 10, 0, 5, 0, 15, 0), true},
		{"collinear apart", pts(0, 0, 10, 0, 11, 0, 15, 0), false},
		{"short of crossing", pts(0, 0, 10, 10, 0, 10, 4, 6.1), false},
	}
	for _, tc := range cases {
		if got := SegmentsIntersect(tc.s[0], tc.s[1], tc.s[2], tc.s[3]); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}

func TestCheckShape(t *testing.T) {
	cases := []struct {
		name       string
		kind       Kind
		points     []Point
		normalized bool
		want       string // "" = valid; else a substring of the error
	}{
		{"square", KindZone, square, false, ""},
		{"concave", KindZone, pts(0, 0, 100, 0, 100, 100, 50, 40, 0, 100), false, ""},
		{"bow tie", KindZone, pts(0, 0, 100, 100, 100, 0, 0, 100), false, "polygon self-intersects between edges 0 (points 0→1) and 2 (points 2→3); reorder the points"},
		{"bow tie, other edges", KindZone, pts(0, 0, 100, 0, 0, 100, 100, 100), false, "between edges 1 (points 1→2) and 3 (points 3→0)"},
		{"folds back", KindZone, pts(0, 0, 100, 0, 50, 0, 50, 50), false, "self-intersects between edges 0 (points 0→1) and 1 (points 1→2)"},
		{"two points", KindZone, pts(0, 0, 100, 0), false, "a zone needs at least 3 points, not 2"},
		{"repeated point", KindZone, pts(0, 0, 0, 0, 100, 0, 0, 100), false, "points 0 and 1 are the same"},
		{"collinear", KindZone, pts(0, 0, 50, 0, 100, 0), false, "self-intersects"},
		{"line", KindLine, pts(0, 0, 100, 0), false, ""},
		{"line of zero length", KindLine, pts(10, 20, 10, 20), false, "the line has zero length: both points are (10, 20); give two different points"},
		{"line of three points", KindLine, pts(0, 0, 1, 1, 2, 2), false, "a line has 2 points, not 3"},
		{"negative", KindLine, pts(-1, 0, 100, 0), false, "point 0 (-1, 0) is negative"},
		{"normalized outside", KindLine, pts(0, 0, 1.5, 1), true, "point 1 (1.5, 1) is outside [0,1]"},
		{"normalized", KindZone, pts(0, 0, 1, 0, 1, 1), true, ""},
		// Found by FuzzRuleShape: lines no track could cross.
		{"beyond any frame", KindLine, pts(0, 0, 1e300, 1e300), false, "point 1 (1e+300, 1e+300) is beyond 1000000 pixels"},
		{"shorter than a pixel", KindLine, pts(0, 0, 1e-300, 0), false, "the line is 1e-300 pixels long, shorter than a pixel; give two points at least 1 pixel apart"},
		{"normalized, shorter than a pixel", KindLine, pts(0.5, 0.5, 0.5, 0.50001), true, "shorter than a pixel; give two points at least 0.0001 apart"},
		{"one pixel", KindLine, pts(10, 10, 11, 10), false, ""},
	}
	for _, tc := range cases {
		err := CheckShape(tc.kind, tc.points, tc.normalized)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestAnchor(t *testing.T) {
	b := track.Box{X1: 10, Y1: 20, X2: 30, Y2: 60}
	cases := map[Anchor]Point{
		AnchorBottomCenter: {20, 60},
		AnchorCenter:       {20, 40},
		AnchorTopCenter:    {20, 20},
		"":                 {20, 60},
	}
	for a, want := range cases {
		if got := a.Of(b); got != want {
			t.Errorf("%q: %v, want %v", a, got, want)
		}
	}
}
