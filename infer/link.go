package infer

import (
	"slices"
	"sync"
	"time"
)

// LinkEstimate is what a Remote has measured of the link to its servers,
// over its recent window.
type LinkEstimate struct {
	// RTT is the least round trip of the recent probes: small requests
	// whose replies come at once, the server's time taken out.
	RTT time.Duration
	// BitsPerSecond is the requests' effective rate: a request's bytes
	// over the part of its round trip that is neither the server's time
	// (the reply's took) nor RTT; the median over the window. A transfer
	// too quick to tell from the RTT counts as MaxRate.
	BitsPerSecond float64
	Requests      int // answered requests in the window
	Probes        int // answered probes in the window
}

// Known says whether the estimate has both a round trip and a rate.
func (e LinkEstimate) Known() bool { return e.Probes > 0 && e.Requests > 0 }

// MaxRate is the highest rate a link estimate says: a request's
// transfer is then too quick to tell from the round trip's jitter.
const MaxRate = 100e9

// Windows of a link estimate: samples older than linkWindow are dropped,
// and at most so many are kept (the newest).
const (
	linkWindow      = 2 * time.Minute
	maxLinkRequests = 256
	maxLinkProbes   = 64
)

// linkSample is one answered request: its bytes (0 for a probe) and its
// round trip less the server's time.
type linkSample struct {
	at    time.Time
	bytes int
	net   time.Duration
}

// link keeps a Remote's recent samples. A minimum over a window follows
// the path's round trip without its queueing spikes, and a median rate
// does not move for one slow reply; a request's own round trip alone
// mixes both.
type link struct {
	mu       sync.Mutex
	requests []linkSample
	probes   []linkSample
}

// add records an answered request of bytes, sent at, whose round trip
// was rtt and whose server took took. bytes 0 is a probe.
func (l *link) add(at time.Time, bytes int, rtt, took time.Duration) {
	s := linkSample{at: at, bytes: bytes, net: max(rtt-took, 0)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if bytes == 0 {
		l.probes = appendWindow(l.probes, s, maxLinkProbes)
	} else {
		l.requests = appendWindow(l.requests, s, maxLinkRequests)
	}
}

func appendWindow(w []linkSample, s linkSample, limit int) []linkSample {
	if len(w) == limit {
		w = append(w[:0], w[1:]...)
	}
	return append(w, s)
}

// estimate is the link as measured by the samples of the window up to
// now.
func (l *link) estimate(now time.Time) LinkEstimate {
	l.mu.Lock()
	defer l.mu.Unlock()
	from := now.Add(-linkWindow)
	l.probes = dropBefore(l.probes, from)
	l.requests = dropBefore(l.requests, from)
	var e LinkEstimate
	e.Probes, e.Requests = len(l.probes), len(l.requests)
	if e.Probes == 0 {
		return e
	}
	e.RTT = l.probes[0].net
	for _, p := range l.probes[1:] {
		e.RTT = min(e.RTT, p.net)
	}
	if e.Requests == 0 {
		return e
	}
	// Seconds a bit, so that a transfer hidden in the jitter (0) sorts
	// as the fastest rather than dividing by zero.
	perBit := make([]float64, len(l.requests))
	for i, r := range l.requests {
		perBit[i] = max(r.net-e.RTT, 0).Seconds() / float64(8*r.bytes)
	}
	slices.Sort(perBit)
	m := perBit[len(perBit)/2]
	if len(perBit)%2 == 0 {
		m = (m + perBit[len(perBit)/2-1]) / 2
	}
	e.BitsPerSecond = MaxRate
	if m > 1/MaxRate {
		e.BitsPerSecond = 1 / m
	}
	return e
}

func dropBefore(w []linkSample, from time.Time) []linkSample {
	i := 0
	for i < len(w) && w[i].at.Before(from) {
		i++
	}
	return append(w[:0], w[i:]...)
}
