package infer

import (
	"math"
	"testing"
	"time"
)

// The estimate takes the round trip from the least probe and the rate
// from the median request, so one slow reply or one queued probe does
// not move it; old samples leave the window.
func TestLinkEstimate(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	var l link
	if e := l.estimate(t0); e.Known() {
		t.Fatalf("an empty window: %+v", e)
	}
	// Probes: 2 ms is the path; 9 ms queued behind something.
	for i, rtt := range []float64{3, 2, 9, 2.5} {
		l.add(t0.Add(time.Duration(i)*time.Second), 0, ms(rtt+0.1), ms(0.1))
	}
	if e := l.estimate(t0.Add(5 * time.Second)); e.Known() || e.RTT != ms(2) || e.Probes != 4 {
		t.Fatalf("probes alone: %+v; want RTT 2ms, rate unknown", e)
	}
	// Requests of 100 kB over 10 Mbit/s: 80 ms on the wire, 2 ms of round
	// trip, the server's 150 ms taken out; one took 500 ms more.
	for i := range 9 {
		extra := 0.0
		if i == 4 {
			extra = 500
		}
		l.add(t0.Add(time.Duration(i)*time.Second), 100_000, ms(82+150+extra), ms(150))
	}
	e := l.estimate(t0.Add(10 * time.Second))
	if !e.Known() || e.Requests != 9 || math.Abs(e.BitsPerSecond-10e6) > 1e3 {
		t.Errorf("estimate %+v; want 10 Mbit/s over 9 requests", e)
	}
	// A transfer lost in the round trip's jitter is as fast as can be told.
	var fast link
	fast.add(t0, 0, ms(2), 0)
	fast.add(t0, 400_000, ms(1.9), 0)
	if e := fast.estimate(t0); e.BitsPerSecond != MaxRate {
		t.Errorf("a transfer under the RTT: %g bit/s, want MaxRate", e.BitsPerSecond)
	}
	// Two minutes on, the old samples are gone: a slower link now.
	later := t0.Add(3 * time.Minute)
	l.add(later, 0, ms(4), 0)
	l.add(later, 100_000, ms(4+800), 0)
	if e := l.estimate(later); e.Probes != 1 || e.Requests != 1 || e.RTT != ms(4) || math.Abs(e.BitsPerSecond-1e6) > 1e2 {
		t.Errorf("after the window: %+v; want 1 probe, 1 request, RTT 4ms, 1 Mbit/s", e)
	}
	// The window holds at most so many samples, the newest.
	var many link
	for i := range maxLinkRequests + 10 {
		many.add(t0, 1000+i, ms(10), 0)
	}
	if len(many.requests) != maxLinkRequests || many.requests[0].bytes != 1010 {
		t.Errorf("%d requests kept, the oldest of %d bytes", len(many.requests), many.requests[0].bytes)
	}
}
