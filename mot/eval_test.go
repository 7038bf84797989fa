package mot

import (
	"math"
	"math/rand/v2"
	"testing"
)

// obj is object id at box b in each of frames; conf 1.
func obj(id int, b Box, frames ...int) []Row {
	var rows []Row
	for _, f := range frames {
		rows = append(rows, Row{Frame: f, ID: id, Box: b, Conf: 1, Class: -1, Vis: -1})
	}
	return rows
}

// span is the frames from a to b inclusive.
func span(a, b int) []int {
	var s []int
	for f := a; f <= b; f++ {
		s = append(s, f)
	}
	return s
}

func join(parts ...[]Row) []Row {
	var out []Row
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func flag0(rows []Row) []Row {
	for i := range rows {
		rows[i].Conf = 0
	}
	return rows
}

var (
	boxA = Box{X: 100, Y: 100, W: 40, H: 100}
	boxB = Box{X: 400, Y: 100, W: 40, H: 100}
	boxC = Box{X: 700, Y: 100, W: 40, H: 100}
)

func TestEvaluateHandComputed(t *testing.T) {
	// want holds the metrics a case checks; NaN means "not checked".
	type want struct {
		MOTA, MOTP, IDF1, IDP, IDR, HOTA, DetA, AssA float64
		TP, FP, FN, IDSW, Frag, MT, PT, ML, Ignored  int
	}
	nan := math.NaN()
	tests := []struct {
		name    string
		gt, res []Row
		want    want
	}{
		{
			name: "perfect",
			gt:   join(obj(1, boxA, span(1, 10)...), obj(2, boxB, span(3, 8)...)),
			res:  join(obj(11, boxA, span(1, 10)...), obj(12, boxB, span(3, 8)...)),
			want: want{MOTA: 1, MOTP: 1, IDF1: 1, IDP: 1, IDR: 1, HOTA: 1, DetA: 1, AssA: 1, TP: 16, MT: 2},
		},
		{
			// Track 7 follows A for 7 frames, then track 8 takes over.
			// IDF1: A↔7 shares 7 frames: IDTP 7, IDFN 3, IDFP 3 → 14/20.
			// AssA: 7 TPs score 7/10, 3 TPs score 3/10 → (4.9+0.9)/10.
			name: "identity changes once",
			gt:   obj(1, boxA, span(1, 10)...),
			res:  join(obj(7, boxA, span(1, 7)...), obj(8, boxA, span(8, 10)...)),
			want: want{MOTA: 0.9, MOTP: 1, IDF1: 0.7, IDP: 0.7, IDR: 0.7, HOTA: math.Sqrt(0.58), DetA: 1, AssA: 0.58,
				TP: 10, IDSW: 1, MT: 1},
		},
		{
			// Tracks 1 and 2 trade objects after frame 5: each object
			// switches. A TP of A with track 1 scores 5/(10+10−5): 5 frames
			// shared, 5 more of A's elsewhere, 5 more of track 1's elsewhere.
			name: "two tracks swap objects",
			gt:   join(obj(1, boxA, span(1, 10)...), obj(2, boxB, span(1, 10)...)),
			res: join(obj(1, boxA, span(1, 5)...), obj(2, boxB, span(1, 5)...),
				obj(1, boxB, span(6, 10)...), obj(2, boxA, span(6, 10)...)),
			want: want{MOTA: 0.9, MOTP: 1, IDF1: 0.5, IDP: 0.5, IDR: 0.5, HOTA: math.Sqrt(1.0 / 3), DetA: 1, AssA: 1.0 / 3,
				TP: 20, IDSW: 2, MT: 2},
		},
		{
			// Frame 5 is missed: one FN, and the track resuming in frame 6
			// is a fragmentation but not an ID switch. IDF1 18/19; AssA
			// 9/(10+9-9); DetA 9/10.
			name: "missed frame",
			gt:   obj(1, boxA, span(1, 10)...),
			res:  join(obj(3, boxA, span(1, 4)...), obj(3, boxA, span(6, 10)...)),
			want: want{MOTA: 0.9, MOTP: 1, IDF1: 18.0 / 19, IDP: 1, IDR: 0.9, HOTA: 0.9, DetA: 0.9, AssA: 0.9,
				TP: 9, FN: 1, Frag: 1, MT: 1},
		},
		{
			// Resuming under a new ID is a switch and a fragmentation.
			name: "missed frame then new ID",
			gt:   obj(1, boxA, span(1, 10)...),
			res:  join(obj(3, boxA, span(1, 4)...), obj(4, boxA, span(6, 10)...)),
			want: want{MOTA: 0.8, MOTP: 1, IDF1: 10.0 / 19, IDP: 5.0 / 9, IDR: 0.5, HOTA: nan, DetA: 0.9, AssA: nan,
				TP: 9, FN: 1, IDSW: 1, Frag: 1, MT: 1},
		},
		{
			// A result on flag-0 ground truth is neither TP nor FP; flag-0
			// ground truth nobody covers is not missed.
			name: "flag-0 ground truth is ignored",
			gt:   join(obj(1, boxA, span(1, 10)...), flag0(obj(2, boxB, span(1, 10)...)), flag0(obj(3, boxC, span(1, 10)...))),
			res:  join(obj(5, boxA, span(1, 10)...), obj(6, boxB, span(1, 10)...)),
			want: want{MOTA: 1, MOTP: 1, IDF1: 1, IDP: 1, IDR: 1, HOTA: 1, DetA: 1, AssA: 1, TP: 10, MT: 1, Ignored: 10},
		},
		{
			// A result that overlaps flag-0 ground truth below IoU 0.5 is
			// still a false positive.
			name: "result beside flag-0 ground truth",
			gt:   join(obj(1, boxA, span(1, 4)...), flag0(obj(2, boxB, span(1, 4)...))),
			res:  join(obj(5, boxA, span(1, 4)...), obj(6, Box{X: 430, Y: 100, W: 40, H: 100}, span(1, 4)...)),
			want: want{MOTA: 0, MOTP: 1, IDF1: 2.0 / 3, IDP: 0.5, IDR: 1, HOTA: nan, DetA: nan, AssA: nan, TP: 4, FP: 4, MT: 1},
		},
		{
			// 8 of 10 frames is mostly tracked, 2 of 10 partly, 1 of 10
			// mostly lost; the gaps are fragmentations only where tracking
			// resumes.
			name: "mostly tracked, partly tracked, mostly lost",
			gt:   join(obj(1, boxA, span(1, 10)...), obj(2, boxB, span(1, 10)...), obj(3, boxC, span(1, 10)...)),
			res:  join(obj(1, boxA, 1, 2, 3, 4, 6, 7, 8, 9), obj(2, boxB, 1, 10), obj(3, boxC, 5)),
			want: want{MOTA: 11.0 / 30, MOTP: 1, IDF1: 22.0 / 41, IDP: 1, IDR: 11.0 / 30, HOTA: nan, DetA: 11.0 / 30, AssA: nan,
				TP: 11, FN: 19, Frag: 2, MT: 1, PT: 1, ML: 1},
		},
		{
			// A box at IoU 0.6 matches for α up to 0.6, 12 of the 19
			// thresholds, and misses (FN and FP) above.
			name: "HOTA counts localisation",
			gt:   obj(1, boxA, span(1, 5)...),
			res:  obj(2, Box{X: 100, Y: 100, W: 40, H: 60}, span(1, 5)...),
			want: want{MOTA: 1, MOTP: 0.6, IDF1: 1, IDP: 1, IDR: 1, HOTA: 12.0 / 19, DetA: 12.0 / 19, AssA: 12.0 / 19, TP: 5, MT: 1},
		},
		{
			name: "no results",
			gt:   obj(1, boxA, span(1, 10)...),
			want: want{MOTA: 0, MOTP: 0, IDF1: 0, IDP: 0, IDR: 0, HOTA: 0, DetA: 0, AssA: 0, FN: 10, ML: 1},
		},
		{
			name: "false positives only",
			gt:   obj(1, boxA, span(1, 4)...),
			res:  join(obj(1, boxA, span(1, 4)...), obj(2, boxC, span(1, 2)...)),
			want: want{MOTA: 0.5, MOTP: 1, IDF1: 0.8, IDP: 4.0 / 6, IDR: 1, HOTA: nan, DetA: 4.0 / 6, AssA: 1, TP: 4, FP: 2, MT: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Evaluate(tc.gt, tc.res)
			m := c.Metrics()
			w := tc.want
			for _, f := range []struct {
				name      string
				got, want float64
			}{
				{"MOTA", m.MOTA, w.MOTA}, {"MOTP", m.MOTP, w.MOTP}, {"IDF1", m.IDF1, w.IDF1},
				{"IDP", m.IDP, w.IDP}, {"IDR", m.IDR, w.IDR}, {"HOTA", m.HOTA, w.HOTA},
				{"DetA", m.DetA, w.DetA}, {"AssA", m.AssA, w.AssA},
			} {
				if !math.IsNaN(f.want) && math.Abs(f.got-f.want) > 1e-9 {
					t.Errorf("%s = %.6f, want %.6f", f.name, f.got, f.want)
				}
			}
			for _, f := range []struct {
				name      string
				got, want int
			}{
				{"TP", m.TP, w.TP}, {"FP", m.FP, w.FP}, {"FN", m.FN, w.FN}, {"IDSW", m.IDSW, w.IDSW},
				{"Frag", m.Frag, w.Frag}, {"MT", m.MT, w.MT}, {"PT", m.PT, w.PT}, {"ML", m.ML, w.ML},
				{"Ignored", m.Ignored, w.Ignored},
			} {
				if f.got != f.want {
					t.Errorf("%s = %d, want %d", f.name, f.got, f.want)
				}
			}
			if m.TP+m.FN != m.GT || m.TP+m.FP != m.Res {
				t.Errorf("TP %d + FN %d != GT %d or TP + FP %d != Res %d", m.TP, m.FN, m.GT, m.FP, m.Res)
			}
		})
	}
}

// TestEvaluateKeepsPreviousMatch: in frame 2 the optimal IoU matching would
// swap the tracks (1.0 + 0.82 beats 0.67 + 0.82), but each object's
// previous track still overlaps it at IoU >= 0.5, so CLEAR-MOT keeps it.
func TestEvaluateKeepsPreviousMatch(t *testing.T) {
	a := Box{X: 0, Y: 0, W: 10, H: 10}
	b := Box{X: 40, Y: 0, W: 10, H: 10}
	b2 := Box{X: 2, Y: 0, W: 10, H: 10} // B walks into A's place
	gt := join(obj(1, a, 1, 2), obj(2, b, 1), obj(2, b2, 2))
	res := join(obj(1, a, 1), obj(1, b2, 2), obj(2, b, 1), obj(2, Box{X: 1, Y: 0, W: 10, H: 10}, 2))
	m := Evaluate(gt, res).Metrics()
	if m.IDSW != 0 || m.TP != 4 {
		t.Fatalf("IDSW %d, TP %d; want 0 switches and 4 matches", m.IDSW, m.TP)
	}
	want := (1 + 1 + 80.0/120 + 90.0/110) / 4
	if math.Abs(m.MOTP-want) > 1e-9 {
		t.Fatalf("MOTP %v, want %v (the kept pairs' IoUs)", m.MOTP, want)
	}
}

func TestCountsAdd(t *testing.T) {
	// Two sequences evaluated apart and added give the benchmark's overall
	// row: counts summed, AssA weighted by TPs.
	gt1, res1 := obj(1, boxA, span(1, 10)...), join(obj(7, boxA, span(1, 7)...), obj(8, boxA, span(8, 10)...))
	gt2, res2 := obj(1, boxB, span(1, 30)...), obj(1, boxB, span(1, 30)...)
	var total Counts
	total.Add(Evaluate(gt1, res1))
	total.Add(Evaluate(gt2, res2))
	m := total.Metrics()
	if m.GT != 40 || m.TP != 40 || m.IDSW != 1 || m.GTIDs != 2 {
		t.Fatalf("%+v", m)
	}
	if want := (40.0 - 1) / 40; math.Abs(m.MOTA-want) > 1e-12 {
		t.Errorf("MOTA %v, want %v", m.MOTA, want)
	}
	if want := (2.0 * 37) / 80; math.Abs(m.IDF1-want) > 1e-12 {
		t.Errorf("IDF1 %v, want %v", m.IDF1, want)
	}
	if want := (5.8 + 30) / 40; math.Abs(m.AssA-want) > 1e-12 {
		t.Errorf("AssA %v, want %v (TP-weighted)", m.AssA, want)
	}
}

// TestMatcherIsOptimal checks the sparse maximum-weight matching against
// brute force on random graphs.
func TestMatcherIsOptimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var m matcher
	for iter := 0; iter < 2000; iter++ {
		nr, nc := 1+rng.IntN(6), 1+rng.IntN(6)
		var es []edge
		for r := 0; r < nr; r++ {
			for c := 0; c < nc; c++ {
				if rng.IntN(3) == 0 {
					es = append(es, edge{r: r, c: c, w: float64(1 + rng.IntN(4))})
				}
			}
		}
		got := m.match(es, nr, nc)
		rows, cols := map[int]bool{}, map[int]bool{}
		sum := 0.0
		for _, e := range got {
			if rows[e.r] || cols[e.c] {
				t.Fatalf("iter %d: %v is not a matching", iter, got)
			}
			rows[e.r], cols[e.c] = true, true
			sum += e.w
		}
		if want := bruteMatch(es, 0, map[int]bool{}, map[int]bool{}); sum != want {
			t.Fatalf("iter %d: edges %v: weight %v, brute force %v", iter, es, sum, want)
		}
	}
}

func bruteMatch(es []edge, i int, rows, cols map[int]bool) float64 {
	if i == len(es) {
		return 0
	}
	best := bruteMatch(es, i+1, rows, cols)
	e := es[i]
	if !rows[e.r] && !cols[e.c] {
		rows[e.r], cols[e.c] = true, true
		best = max(best, e.w+bruteMatch(es, i+1, rows, cols))
		rows[e.r], cols[e.c] = false, false
	}
	return best
}
