package rules

import (
	"math"
	"slices"

	"github.com/vigil-vision/vigil/track"
)

// Watch is where a camera's rules count: its lines and its zones' edges,
// with the classes each rule counts. An object near one of them is about
// to make an event, and whether the event is seen depends on frames close
// together around it: pipeline.Gate.Watch serves such a camera's frames
// before those of cameras where things move elsewhere. A Watch is not
// changed once made, and may be shared.
type Watch struct {
	edges []watchEdge
}

// watchEdge is one line, or one edge of a zone.
type watchEdge struct {
	a, b       Point
	normalized bool
	classes    []int // empty: all
}

// NewWatch is the Watch of rs (rules that passed Check); nil when rs has
// none.
func NewWatch(rs []Rule) *Watch {
	var w Watch
	for _, r := range rs {
		n := len(r.Points)
		if r.Kind == KindLine {
			n = min(n, 2) - 1 // a line's two ends are one edge
		}
		for i := range max(n, 0) {
			w.edges = append(w.edges, watchEdge{a: r.Points[i], b: r.Points[(i+1)%len(r.Points)],
				normalized: r.Normalized, classes: slices.Clone(r.Classes)})
		}
	}
	if len(w.edges) == 0 {
		return nil
	}
	return &w
}

// Near says whether box b of an object of class, in a frame of width ×
// height pixels, is near a line or zone edge of a rule that counts the
// class: the box grown by half its height on every side touches it. Half
// a height is about half a second of walking for a person, and holds
// whichever of the box's points (Anchor) the rule follows. A nil Watch has
// nothing near.
func (w *Watch) Near(b track.Box, class, width, height int) bool {
	if w == nil || !b.Valid() {
		return false
	}
	m := (b.Y2 - b.Y1) / 2
	g := track.Box{X1: b.X1 - m, Y1: b.Y1 - m, X2: b.X2 + m, Y2: b.Y2 + m}
	for _, e := range w.edges {
		if len(e.classes) > 0 && !slices.Contains(e.classes, class) {
			continue
		}
		a, c := e.a, e.b
		if e.normalized {
			a = Point{a.X * float64(width), a.Y * float64(height)}
			c = Point{c.X * float64(width), c.Y * float64(height)}
		}
		if segmentTouchesBox(a, c, g) {
			return true
		}
	}
	return false
}

// segmentTouchesBox says whether the segment a-b has a point in b
// (Liang–Barsky clipping: the segment's part inside each of the box's
// four half-planes must overlap).
func segmentTouchesBox(a, b Point, box track.Box) bool {
	dx, dy := b.X-a.X, b.Y-a.Y
	lo, hi := 0.0, 1.0
	for _, c := range [4][2]float64{
		{-dx, a.X - box.X1}, {dx, box.X2 - a.X},
		{-dy, a.Y - box.Y1}, {dy, box.Y2 - a.Y},
	} {
		p, q := c[0], c[1]
		switch {
		case p == 0:
			if q < 0 {
				return false // parallel to this side, and outside it
			}
		case p < 0:
			lo = math.Max(lo, q/p)
		default:
			hi = math.Min(hi, q/p)
		}
	}
	return lo <= hi
}
