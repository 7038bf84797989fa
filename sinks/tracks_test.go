package sinks

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// msgWait bounds how long a test waits for a message that should arrive; it
// only turns a hang into a failure.
const msgWait = 10 * time.Second

func frame(camera string, seq uint64, at time.Time, objects []Object) *TracksMessage {
	return &TracksMessage{
		Camera:     camera,
		Seq:        seq,
		CapturedAt: at,
		Width:      768,
		Height:     576,
		Objects:    objects,
		TimingsMS:  map[string]float64{"infer": 12.5, "total": 20.25},
	}
}

func subscribe(t *testing.T, nc *nats.Conn, subject string) *nats.Subscription {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the server knows the interest before we publish
		t.Fatal(err)
	}
	return sub
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func TestTracksPublisherDeliversInOrder(t *testing.T) {
	const n = 200
	e := startNATS(t)
	nc := connect(t, e.ClientURL())
	sub := subscribe(t, connect(t, e.ClientURL()), "vigil.cam1.tracks")

	reg := prometheus.NewRegistry()
	p, err := NewTracksPublisher(nc, PublisherOptions{QueueSize: n, Registerer: reg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()

	base := time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)
	sent := make([]*TracksMessage, n)
	for i := range n {
		var objs []Object // nil on even frames: must still arrive as []
		if i%2 == 1 {
			objs = []Object{{TrackID: uint64(i), Class: 0, Label: "person", Score: 0.9, Box: Box{X: 1, Y: 2, W: 30, H: 60}}}
		}
		sent[i] = frame("cam1", uint64(i), base.Add(time.Duration(i)*time.Nanosecond), objs)
		if !p.Publish(sent[i]) {
			t.Fatalf("Publish(seq %d) dropped with queue size %d", i, n)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}

	for i := range n {
		msg, err := sub.NextMsg(msgWait)
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, n, err)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(msg.Data, &raw); err != nil {
			t.Fatalf("message %d is not JSON: %v: %s", i, err, msg.Data)
		}
		if got := string(raw["objects"]); sent[i].Objects == nil && got != "[]" {
			t.Errorf("seq %d: objects = %s, want []", i, got)
		}
		var capturedAt string
		if err := json.Unmarshal(raw["captured_at"], &capturedAt); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339Nano, capturedAt)
		if err != nil {
			t.Fatalf("seq %d: captured_at %q is not RFC 3339: %v", i, capturedAt, err)
		}
		if !at.Equal(sent[i].CapturedAt) {
			t.Errorf("seq %d: captured_at %s, want %s (ns lost?)", i, at.Format(time.RFC3339Nano), sent[i].CapturedAt.Format(time.RFC3339Nano))
		}

		var got TracksMessage
		if err := json.Unmarshal(msg.Data, &got); err != nil {
			t.Fatal(err)
		}
		if got.Schema != TracksSchema || got.Camera != "cam1" || got.Seq != uint64(i) {
			t.Fatalf("message %d: schema %q camera %q seq %d; want %q cam1 %d", i, got.Schema, got.Camera, got.Seq, TracksSchema, i)
		}
		if got.Width != 768 || got.Height != 576 || got.TimingsMS["total"] != 20.25 {
			t.Errorf("seq %d: size %dx%d timings %v", i, got.Width, got.Height, got.TimingsMS)
		}
		if len(got.Objects) != len(sent[i].Objects) || (len(got.Objects) == 1 && got.Objects[0] != sent[i].Objects[0]) {
			t.Errorf("seq %d: objects %+v, want %+v", i, got.Objects, sent[i].Objects)
		}
	}
	if msg, err := sub.NextMsg(50 * time.Millisecond); err == nil {
		t.Errorf("extra message after %d: %s", n, msg.Data)
	}

	if s := p.Stats(); s != (PublishStats{Published: n}) {
		t.Errorf("Stats = %+v, want Published %d only", s, n)
	}
	if v := counterValue(t, reg, "vigil_nats_published_total"); v != n {
		t.Errorf("vigil_nats_published_total = %v, want %d", v, n)
	}
}

