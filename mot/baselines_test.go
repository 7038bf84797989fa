package mot

import (
	"math"

	"github.com/vigil-vision/vigil/track"
)

// frameTracker is anything that turns one frame's detections into that
// frame's reported tracks (ID and box set).
type frameTracker interface {
	Update(dets []Row) []Row
}

// byteTrack is vigil's tracker fed as the pipeline feeds it: boxes pass
// through detect.Detection's float32 corners (pipeline.Tracking cannot be
// imported here without cgo; cmd/vigil's tests check that `vigil track`,
// which uses it, gives the same IDs).
type byteTrack struct{ tr *track.Tracker }

func newByteTrack(cfg track.Config) *byteTrack { return &byteTrack{track.New(cfg)} }

func (b *byteTrack) Update(dets []Row) []Row {
	in := make([]track.Detection, 0, len(dets))
	for _, d := range dets {
		x1, y1 := float32(d.Box.X), float32(d.Box.Y)
		x2, y2 := float32(d.Box.X+d.Box.W), float32(d.Box.Y+d.Box.H)
		in = append(in, track.Detection{
			Box:   track.Box{X1: float64(x1), Y1: float64(y1), X2: float64(x2), Y2: float64(y2)},
			Score: float64(float32(d.Conf)),
		})
	}
	var out []Row
	for _, t := range b.tr.Update(in) {
		out = append(out, Row{ID: int(t.ID), Box: Box{X: t.Box.X1, Y: t.Box.Y1, W: t.Box.X2 - t.Box.X1, H: t.Box.Y2 - t.Box.Y1}, Conf: t.Score})
	}
	return out
}

// iouMatcher is the plain frame-to-frame baseline: detections scoring at
// least minScore are matched optimally to the previous frame's reported
// boxes by IoU (at least minIoU); a matched detection inherits the ID, any
// other starts a new one, and nothing is remembered past one frame.
type iouMatcher struct {
	minScore, minIoU float64
	prev             []Row
	nextID           int
	m                matcher
}

func (t *iouMatcher) Update(dets []Row) []Row {
	var cur []Row
	for _, d := range dets {
		if d.Conf >= t.minScore {
			cur = append(cur, d)
		}
	}
	var es []edge
	for i, p := range t.prev {
		for j, d := range cur {
			if o := IoU(p.Box, d.Box); o >= t.minIoU {
				es = append(es, edge{r: i, c: j, w: o})
			}
		}
	}
	for j := range cur {
		cur[j].ID = 0
	}
	for _, e := range t.m.match(es, len(t.prev), len(cur)) {
		cur[e.c].ID = t.prev[e.r].ID
	}
	for j := range cur {
		if cur[j].ID == 0 {
			t.nextID++
			cur[j].ID = t.nextID
		}
	}
	t.prev = cur
	return cur
}

// sortTracker is SORT (Bewley et al. 2016) written from the paper: a
// constant-velocity Kalman filter on (centre, area, aspect ratio), optimal
// assignment on IoU with a minimum of 0.3, a track reported once it has
// minHits consecutive matches (or in the first minHits frames), reported
// only in frames where it matched, and deleted after maxAge frames without
// one. Published settings: minHits 3, maxAge 1. Its boxes are the filter's
// corrected estimates, as SORT reports them. The noise settings are those
// of the authors' release: R = diag(1, 1, 10, 10), P₀ = diag(10, 10, 10, 10,
// 10⁴, 10⁴, 10⁴), Q = diag(1, 1, 1, 1, 0.01, 0.01, 10⁻⁴).
type sortTracker struct {
	minScore        float64
	minIoU          float64
	minHits, maxAge int
	frame, nextID   int
	tracks          []*sortTrack
	m               matcher
}

func newSORT(minScore float64) *sortTracker {
	return &sortTracker{minScore: minScore, minIoU: 0.3, minHits: 3, maxAge: 1}
}

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

func (t *sortTracker) Update(dets []Row) []Row {
	t.frame++
	var cur []Row
	for _, d := range dets {
		if d.Conf >= t.minScore && d.Box.W > 0 && d.Box.H > 0 {
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
		if e.w < t.minIoU {
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
		if tr.sinceUpdate < 1 && (tr.streak >= t.minHits || t.frame <= t.minHits) {
			out = append(out, Row{ID: tr.id, Box: tr.box(), Conf: 1})
		}
		if tr.sinceUpdate <= t.maxAge {
			kept = append(kept, tr)
		}
	}
	t.tracks = kept
	return out
}
