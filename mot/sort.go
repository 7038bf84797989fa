package mot

import "math"

// SORT is SORT (Bewley et al. 2016) written from the paper, the baseline
// vigil's tracker is compared with: a constant-velocity Kalman filter on
// (centre, area, aspect ratio), optimal assignment on IoU with a minimum of
// MinIoU, a track reported once it has MinHits consecutive matches (or in
// the first MinHits frames), reported only in frames where it matched, and
// deleted after MaxAge frames without one. Its boxes are the filter's
// corrected estimates, as SORT reports them. The noise settings are those
// of the authors' release: R = diag(1, 1, 10, 10), P₀ = diag(10, 10, 10, 10,
// 10⁴, 10⁴, 10⁴), Q = diag(1, 1, 1, 1, 0.01, 0.01, 10⁻⁴). Create it with
// NewSORT.
type SORT struct {
	// MinScore drops detections scoring less; the authors' release keeps
	// every detection it is given (0).
	MinScore        float64
	MinIoU          float64
	MinHits, MaxAge int

	frame, nextID int
	tracks        []*sortTrack
	m             matcher
}

// NewSORT returns SORT with its published settings: every detection, IoU
// at least 0.3, MinHits 3, MaxAge 1.
func NewSORT() *SORT { return &SORT{MinIoU: 0.3, MinHits: 3, MaxAge: 1} }

type sortTrack struct {
	x                         [7]float64 // u, v, s, r, u̇, v̇, ṡ
	p                         [7][7]float64
	id                        int
	sinceUpdate, hits, streak int
}

func sortZ(b Box) [4]float64 {
	return [4]float64{b.X + b.W/2, b.Y + b.H/2, b.W * b.H, b.W / b.H}
}

func (s *sortTrack) box() Box {
	w := math.Sqrt(s.x[2] * s.x[3])
	h := s.x[2] / w
	return Box{X: s.x[0] - w/2, Y: s.x[1] - h/2, W: w, H: h}
}

func newSortTrack(b Box, id int) *sortTrack {
	t := &sortTrack{id: id}
	z := sortZ(b)
	copy(t.x[:4], z[:])
	for i := 0; i < 7; i++ {
		t.p[i][i] = 10
		if i >= 4 {
			t.p[i][i] = 1e4
		}
	}
	return t
}

func (s *sortTrack) predict() {
	if s.x[6]+s.x[2] <= 0 {
		s.x[6] = 0
	}
	for i := 0; i < 3; i++ {
		s.x[i] += s.x[i+4]
	}
	// P ← FPFᵀ + Q with F the identity plus ones at (i, i+4), i < 3.
	for i := 0; i < 3; i++ {
		for j := 0; j < 7; j++ {
			s.p[i][j] += s.p[i+4][j]
		}
	}
	for i := 0; i < 7; i++ {
		for j := 0; j < 3; j++ {
			s.p[i][j] += s.p[i][j+4]
		}
	}
	q := [7]float64{1, 1, 1, 1, 0.01, 0.01, 1e-4}
	for i := range q {
		s.p[i][i] += q[i]
	}
	if s.sinceUpdate > 0 {
		s.streak = 0
	}
	s.sinceUpdate++
}

func (s *sortTrack) update(b Box) {
	z := sortZ(b)
	r := [4]float64{1, 1, 10, 10}
	// S = HPHᵀ + R, K = PHᵀS⁻¹.
	var sm [4][4]float64
	for i := 0; i < 4; i++ {
		for j := 0; j < 4; j++ {
			sm[i][j] = s.p[i][j]
		}
		sm[i][i] += r[i]
	}
	inv, ok := invert4(sm)
	if !ok {
		return
	}
	var k [7][4]float64
	for i := 0; i < 7; i++ {
		for j := 0; j < 4; j++ {
			for m := 0; m < 4; m++ {
				k[i][j] += s.p[i][m] * inv[m][j]
			}
		}
	}
	var y [4]float64
	for i := range y {
		y[i] = z[i] - s.x[i]
	}
	for i := 0; i < 7; i++ {
		for j := 0; j < 4; j++ {
			s.x[i] += k[i][j] * y[j]
		}
	}
	var np [7][7]float64
	for i := 0; i < 7; i++ {
		for j := 0; j < 7; j++ {
			acc := s.p[i][j]
			for m := 0; m < 4; m++ {
				acc -= k[i][m] * s.p[m][j]
			}
			np[i][j] = acc
		}
	}
	s.p = np
	s.sinceUpdate = 0
	s.hits++
	s.streak++
}

// invert4 inverts a 4×4 matrix by Gauss-Jordan elimination with pivoting.
func invert4(a [4][4]float64) ([4][4]float64, bool) {
	var inv [4][4]float64
	for i := range inv {
		inv[i][i] = 1
	}
	for c := 0; c < 4; c++ {
		p := c
		for r := c + 1; r < 4; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if a[p][c] == 0 {
			return inv, false
		}
		a[c], a[p] = a[p], a[c]
		inv[c], inv[p] = inv[p], inv[c]
		d := a[c][c]
		for j := 0; j < 4; j++ {
			a[c][j] /= d
			inv[c][j] /= d
		}
		for r := 0; r < 4; r++ {
			if r == c {
				continue
			}
			f := a[r][c]
			for j := 0; j < 4; j++ {
				a[r][j] -= f * a[c][j]
				inv[r][j] -= f * inv[c][j]
			}
		}
	}
	return inv, true
}

// Update advances SORT by one frame with that frame's detections and
// returns the tracks it reports in it; the rows' Frame is left 0.
func (t *SORT) Update(dets []Row) []Row {
	t.frame++
	var cur []Row
	for _, d := range dets {
		if d.Conf >= t.MinScore && d.Box.W > 0 && d.Box.H > 0 {
			cur = append(cur, d)
		}
	}
	kept := t.tracks[:0]
	for _, tr := range t.tracks {
		tr.predict()
		if b := tr.box(); !math.IsNaN(b.X + b.Y + b.W + b.H) {
			kept = append(kept, tr)
		}
	}
	t.tracks = kept
	var es []edge
	for i, tr := range t.tracks {
		pb := tr.box()
		for j, d := range cur {
			if o := IoU(pb, d.Box); o > 0 {
				es = append(es, edge{r: i, c: j, w: o})
			}
		}
	}
	used := make([]bool, len(cur))
	for _, e := range t.m.match(es, len(t.tracks), len(cur)) {
		if e.w < t.MinIoU {
			continue
		}
		t.tracks[e.r].update(cur[e.c].Box)
		used[e.c] = true
	}
	for j, d := range cur {
		if !used[j] {
			t.nextID++
			t.tracks = append(t.tracks, newSortTrack(d.Box, t.nextID))
		}
	}
	var out []Row
	kept = t.tracks[:0]
	for _, tr := range t.tracks {
		if tr.sinceUpdate < 1 && (tr.streak >= t.MinHits || t.frame <= t.MinHits) {
			out = append(out, Row{ID: tr.id, Box: tr.box(), Conf: 1})
		}
		if tr.sinceUpdate <= t.MaxAge {
			kept = append(kept, tr)
		}
	}
	t.tracks = kept
	return out
}
