package rules

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/internal/fuzztest"
	"github.com/vigil-vision/vigil/track"
)

// fuzzPoints reads pairs of int16 from b, times scale: plausible pixel
// polygons, and with an odd scale (huge, tiny, NaN) the edges of float64.
func fuzzPoints(b []byte, scale float64) []Point {
	var out []Point
	for ; len(b) >= 4 && len(out) < 64; b = b[4:] {
		x, y := int16(binary.LittleEndian.Uint16(b)), int16(binary.LittleEndian.Uint16(b[2:]))
		out = append(out, Point{float64(x) * scale, float64(y) * scale})
	}
	return out
}

func fuzzCoords(xy ...int16) []byte {
	b := make([]byte, 0, 2*len(xy))
	for _, v := range xy {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

// FuzzRuleShape feeds rule geometry to CheckShape and Check as a config
// gives it: a rule they accept has finite points in range, a line two
// distinct ends, a zone a finite area and no crossing edges, and an engine
// runs it: a track stepping across an accepted line counts one crossing,
// and a track at an accepted triangle's centroid is inside it.
func FuzzRuleShape(f *testing.F) {
	f.Add(false, false, fuzzCoords(100, 100, 300, 100, 300, 300, 100, 300), 1.0, 5.0)
	f.Add(false, false, fuzzCoords(0, 0, 100, 0, 100, 100, 50, 40, 0, 100), 1.0, 0.0)
	f.Add(false, false, fuzzCoords(0, 0, 10, 0, 0, 10), 1.0, 0.0)
	f.Add(false, false, fuzzCoords(0, 0, 10, 10, 10, 0, 0, 10), 1.0, 0.0) // bow tie
	f.Add(false, true, fuzzCoords(1, 1, 9, 1, 9, 9, 1, 9), 0.1, 2.0)
	f.Add(true, false, fuzzCoords(0, 100, 200, 100), 1.0, 10.0)
	f.Add(true, true, fuzzCoords(0, 25, 100, 25), 0.01, 10.0)
	f.Add(true, false, fuzzCoords(5, 5, 5, 5), 1.0, 0.0)
	f.Add(true, false, fuzzCoords(0, 0, 1, 1), 1e300, 0.0)
	f.Add(true, false, fuzzCoords(0, 0, 1, 0), 1e-300, 0.0)
	f.Add(false, false, fuzzCoords(0, 0, 2, 0, 1, 1), 1e200, 0.0)
	f.Add(false, false, fuzzCoords(0, 0, 2, 0, 1, 1), math.NaN(), math.Inf(1))
	f.Fuzz(func(t *testing.T, line, normalized bool, coords []byte, scale, hysteresis float64) {
		fuzztest.Watchdog(t)
		kind := KindZone
		if line {
			kind = KindLine
		}
		points := fuzzPoints(coords, scale)
		r := Rule{Name: "r", Kind: kind, Points: points, Normalized: normalized, Hysteresis: hysteresis}
		shapeErr := CheckShape(kind, points, normalized)
		e, err := New("cam", []Rule{r})
		if shapeErr != nil {
			if err == nil {
				t.Fatalf("%v: CheckShape refuses (%v), New accepts", points, shapeErr)
			}
			return
		}
		for _, p := range points {
			if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.IsInf(p.X, 0) || math.IsInf(p.Y, 0) || p.X < 0 || p.Y < 0 ||
				normalized && (p.X > 1 || p.Y > 1) {
				t.Fatalf("%v: accepted point %v", points, p)
			}
		}
		if line {
			if len(points) != 2 || points[0] == points[1] {
				t.Fatalf("accepted line %v", points)
			}
		} else {
			if a := Area(points); len(points) < 3 || !(a > 0) || math.IsInf(a, 0) {
				t.Fatalf("accepted zone %v of area %g", points, a)
			}
			if i, j, bad := SelfIntersection(points); bad {
				t.Fatalf("accepted zone %v whose edges %d and %d cross", points, i, j)
			}
		}
		if err != nil {
			return // hysteresis refused
		}
		const w, h = 640, 480
		px := points
		if normalized {
			px = make([]Point, len(points))
			for i, p := range points {
				px[i] = Point{p.X * w, p.Y * h}
			}
		}
		at := time.Unix(1000, 0)
		step := func(p Point) []Event {
			at = at.Add(100 * time.Millisecond)
			return e.Update(at, w, h, []track.Track{{ID: 1, Score: 1, Box: track.Box{X1: p.X, Y1: p.Y, X2: p.X, Y2: p.Y}}})
		}
		if line {
			a, b := px[0], px[1]
			l := dist(a, b)
			n := Point{-(b.Y - a.Y) / l, (b.X - a.X) / l} // towards side B
			off := hysteresis + l/2
			if !(off/l < 1e6) {
				return // the hysteresis dwarfs the line: nothing can cross it
			}
			mid := Point{a.X + (b.X-a.X)/2, a.Y + (b.Y-a.Y)/2}
			if evs := step(Point{mid.X - off*n.X, mid.Y - off*n.Y}); len(evs) != 0 {
				t.Fatalf("line %v (pixels %v): first sighting gave %+v", points, px, evs)
			}
			evs := step(Point{mid.X + off*n.X, mid.Y + off*n.Y})
			if len(evs) != 1 || evs[0].Type != TypeLineCross || evs[0].Direction != DefaultAToB {
				t.Fatalf("line %v (pixels %v), hysteresis %g: stepping from side A to B gave %+v", points, px, hysteresis, evs)
			}
			return
		}
		var c Point
		for _, p := range px {
			step(p)
			c.X += p.X / float64(len(px))
			c.Y += p.Y / float64(len(px))
		}
		st, _ := e.State("r")
		if st.Occupancy < 0 || st.Occupancy > 1 {
			t.Fatalf("zone %v: occupancy %d with one track", points, st.Occupancy)
		}
		if len(px) == 3 && hysteresis == 0 {
			step(Point{-1, -1}) // outside: no point is negative
			step(c)
			if st, _ := e.State("r"); st.Occupancy != 1 {
				t.Fatalf("triangle %v (pixels %v): its centroid %v is not inside", points, px, c)
			}
		}
	})
}