func TestTracksPublisherWithoutNATSNeverBlocks(t *testing.T) {
	const n = 10000
	nc := connect(t, natsURL(freePort(t)))
	if nc.IsConnected() {
		t.Fatal("connected to a port where nothing listens")
	}
	p, err := NewTracksPublisher(nc, PublisherOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()

	queued := 0
	for i := range n {
		if p.Publish(frame("cam1", uint64(i), time.Now(), nil)) {
			queued++
		}
	}
	if got := p.Stats().Dropped; got != uint64(n-queued) || queued != 0 {
		t.Errorf("Dropped = %d with %d queued, want %d dropped and nothing queued while disconnected", got, queued, n)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Errorf("Run: %v", err)
	}
	if s := p.Stats(); s.Published != 0 || s.Dropped != n {
		t.Errorf("Stats after Close = %+v, want all %d dropped", s, n)
	}
}

func TestTracksPublisherFullQueueDrops(t *testing.T) {
	const size, n = 4, 10
	e := startNATS(t)
	nc := connect(t, e.ClientURL())
	sub := subscribe(t, nc, "site.a.cam2.tracks")
	reg := prometheus.NewRegistry()
	p, err := NewTracksPublisher(nc, PublisherOptions{Prefix: "site.a", QueueSize: size, Registerer: reg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}

	// Run is not started: nothing leaves the queue.
	for i := range n {
		want := i < size
		if got := p.Publish(frame("cam2", uint64(i), time.Now(), nil)); got != want {
			t.Fatalf("Publish(seq %d) = %v, want %v", i, got, want)
		}
	}
	if s := p.Stats(); s != (PublishStats{Dropped: n - size}) {
		t.Fatalf("Stats = %+v, want %d dropped", s, n-size)
	}
	if v := counterValue(t, reg, "vigil_nats_dropped_total"); v != n-size {
		t.Errorf("vigil_nats_dropped_total = %v, want %d", v, n-size)
	}

	// Close sends what was queued, in order.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range size {
		msg, err := sub.NextMsg(msgWait)
		if err != nil {
			t.Fatalf("queued message %d: %v", i, err)
		}
		var got TracksMessage
		if err := json.Unmarshal(msg.Data, &got); err != nil {
			t.Fatal(err)
		}
		if got.Seq != uint64(i) {
			t.Fatalf("message %d has seq %d", i, got.Seq)
		}
	}
	if s := p.Stats(); s != (PublishStats{Published: size, Dropped: n - size}) {
		t.Errorf("Stats after Close = %+v", s)
	}
}

func TestTracksPublisherClose(t *testing.T) {
	e := startNATS(t)
	nc := connect(t, e.ClientURL())
	p, err := NewTracksPublisher(nc, PublisherOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if p.Publish(frame("cam1", 1, time.Now(), nil)) {
		t.Error("Publish after Close accepted the message")
	}
	if err := p.Run(context.Background()); err != nil {
		t.Errorf("Run after Close: %v", err)
	}
	if got := p.Stats().Dropped; got != 1 {
		t.Errorf("Dropped = %d, want 1", got)
	}
	if !nc.IsConnected() {
		t.Error("Close closed the caller's connection")
	}
}

func TestTracksPublisherRunStopsOnContext(t *testing.T) {
	e := startNATS(t)
	nc := connect(t, e.ClientURL())
	sub := subscribe(t, nc, "vigil.cam3.tracks")
	p, err := NewTracksPublisher(nc, PublisherOptions{QueueSize: 8, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		p.Publish(frame("cam3", uint64(i), time.Now(), nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // already done: Run must still send what is queued
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().Published; got != 8 {
		t.Errorf("Published = %d, want the 8 queued", got)
	}
	if err := p.Run(context.Background()); err == nil {
		t.Error("second Run returned nil, want an error")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if _, err := sub.NextMsg(msgWait); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

func TestNewTracksPublisherRejectsBadOptions(t *testing.T) {
	e := startNATS(t)
	nc := connect(t, e.ClientURL())
	for _, tc := range []struct {
		name string
		nc   *nats.Conn
		o    PublisherOptions
		want string
	}{
		{"no connection", nil, PublisherOptions{}, "no NATS connection"},
		{"negative queue", nc, PublisherOptions{QueueSize: -1}, "queue size -1"},
		{"wildcard prefix", nc, PublisherOptions{Prefix: "vigil.*"}, `"vigil.*"`},
		{"empty token", nc, PublisherOptions{Prefix: "vigil..x"}, "empty token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTracksPublisher(tc.nc, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPublishersShareMetrics(t *testing.T) {
	e := startNATS(t)
	nc := connect(t, e.ClientURL())
	reg := prometheus.NewRegistry()
	for range 2 {
		p, err := NewTracksPublisher(nc, PublisherOptions{QueueSize: 1, Registerer: reg})
		if err != nil {
			t.Fatalf("second publisher on one registry: %v", err)
		}
		p.Publish(frame("cam1", 0, time.Now(), nil))
		p.Publish(frame("cam1", 1, time.Now(), nil)) // queue of 1: dropped
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if v := counterValue(t, reg, "vigil_nats_dropped_total"); v != 2 {
		t.Errorf("vigil_nats_dropped_total = %v, want 2", v)
	}
	if v := counterValue(t, reg, "vigil_nats_published_total"); v != 2 {
		t.Errorf("vigil_nats_published_total = %v, want 2", v)
	}
}

func TestTracksMessageJSON(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, tc := range []struct {
		name string
		m    TracksMessage
		want string
	}{
		{
			"empty collections",
			TracksMessage{Camera: "c", Seq: 7, CapturedAt: at, Width: 2, Height: 1},
			`{"schema":"vigil.tracks/v1","camera":"c","seq":7,"captured_at":"2025-01-02T03:04:05.000000006Z","width":2,"height":1,"objects":[],"timings_ms":{},"detected":false}`,
		},
		{
			"one object",
			TracksMessage{Schema: TracksSchema, Camera: "c", CapturedAt: at,
				Objects:   []Object{{TrackID: 3, Class: 2, Label: "car", Score: 0.5, Box: Box{X: 1, Y: 2, W: 3, H: 4}}},
				TimingsMS: map[string]float64{"total": 1.5}, Detected: true, Gate: "motion", Motion: ptr(0.25)},
			`{"schema":"vigil.tracks/v1","camera":"c","seq":0,"captured_at":"2025-01-02T03:04:05.000000006Z","width":0,"height":0,"objects":[{"track_id":3,"class":2,"label":"car","score":0.5,"box":{"x":1,"y":2,"w":3,"h":4}}],"timings_ms":{"total":1.5},"detected":true,"gate":"motion","motion":0.25}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []any{tc.m, &tc.m} {
				got, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tc.want {
					t.Errorf("Marshal(%T)\n got %s\nwant %s", v, got, tc.want)
				}
			}
		})
	}
	if got := TracksSubject("vigil", "cam1"); got != "vigil.cam1.tracks" {
		t.Errorf("TracksSubject = %q", got)
	}
}

// fakeClock is advanced by the test; the warner reads it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestDropWarningIsRateLimited(t *testing.T) {
	var buf syncBuffer
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	w := dropWarner{log: zerolog.New(&buf), now: clock.Now, every: dropWarnEvery}

	lines := func() []map[string]any {
		var out []map[string]any
		for l := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}

	w.dropped("queue full") // the first drop is reported at once
	for range 99 {
		w.dropped("queue full")
	}
	clock.Advance(dropWarnEvery - time.Nanosecond)
	w.dropped("queue full")
	if got := len(lines()); got != 1 {
		t.Fatalf("%d warnings within one period, want 1:\n%s", got, buf.String())
	}
	clock.Advance(time.Nanosecond)
	w.dropped("NATS not connected")
	got := lines()
	if len(got) != 2 {
		t.Fatalf("%d warnings after one period, want 2:\n%s", len(got), buf.String())
	}
	if got[0]["dropped"] != 1.0 || got[1]["dropped"] != 101.0 || got[1]["reason"] != "NATS not connected" {
		t.Errorf("warnings %v, want dropped 1 then 101 (NATS not connected)", got)
	}
	if msg, _ := got[1]["message"].(string); !strings.Contains(msg, "101 since last report") {
		t.Errorf("message %q does not say how many were dropped", msg)
	}

	w.dropped("queue full")
	w.flush() // Close reports what the period swallowed
	if n := len(lines()); n != 3 {
		t.Errorf("%d warnings after flush, want 3", n)
	}
}

// TestTracksPublisherFences: in a fleet, a frame goes out only while the
// node holds the camera's lease, both when it is queued and when it is
// sent, and carries the node and the epoch.
func TestTracksPublisherFences(t *testing.T) {
	e := startNATS(t)
	nc := connect(t, e.ClientURL())
	sub := subscribe(t, nc, "vigil.*.tracks")
	var mu sync.Mutex
	epochs := map[string]uint64{"held": 7}
	fence := func(camera string) (uint64, bool) {
		mu.Lock()
		defer mu.Unlock()
		ep, ok := epochs[camera]
		return ep, ok
	}
	reg := prometheus.NewRegistry()
	p, err := NewTracksPublisher(nc, PublisherOptions{Fence: fence, Node: "box-2", Registerer: reg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Publish(frame("held", 1, time.Now(), nil)) {
		t.Fatal("a held camera's frame refused")
	}
	if p.Publish(frame("other", 1, time.Now(), nil)) {
		t.Error("a frame of a camera not held was queued")
	}
	// Queued under epoch 7; the lease is lost, then taken again under 9,
	// before the frame is sent: it must not go out (its epoch is over).
	if !p.Publish(frame("held", 2, time.Now(), nil)) {
		t.Fatal("refused")
	}
	mu.Lock()
	epochs["held"] = 9
	mu.Unlock()
	if !p.Publish(frame("held", 3, time.Now(), nil)) {
		t.Fatal("refused")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(msgWait)
	if err != nil {
		t.Fatal(err)
	}
	var got TracksMessage
	if err := json.Unmarshal(msg.Data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Seq != 3 || got.LeaseEpoch != 9 || got.Node != "box-2" {
		t.Errorf("sent %+v; want seq 3 of epoch 9 from box-2 only", got)
	}
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("more was sent: %s", m.Data)
	}
	if s := p.Stats(); s.Published != 1 || s.Fenced != 3 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
	if v := counterValue(t, reg, "vigil_nats_fenced_total"); v != 3 {
		t.Errorf("vigil_nats_fenced_total = %v", v)
	}
}
func ptr[T any](v T) *T { return &v }
