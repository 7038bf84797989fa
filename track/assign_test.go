package track

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bruteMinCost is the cheapest way to give every one of n rows a distinct
// column out of m (n ≤ m), trying every injection.
func bruteMinCost(cost []float64, n, m int) float64 {
	best := math.Inf(1)
	used := make([]bool, m)
	var walk func(r int, sum float64)
	walk = func(r int, sum float64) {
		if r == n {
			best = min(best, sum)
			return
		}
		for c := 0; c < m; c++ {
			if !used[c] {
				used[c] = true
				walk(r+1, sum+cost[r*m+c])
				used[c] = false
			}
		}
	}
	walk(0, 0)
	return best
}

// bruteBestSaving is the largest Σ(limit − cost) over partial matchings that
// use only pairs costing at most limit.
func bruteBestSaving(cost []float64, rows, cols int, limit float64) float64 {
	best := 0.0
	used := make([]bool, cols)
	var walk func(r int, saving float64)
	walk = func(r int, saving float64) {
		if r == rows {
			best = max(best, saving)
			return
		}
		walk(r+1, saving) // row r stays unmatched
		for c := 0; c < cols; c++ {
			if x := cost[r*cols+c]; !used[c] && x <= limit {
				used[c] = true
				walk(r+1, saving+limit-x)
				used[c] = false
			}
		}
	}
	walk(0, 0)
	return best
}

func TestAssignerSolveMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var a assigner
	for iter := 0; iter < 500; iter++ {
		n := 1 + rng.IntN(6)
		m := n + rng.IntN(7-n)
		cost := make([]float64, n*m)
		for i := range cost {
			cost[i] = rng.Float64() * 10
			if rng.IntN(5) == 0 { // ties are where a wrong solver slips
				cost[i] = float64(rng.IntN(3))
			}
		}
		got := a.solve(cost, n, m)
		seen := make(map[int]bool)
		var sum float64
		for r, c := range got {
			if c < 0 || c >= m || seen[c] {
				t.Fatalf("iter %d: %dx%d: row %d got column %d (assignment %v)", iter, n, m, r, c, got)
			}
			seen[c] = true
			sum += cost[r*m+c]
		}
		if want := bruteMinCost(cost, n, m); math.Abs(sum-want) > 1e-9 {
			t.Fatalf("iter %d: %dx%d cost %v: total %v, brute force %v", iter, n, m, cost, sum, want)
		}
	}
}

func TestAssignerMatchMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var a assigner
	const limit = 0.8
	for iter := 0; iter < 1000; iter++ {
		rows, cols := rng.IntN(6), rng.IntN(6) // either side may be larger, or empty
		cost := make([]float64, rows*cols)
		for i := range cost {
			switch rng.IntN(6) {
			case 0:
				cost[i] = math.Inf(1) // e.g. a class mismatch
			default:
				cost[i] = rng.Float64() * 1.2
			}
		}
		pairs := a.match(cost, rows, cols, limit, nil)
		rowSeen, colSeen := make(map[int]bool), make(map[int]bool)
		var saving float64
		for _, p := range pairs {
			if rowSeen[p.r] || colSeen[p.c] {
				t.Fatalf("iter %d: row or column used twice in %v", iter, pairs)
			}
			rowSeen[p.r], colSeen[p.c] = true, true
			x := cost[p.r*cols+p.c]
			if x > limit {
				t.Fatalf("iter %d: pair %v costs %v, above limit %v", iter, p, x, limit)
			}
			saving += limit - x
		}
		if want := bruteBestSaving(cost, rows, cols, limit); math.Abs(saving-want) > 1e-9 {
			t.Fatalf("iter %d: %dx%d cost %v: saving %v, brute force %v (pairs %v)", iter, rows, cols, cost, saving, want, pairs)
		}
	}
}

func TestAssignerMatchCases(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name       string
		rows, cols int
		cost       []float64
		limit      float64
		want       []pair
	}{
		{name: "empty", rows: 0, cols: 3, limit: 1},
		{name: "all above limit", rows: 2, cols: 2, cost: []float64{0.9, 0.95, 1, inf}, limit: 0.8},
		{
			// Greedy takes the cheapest pair (0,0) first and is left with
			// (1,1) at 0.9; the optimum crosses over.
			name: "optimal beats greedy", rows: 2, cols: 2,
			cost: []float64{0.1, 0.2, 0.15, 0.9}, limit: 1,
			want: []pair{{0, 1}, {1, 0}},
		},
		{
			name: "more rows than columns", rows: 3, cols: 1,
			cost: []float64{0.5, 0.2, 0.7}, limit: 0.8,
			want: []pair{{1, 0}},
		},
		{
			name: "infeasible pair is never taken", rows: 2, cols: 2,
			cost: []float64{inf, 0.1, 0.3, 0.2}, limit: 0.8,
			want: []pair{{0, 1}, {1, 0}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a assigner
			got := a.match(tc.cost, tc.rows, tc.cols, tc.limit, nil)
			if len(got) != len(tc.want) {
				t.Fatalf("pairs %v, want %v", got, tc.want)
			}
			want := make(map[pair]bool)
			for _, p := range tc.want {
				want[p] = true
			}
			for _, p := range got {
				if !want[p] {
					t.Fatalf("pairs %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestAssignerReusesBuffers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cost := make([]float64, 30*40)
	for i := range cost {
		cost[i] = rng.Float64()
	}
	var a assigner
	dst := a.match(cost, 30, 40, 0.5, nil)
	allocs := testing.AllocsPerRun(20, func() {
		dst = a.match(cost, 30, 40, 0.5, dst[:0])
	})
	if allocs != 0 {
		t.Fatalf("match allocated %v times per call once warm, want 0", allocs)
	}
}
