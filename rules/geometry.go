package rules

import (
	"math"

	"github.com/vigil-vision/vigil/track"
)

// Point is a position in frame pixels, or in [0,1] for normalized rules.
type Point struct{ X, Y float64 }

// Anchor is the point of a box that stands for the object: where a person's
// feet touch the floor (bottom_center) is what crosses a floor line.
type Anchor string

// Anchors.
const (
	AnchorBottomCenter Anchor = "bottom_center"
	AnchorCenter       Anchor = "center"
	AnchorTopCenter    Anchor = "top_center"
)

// Anchors lists the valid anchors, the default first.
var Anchors = []Anchor{AnchorBottomCenter, AnchorCenter, AnchorTopCenter}

// Of returns the anchor point of b.
func (a Anchor) Of(b track.Box) Point {
	x := (b.X1 + b.X2) / 2
	switch a {
	case AnchorCenter:
		return Point{x, (b.Y1 + b.Y2) / 2}
	case AnchorTopCenter:
		return Point{x, b.Y1}
	}
	return Point{x, b.Y2}
}

// cross is the z of (b-a)×(p-a): positive when p is on the right of a→b as
// seen on screen (y grows downwards), negative on the left.
func cross(a, b, p Point) float64 {
	return (b.X-a.X)*(p.Y-a.Y) - (b.Y-a.Y)*(p.X-a.X)
}

func dist(a, b Point) float64 { return math.Hypot(b.X-a.X, b.Y-a.Y) }

// segmentDistance is the distance from p to the segment a-b.
func segmentDistance(p, a, b Point) float64 {
	dx, dy := b.X-a.X, b.Y-a.Y
	l2 := dx*dx + dy*dy
	if l2 == 0 {
		return dist(p, a)
	}
	t := ((p.X-a.X)*dx + (p.Y-a.Y)*dy) / l2
	t = math.Max(0, math.Min(1, t))
	return dist(p, Point{a.X + t*dx, a.Y + t*dy})
}

// Contains reports whether p lies inside the polygon (even-odd rule; points
// on the boundary may go either way, which hysteresis makes irrelevant).
func Contains(poly []Point, p Point) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < (b.X-a.X)*(p.Y-a.Y)/(b.Y-a.Y)+a.X {
			in = !in
		}
	}
	return in
}

// BoundaryDistance is the distance from p to the nearest edge of the polygon.
func BoundaryDistance(poly []Point, p Point) float64 {
	d := math.Inf(1)
	for i := range poly {
		d = math.Min(d, segmentDistance(p, poly[i], poly[(i+1)%len(poly)]))
	}
	return d
}

// Area is the polygon's area (shoelace formula, always ≥ 0).
func Area(poly []Point) float64 {
	s := 0.0
	for i := range poly {
		a, b := poly[i], poly[(i+1)%len(poly)]
		s += a.X*b.Y - b.X*a.Y
	}
	return math.Abs(s) / 2
}

// orientation of c relative to a→b: -1, 0 (collinear within eps) or +1.
func orientation(a, b, c Point) int {
	v := cross(a, b, c)
	eps := 1e-9 * math.Max(1, dist(a, b)*dist(a, c))
	switch {
	case v > eps:
		return 1
	case v < -eps:
		return -1
	}
	return 0
}

// onSegment: c, collinear with a-b, lies within its bounding box.
func onSegment(a, b, c Point) bool {
	return math.Min(a.X, b.X) <= c.X && c.X <= math.Max(a.X, b.X) &&
		math.Min(a.Y, b.Y) <= c.Y && c.Y <= math.Max(a.Y, b.Y)
}

// SegmentsIntersect reports whether the closed segments p1-p2 and q1-q2
// share a point.
func SegmentsIntersect(p1, p2, q1, q2 Point) bool {
	o1, o2 := orientation(p1, p2, q1), orientation(p1, p2, q2)
	o3, o4 := orientation(q1, q2, p1), orientation(q1, q2, p2)
	if o1 != o2 && o3 != o4 {
		return true
	}
	return (o1 == 0 && onSegment(p1, p2, q1)) || (o2 == 0 && onSegment(p1, p2, q2)) ||
		(o3 == 0 && onSegment(q1, q2, p1)) || (o4 == 0 && onSegment(q1, q2, p2))
}

// SelfIntersection finds two edges of the polygon that cross or touch where
// they should not. Edge k runs from poly[k] to poly[k+1] (the last one back
// to poly[0]). Adjacent edges may only share their common corner: one that
// folds back over its neighbour counts as an intersection too.
func SelfIntersection(poly []Point) (i, j int, found bool) {
	n := len(poly)
	for i = 0; i < n; i++ {
		a1, a2 := poly[i], poly[(i+1)%n]
		for j = i + 1; j < n; j++ {
			b1, b2 := poly[j], poly[(j+1)%n]
			switch {
			case j == i+1: // a2 == b1
				if orientation(a1, a2, b2) == 0 && foldsBack(a1, a2, b2) {
					return i, j, true
				}
			case i == 0 && j == n-1: // b2 == a1
				if orientation(b1, b2, a2) == 0 && foldsBack(b1, b2, a2) {
					return i, j, true
				}
			default:
				if SegmentsIntersect(a1, a2, b1, b2) {
					return i, j, true
				}
			}
		}
	}
	return 0, 0, false
}

// foldsBack: with a, b, c collinear, the path a→b→c turns back on itself.
func foldsBack(a, b, c Point) bool {
	return (b.X-a.X)*(c.X-b.X)+(b.Y-a.Y)*(c.Y-b.Y) < 0
}
