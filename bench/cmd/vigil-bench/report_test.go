package main

import (
	"math"
	"testing"
	"time"
)

func TestSlope(t *testing.T) {
	cases := []struct {
		xs, ys []float64
		want   float64
	}{
		{[]float64{1, 2, 3, 4}, []float64{10, 10, 10, 10}, 0},
		{[]float64{1, 2, 3, 4}, []float64{1, 3, 5, 7}, 2},
		{[]float64{1}, []float64{5}, 0},
		{[]float64{2, 2}, []float64{1, 3}, 0}, // no spread in x
	}
	for _, c := range cases {
		if got := slope(c.xs, c.ys); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("slope(%v, %v) = %v, want %v", c.xs, c.ys, got, c.want)
		}
	}
}

func TestAddMinutes(t *testing.T) {
	start := time.Now()
	l := latencyRun{start: start, duration: 2*time.Minute + time.Second}
	l.sink = &publishSink{}
	for i := range 120 {
		l.sink.arrivals = append(l.sink.arrivals, start.Add(time.Duration(i)*time.Second))
		lat := 50 * time.Millisecond
		if i >= 60 {
			lat = 100 * time.Millisecond
		}
		l.sink.latencies = append(l.sink.latencies, lat)
	}
	r := newReport()
	r.addMinutes("latency10", l)
	want := map[string]bool{
		"latency10_min1_p99_ms: 50.0":               true,
		"latency10_min2_p99_ms: 100.0":              true,
		"latency10_min2_frames: 60":                 true,
		"latency10_p99_last_vs_first_minute: 2.000": true,
	}
	for _, line := range r.Lines() {
		delete(want, line)
	}
	if len(want) > 0 {
		t.Errorf("missing lines %v in %v", want, r.Lines())
	}
}
