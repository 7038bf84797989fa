package detect

import (
	"slices"
)

// NMS keeps, among boxes that overlap by more than iou, the highest scoring
// one, and returns at most maxDet detections sorted by descending score.
// Class-aware unless agnostic: boxes of different classes never suppress
// each other. It works in place on dets. A Suppressor does the same with
// scratch memory kept between calls.
func NMS(dets []Detection, iou float32, agnostic bool, maxDet int) []Detection {
	var s Suppressor
	return s.NMS(dets, iou, agnostic, maxDet)
}

// gridSize is the grid's cells per side.
const gridSize = 16

// Suppressor runs NMS with reused scratch. Candidates are visited in score
// order and each is compared only with the boxes already kept that share a
// cell of a grid over the candidates' extent with it: two boxes whose IoU
// is above zero overlap, so they share a cell. On a crowded frame (hundreds
// of people) the cost stays near N×(kept boxes nearby) instead of N×K.
// Not safe for concurrent use.
type Suppressor struct {
	cells [gridSize * gridSize][]int32 // per cell, indices of kept boxes that cover it
	seen  []uint32                     // per kept box: the candidate that last compared with it
}

// NMS is the package's NMS, with s's scratch.
func (s *Suppressor) NMS(dets []Detection, iou float32, agnostic bool, maxDet int) []Detection {
	sortByScore(dets)
	if iou < 0 { // every pair "overlaps": the grid's premise does not hold
		return keptListNMS(dets, iou, agnostic, maxDet)
	}
	g := newGrid(dets)
	for i := range s.cells {
		s.cells[i] = s.cells[i][:0]
	}
	s.seen = s.seen[:0]
	kept := dets[:0]
	for i := range dets {
		d := dets[i]
		x0, y0, x1, y1 := g.span(d.Box)
		suppressed := false
		stamp := uint32(i + 1)
	search:
		for cy := y0; cy <= y1; cy++ {
			for cx := x0; cx <= x1; cx++ {
				for _, k := range s.cells[cy*gridSize+cx] {
					if s.seen[k] == stamp {
						continue
					}
					s.seen[k] = stamp
					kb := &kept[k]
					if !agnostic && kb.Class != d.Class {
						continue
					}
					if IoU(kb.Box, d.Box) > iou {
						suppressed = true
						break search
					}
				}
			}
		}
		if suppressed {
			continue
		}
		k := int32(len(kept))
		kept = append(kept, d)
		s.seen = append(s.seen, 0)
		if d.Box.Area() > 0 { // a degenerate box overlaps nothing
			for cy := y0; cy <= y1; cy++ {
				for cx := x0; cx <= x1; cx++ {
					s.cells[cy*gridSize+cx] = append(s.cells[cy*gridSize+cx], k)
				}
			}
		}
		if maxDet > 0 && len(kept) == maxDet {
			break
		}
	}
	return kept
}

// sortByScore sorts by descending score, ties in any order.
func sortByScore(dets []Detection) {
	slices.SortFunc(dets, func(a, b Detection) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
}

// keptListNMS compares every candidate with every box kept so far; dets
// must be sorted by descending score.
func keptListNMS(dets []Detection, iou float32, agnostic bool, maxDet int) []Detection {
	kept := dets[:0]
	for i := range dets {
		d := dets[i]
		suppressed := false
		for _, k := range kept {
			if (agnostic || k.Class == d.Class) && IoU(k.Box, d.Box) > iou {
				suppressed = true
				break
			}
		}
		if suppressed {
			continue
		}
		kept = append(kept, d)
		if maxDet > 0 && len(kept) == maxDet {
			break
		}
	}
	return kept
}

// grid maps coordinates to cells over the candidates' extent.
type grid struct {
	x0, y0, sx, sy float32 // origin and cells per unit
}

func newGrid(dets []Detection) grid {
	if len(dets) == 0 {
		return grid{}
	}
	b := dets[0].Box
	lx, ly, hx, hy := b.X1, b.Y1, b.X2, b.Y2
	for _, d := range dets[1:] { // comparisons skip NaNs, unlike min and max
		if d.Box.X1 < lx {
			lx = d.Box.X1
		}
		if d.Box.Y1 < ly {
			ly = d.Box.Y1
		}
		if d.Box.X2 > hx {
			hx = d.Box.X2
		}
		if d.Box.Y2 > hy {
			hy = d.Box.Y2
		}
	}
	g := grid{x0: lx, y0: ly}
	if w := hx - lx; w > 0 && w < 1e30 {
		g.sx = gridSize / w
	}
	if h := hy - ly; h > 0 && h < 1e30 {
		g.sy = gridSize / h
	}
	return g
}

// span is the range of cells a box covers; monotonic in the coordinates,
// so overlapping boxes share a cell.
func (g grid) span(b Box) (x0, y0, x1, y1 int) {
	x0, x1 = cell((b.X1-g.x0)*g.sx), cell((b.X2-g.x0)*g.sx)
	y0, y1 = cell((b.Y1-g.y0)*g.sy), cell((b.Y2-g.y0)*g.sy)
	if x1 < x0 {
		x0, x1 = x1, x0
	}
	if y1 < y0 {
		y0, y1 = y1, y0
	}
	return x0, y0, x1, y1
}

func cell(f float32) int {
	if !(f > 0) { // NaN too
		return 0
	}
	if f >= gridSize-1 {
		return gridSize - 1
	}
	return int(f)
}
