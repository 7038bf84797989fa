package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// arrival is one tracks message as first received.
type arrival struct {
	node  string
	epoch uint64
	seq   uint64
	at    time.Time
}

// staleFrame is a message of a lower lease epoch than one already received
// for its camera: a former owner publishing after the new one began.
type staleFrame struct {
	camera, node string
	epoch, seq   uint64
	at           time.Time
	newer        arrival // the first message of the highest epoch seen before it
}

// recorder receives every tracks message through a connection to each
// server of the cluster, so that none is missed while one server is down,
// and counts each message once.
type recorder struct {
	mu       sync.Mutex
	seen     map[string]bool
	msgs     map[string][]arrival // by camera, in order of arrival
	top      map[string]arrival   // by camera: first message of the highest epoch
	total    int
	unfenced int // no node or no lease_epoch
	bad      int // not a tracks message
	stale    []staleFrame
	conns    []*nats.Conn
}

func newRecorder() *recorder {
	return &recorder{seen: map[string]bool{}, msgs: map[string][]arrival{}, top: map[string]arrival{}}
}

// subscribe connects to url (that server only: it reconnects there when the
// server comes back) and records the tracks subjects.
func (r *recorder) subscribe(url, subject string) error {
	nc, err := nats.Connect(url, nats.IgnoreDiscoveredServers(), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true), nats.Name("fleet-bench"))
	if err != nil {
		return fmt.Errorf("connect %s: %w", url, err)
	}
	r.conns = append(r.conns, nc)
	if _, err := nc.Subscribe(subject, r.receive); err != nil {
		return fmt.Errorf("subscribe %s at %s: %w", subject, url, err)
	}
	return nil
}

func (r *recorder) close() {
	for _, nc := range r.conns {
		nc.Close()
	}
}

func (r *recorder) receive(m *nats.Msg) {
	at := time.Now()
	var tm struct {
		Camera     string    `json:"camera"`
		Seq        uint64    `json:"seq"`
		CapturedAt time.Time `json:"captured_at"`
		Node       string    `json:"node"`
		LeaseEpoch uint64    `json:"lease_epoch"`
	}
	err := json.Unmarshal(m.Data, &tm)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || tm.Camera == "" {
		r.bad++
		return
	}
	key := fmt.Sprintf("%s|%s|%d|%d|%d", tm.Camera, tm.Node, tm.LeaseEpoch, tm.Seq, tm.CapturedAt.UnixNano())
	if r.seen[key] {
		return // the same message through another server
	}
	r.seen[key] = true
	r.total++
	if tm.Node == "" || tm.LeaseEpoch == 0 {
		r.unfenced++
	}
	a := arrival{node: tm.Node, epoch: tm.LeaseEpoch, seq: tm.Seq, at: at}
	r.msgs[tm.Camera] = append(r.msgs[tm.Camera], a)
	if tm.LeaseEpoch == 0 {
		return // no epoch to compare: counted as unfenced
	}
	top, ok := r.top[tm.Camera]
	switch {
	case !ok || tm.LeaseEpoch > top.epoch:
		r.top[tm.Camera] = a
	case tm.LeaseEpoch < top.epoch:
		r.stale = append(r.stale, staleFrame{camera: tm.Camera, node: tm.Node, epoch: tm.LeaseEpoch, seq: tm.Seq, at: at, newer: top})
	}
}

// last is the camera's latest message.
func (r *recorder) last(camera string) (arrival, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.msgs[camera]
	if len(m) == 0 {
		return arrival{}, false
	}
	return m[len(m)-1], true
}

// firstFromOther is the camera's first message after t from a node other
// than not.
func (r *recorder) firstFromOther(camera, not string, t time.Time) (arrival, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.msgs[camera] {
		if a.at.After(t) && a.node != not {
			return a, true
		}
	}
	return arrival{}, false
}

// countFrom is how many of the camera's messages came from node after t.
func (r *recorder) countFrom(camera, node string, t time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.msgs[camera] {
		if a.node == node && a.at.After(t) {
			n++
		}
	}
	return n
}

func (r *recorder) counts() (total, unfenced, bad int, stale []staleFrame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total, r.unfenced, r.bad, append([]staleFrame(nil), r.stale...)
}

// moveGaps are, for every change of the node publishing a camera, the
// seconds from the last message of the former node to the first of the
// new one; changes that caused claims are left out.
func (r *recorder) moveGaps(caused func(lastOld, firstNew time.Time) bool) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gaps []float64
	for _, m := range r.msgs {
		for i := 1; i < len(m); i++ {
			if m[i].node != m[i-1].node && !caused(m[i-1].at, m[i].at) {
				gaps = append(gaps, m[i].at.Sub(m[i-1].at).Seconds())
			}
		}
	}
	return gaps
}

// maxGap is the longest time the camera went without a message between
// from and to; a silence under way at to lasts until its next message.
func (r *recorder) maxGap(camera string, from, to time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gap time.Duration
	prev := from
	for _, a := range r.msgs[camera] {
		if a.at.Before(from) {
			prev = a.at
			continue
		}
		if a.at.After(to) {
			return max(gap, a.at.Sub(prev))
		}
		gap = max(gap, a.at.Sub(prev))
		prev = a.at
	}
	return max(gap, to.Sub(prev))
}

// streamLeader is the server that leads a stream's replicas now, and
// their count, asked through the first connection that answers; "?" when
// none does.
func (r *recorder) streamLeader(stream string) (string, int) {
	for _, nc := range r.conns {
		if !nc.IsConnected() {
			continue
		}
		js, err := jetstream.New(nc)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := js.Stream(ctx, stream)
		cancel()
		if err != nil {
			continue
		}
		if c := s.CachedInfo().Cluster; c != nil {
			return c.Leader, s.CachedInfo().Config.Replicas
		}
	}
	return "?", 0
}
