package mot

import (
	"slices"

	"github.com/vigil-vision/vigil/track"
)

// edge is an admissible pair: row r may be matched to column c for a gain
// of w > 0.
type edge struct {
	r, c int
	w    float64
	iou  float64 // carried through for the caller
}

// matcher finds maximum-weight bipartite matchings. The graphs of tracking
// are sparse (a box overlaps only its neighbours), so each connected
// component is solved on its own with the Hungarian method; a frame of
// hundreds of objects becomes many problems of a few each.
type matcher struct {
	parent []int
	groups map[int][]edge
	rows   []int
	cols   []int
	rowAt  map[int]int
	colAt  map[int]int
	cost   []float64
	edgeAt []int // dense position → index into the component's edges + 1
	hung   track.Assigner
}

// match returns a matching of maximum total weight among edges, whose rows
// are in [0, nr) and columns in [0, nc), as a subset of edges (each pair
// given once). Pairs absent from edges are never matched. The result is
// newly allocated.
func (m *matcher) match(edges []edge, nr, nc int) []edge {
	if len(edges) == 0 {
		return nil
	}
	if cap(m.parent) < nr+nc {
		m.parent = make([]int, nr+nc)
	}
	m.parent = m.parent[:nr+nc]
	for i := range m.parent {
		m.parent[i] = i
	}
	for _, e := range edges {
		a, b := m.find(e.r), m.find(nr+e.c)
		if a != b {
			m.parent[a] = b
		}
	}
	if m.groups == nil {
		m.groups = map[int][]edge{}
		m.rowAt, m.colAt = map[int]int{}, map[int]int{}
	}
	clear(m.groups)
	var roots []int // in order of first appearance, so results are deterministic
	for _, e := range edges {
		root := m.find(e.r)
		if _, ok := m.groups[root]; !ok {
			roots = append(roots, root)
		}
		m.groups[root] = append(m.groups[root], e)
	}
	var out []edge
	for _, root := range roots {
		out = m.component(m.groups[root], out)
	}
	return out
}

func (m *matcher) find(i int) int {
	for m.parent[i] != i {
		m.parent[i] = m.parent[m.parent[i]]
		i = m.parent[i]
	}
	return i
}

// component solves one connected component and appends its pairs to out.
func (m *matcher) component(es []edge, out []edge) []edge {
	if len(es) == 1 {
		return append(out, es[0])
	}
	clear(m.rowAt)
	clear(m.colAt)
	m.rows, m.cols = m.rows[:0], m.cols[:0]
	for _, e := range es {
		if _, ok := m.rowAt[e.r]; !ok {
			m.rowAt[e.r] = len(m.rows)
			m.rows = append(m.rows, e.r)
		}
		if _, ok := m.colAt[e.c]; !ok {
			m.colAt[e.c] = len(m.cols)
			m.cols = append(m.cols, e.c)
		}
	}
	// A complete assignment of the smaller side at cost −w, where a pair
	// that is not an edge costs 0, is a maximum-weight partial matching:
	// taking a non-edge is the same as leaving both ends unmatched.
	n, k := len(m.rows), len(m.cols)
	transpose := n > k
	if transpose {
		n, k = k, n
	}
	m.cost = resize(m.cost, n*k)
	m.edgeAt = resize(m.edgeAt, n*k)
	clear(m.cost)
	clear(m.edgeAt)
	for x, e := range es {
		i, j := m.rowAt[e.r], m.colAt[e.c]
		if transpose {
			i, j = j, i
		}
		m.cost[i*k+j] = -e.w
		m.edgeAt[i*k+j] = x + 1
	}
	for i, j := range m.hung.Solve(m.cost, n, k) {
		if x := m.edgeAt[i*k+j]; x > 0 {
			out = append(out, es[x-1])
		}
	}
	return out
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// sortEdges orders edges by row then column, so that matchings built from
// map iteration are deterministic.
func sortEdges(es []edge) {
	slices.SortFunc(es, func(a, b edge) int {
		if a.r != b.r {
			return a.r - b.r
		}
		return a.c - b.c
	})
}
