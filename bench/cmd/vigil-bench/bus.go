package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/sinks"
)

// bus is the NATS side of the benchmark: an embedded server as `vigil run`
// starts by default, the connection vigil publishes on, and a subscriber on
// its own connection that checks every message arrives and when.
type bus struct {
	srv *sinks.Embedded
	pub *nats.Conn
	sub *nats.Conn

	mu        sync.Mutex
	delivered []time.Duration // capture → received by the subscriber
	undecoded int
	// countOnly makes the subscriber count messages without decoding them,
	// so that its allocations stay out of the memory run's numbers.
	countOnly atomic.Bool
	counted   atomic.Int64
}

func startBus(log zerolog.Logger) (*bus, error) {
	srv, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Port: -1, Logger: log})
	if err != nil {
		return nil, err
	}
	b := &bus{srv: srv}
	if b.pub, err = sinks.Connect(sinks.ConnOptions{URL: srv.ClientURL(), Name: "vigil-bench", Logger: log}); err != nil {
		b.Close()
		return nil, err
	}
	if b.sub, err = nats.Connect(srv.ClientURL(), nats.Name("vigil-bench-subscriber")); err != nil {
		b.Close()
		return nil, fmt.Errorf("subscriber: connect to NATS %s: %w", srv.ClientURL(), err)
	}
	subject := sinks.TracksSubject(sinks.DefaultPrefix, "*")
	if _, err := b.sub.Subscribe(subject, b.receive); err != nil {
		b.Close()
		return nil, fmt.Errorf("subscriber: subscribe %s: %w", subject, err)
	}
	if err := b.sub.Flush(); err != nil { // the subscription is in place before anything is published
		b.Close()
		return nil, fmt.Errorf("subscriber: flush: %w", err)
	}
	return b, nil
}

func (b *bus) receive(msg *nats.Msg) {
	if b.countOnly.Load() {
		b.counted.Add(1)
		return
	}
	now := time.Now()
	var m sinks.TracksMessage
	err := json.Unmarshal(msg.Data, &m)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil || m.Schema != sinks.TracksSchema {
		b.undecoded++
		return
	}
	b.delivered = append(b.delivered, now.Sub(m.CapturedAt))
}

// publisher starts a tracks publisher on the vigil connection; Close it to
// send what it holds.
func (b *bus) publisher(log zerolog.Logger) (*sinks.TracksPublisher, error) {
	p, err := sinks.NewTracksPublisher(b.pub, sinks.PublisherOptions{Logger: log})
	if err != nil {
		return nil, err
	}
	go p.Run(context.Background())
	return p, nil
}

// take waits until want messages were delivered since the last take (or
// deliveryWait passes), and returns their latencies and how many failed to
// decode.
func (b *bus) take(want int) ([]time.Duration, int) {
	const deliveryWait = 5 * time.Second
	b.sub.FlushTimeout(deliveryWait)
	deadline := time.Now().Add(deliveryWait)
	for {
		b.mu.Lock()
		n := len(b.delivered) + b.undecoded + int(b.counted.Load())
		b.mu.Unlock()
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	got, bad := b.delivered, b.undecoded
	b.delivered, b.undecoded = nil, 0
	return got, bad
}

// Close closes both connections and stops the server.
func (b *bus) Close() {
	if b.sub != nil {
		b.sub.Close()
	}
	if b.pub != nil {
		b.pub.Close()
	}
	b.srv.Shutdown()
}
