package track

import "math"

// pair is one accepted assignment: row r of a cost matrix matched to column c.
type pair struct{ r, c int }

// assigner solves rectangular linear assignment problems with the
// Kuhn-Munkres (Hungarian) method using potentials, O(n²m) for n ≤ m. It keeps
// its buffers between calls so a tracker in steady state does not allocate.
type assigner struct {
	u, v, minv []float64
	p, way     []int
	used       []bool
	rowToCol   []int

	// match works on a compacted copy of the problem.
	sub            []float64
	rowMap, colMap []int
	rowLive        []bool
	colLive        []bool
}

// solve returns, for the n×m row-major cost matrix (n ≤ m), the column given
// to each row in an assignment of minimum total cost. Every row is assigned.
// The result aliases the assigner's buffer and is valid until the next call.
func (a *assigner) solve(cost []float64, n, m int) []int {
	if n > m {
		panic("track: assigner.solve needs rows <= cols")
	}
	a.u = growFloats(a.u, n+1)
	a.v = growFloats(a.v, m+1)
	a.minv = growFloats(a.minv, m+1)
	a.p = growInts(a.p, m+1)
	a.way = growInts(a.way, m+1)
	a.used = growBools(a.used, m+1)
	a.rowToCol = growInts(a.rowToCol, n)
	u, v, minv, p, way, used := a.u, a.v, a.minv, a.p, a.way, a.used
	clear(u)
	clear(v)
	clear(p)
	clear(way)

	// Indices are 1-based inside the loop: column 0 is the virtual start of
	// every augmenting path and p[j] == 0 means column j is free.
	for i := 1; i <= n; i++ {
		p[0] = i
		j0 := 0
		for j := range minv {
			minv[j] = math.Inf(1)
		}
		clear(used)
		for {
			used[j0] = true
			i0 := p[j0]
			delta := math.Inf(1)
			j1 := 0
			row := cost[(i0-1)*m : i0*m]
			for j := 1; j <= m; j++ {
				if used[j] {
					continue
				}
				cur := row[j-1] - u[i0] - v[j]
				if cur < minv[j] {
					minv[j] = cur
					way[j] = j0
				}
				if minv[j] < delta {
					delta = minv[j]
					j1 = j
				}
			}
			for j := 0; j <= m; j++ {
				if used[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
			if p[j0] == 0 {
				break
			}
		}
		for j0 != 0 {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
		}
	}
	for j := 1; j <= m; j++ {
		if p[j] != 0 {
			a.rowToCol[p[j]-1] = j - 1
		}
	}
	return a.rowToCol[:n]
}

// match pairs rows with columns of the rows×cols row-major cost matrix so that
// every pair costs at most limit and the total saving Σ(limit − cost) is
// maximal; rows and columns may stay unmatched. This is the objective of
// lap.lapjv with cost_limit that ByteTrack uses: leaving a row and a column
// unmatched costs limit, so a pair is taken only when it is cheaper than that.
// Costs above limit, +Inf included, mean "never pair these". The pairs are
// appended to dst.
func (a *assigner) match(cost []float64, rows, cols int, limit float64, dst []pair) []pair {
	// Rows and columns with no admissible pair cannot be matched; dropping
	// them keeps the cubic solver small when objects are spread apart.
	a.rowLive = growBools(a.rowLive, rows)
	a.colLive = growBools(a.colLive, cols)
	clear(a.rowLive)
	clear(a.colLive)
	for r := 0; r < rows; r++ {
		for c, x := range cost[r*cols : (r+1)*cols] {
			if x <= limit {
				a.rowLive[r] = true
				a.colLive[c] = true
			}
		}
	}
	a.rowMap = a.rowMap[:0]
	a.colMap = a.colMap[:0]
	for r, live := range a.rowLive {
		if live {
			a.rowMap = append(a.rowMap, r)
		}
	}
	for c, live := range a.colLive {
		if live {
			a.colMap = append(a.colMap, c)
		}
	}
	n, m := len(a.rowMap), len(a.colMap)
	if n == 0 {
		return dst
	}

	// Shifting admissible costs by −limit and clamping the rest to 0 turns
	// "maximise savings over partial matchings" into a complete assignment of
	// the smaller side: a pair at cost 0 is the same as no pair.
	transpose := n > m
	if transpose {
		n, m = m, n
	}
	a.sub = growFloats(a.sub, n*m)
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			r, c := i, j
			if transpose {
				r, c = j, i
			}
			x := cost[a.rowMap[r]*cols+a.colMap[c]]
			if x <= limit {
				a.sub[i*m+j] = x - limit
			} else {
				a.sub[i*m+j] = 0
			}
		}
	}
	for i, j := range a.solve(a.sub, n, m) {
		r, c := i, j
		if transpose {
			r, c = j, i
		}
		r, c = a.rowMap[r], a.colMap[c]
		if cost[r*cols+c] <= limit {
			dst = append(dst, pair{r, c})
		}
	}
	return dst
}

func growFloats(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

func growInts(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}

func growBools(s []bool, n int) []bool {
	if cap(s) < n {
		return make([]bool, n)
	}
	return s[:n]
}

// Assigner solves rectangular minimum-cost assignment problems with the
// tracker's Hungarian solver, keeping its buffers between calls; the
// tracking metrics (package mot) use it too. Not safe for concurrent use.
type Assigner struct{ a assigner }

// Solve returns, for the n×m row-major cost matrix (n ≤ m), the column
// given to each row in an assignment of minimum total cost. The result is
// valid until the next call.
func (s *Assigner) Solve(cost []float64, n, m int) []int { return s.a.solve(cost, n, m) }
