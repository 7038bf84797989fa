package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/internal/natstest"
	"github.com/vigil-vision/vigil/rules"
	"github.com/vigil-vision/vigil/track"
)

func startServer(t *testing.T, port int, store string) *server.Server {
	return natstest.StartAt(t, "alerts-test", port, store)
}

func freePort(t *testing.T) int { return natstest.FreePort(t) }

func connect(t *testing.T, url string) *nats.Conn { return natstest.Reconnecting(t, url) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a hang guard, not a timing assertion
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// streamMessages reads every message of the events stream, in order.
func streamMessages(t *testing.T, nc *nats.Conn) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := int(info.State.Msgs)
	if n == 0 {
		return nil
	}
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		out = append(out, m)
	}
	return out
}

func newPublisher(t *testing.T, nc *nats.Conn, dir string) (*Publisher, *Spool, context.CancelFunc) {
	t.Helper()
	sp, err := OpenSpool(SpoolOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPublisher(PublisherOptions{Conn: nc, Spool: sp, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		PublishTimeout: time.Second, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	stop := func() { cancel(); <-done; sp.Close() }
	t.Cleanup(stop)
	return p, sp, stop
}

func event(n int) Message {
	return Message{Camera: "walkway", Rule: "door", Kind: rules.KindLine, Type: rules.TypeLineCross, Direction: "in",
		TrackID: uint64(n), Seq: uint64(n), Time: time.Now().UTC(), Counts: map[string]int64{"in": int64(n)}}
}

// checkInOrder says whether msgs are events 1..n, each once, in order.
func checkInOrder(t *testing.T, msgs []jetstream.Msg, n int) {
	t.Helper()
	if len(msgs) != n {
		t.Fatalf("stream holds %d events, want %d", len(msgs), n)
	}
	seen := map[string]bool{}
	for i, m := range msgs {
		var ev Message
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Seq != uint64(i+1) {
			t.Fatalf("stream message %d is event %d: out of order", i+1, ev.Seq)
		}
		if id := m.Headers().Get(jetstream.MsgIDHeader); id != ev.ID || seen[id] {
			t.Fatalf("message %d: Nats-Msg-Id %q, event id %q (seen before: %v)", i+1, id, ev.ID, seen[id])
		}
		seen[ev.ID] = true
	}
}

func TestNATSOutageLosesNothing(t *testing.T) {
	port, store := freePort(t), t.TempDir()
	srv := startServer(t, port, store)
	nc := connect(t, srv.ClientURL())
	p, _, _ := newPublisher(t, nc, t.TempDir())

	produced := 0
	produce := func(k int) {
		for range k {
			produced++
			if err := p.Accept(event(produced)); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(40)
	waitFor(t, "some events delivered", func() bool { return p.Stats().Published > 10 })
	srv.Shutdown() // the broker goes away while events keep coming
	srv.WaitForShutdown()
	produce(60)
	waitFor(t, "a failed publish", func() bool { return p.Stats().Errors > 0 })
	if st := p.Stats(); st.Pending == 0 {
		t.Fatalf("nothing pending while NATS is down: %+v", st)
	}
	startServer(t, port, store) // back, with its store
	produce(40)
	waitFor(t, "the spool to empty", func() bool { return p.Stats().Pending == 0 })

	checkInOrder(t, streamMessages(t, nc), produced)
	st := p.Stats()
	if st.Accepted != uint64(produced) || st.Dropped != 0 {
		t.Errorf("stats %+v, produced %d", st, produced)
	}
}

func TestSpoolIsDeliveredAfterAKill(t *testing.T) {
	port, store, spoolDir := freePort(t), t.TempDir(), t.TempDir()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	// vigil runs while NATS is not there yet, then is killed: its events
	// are only in the spool.
	nc1 := connect(t, url)
	p1, _, kill := newPublisher(t, nc1, spoolDir)
	for i := 1; i <= 25; i++ {
		if err := p1.Accept(event(i)); err != nil {
			t.Fatal(err)
		}
	}
	kill() // no flush
	nc1.Close()

	startServer(t, port, store)
	nc := connect(t, url)
	p2, _, stop := newPublisher(t, nc, spoolDir)
	waitFor(t, "the spool to empty", func() bool { return p2.Stats().Pending == 0 })
	checkInOrder(t, streamMessages(t, nc), 25)
	stop()

	// A crash between JetStream's ack and the spool's cursor write sends
	// again what was sent: the stream's duplicate window drops it all.
	if err := os.WriteFile(filepath.Join(spoolDir, cursorFile), make([]byte, 16), 0o644); err != nil {
		t.Fatal(err)
	}
	p3, _, _ := newPublisher(t, nc, spoolDir)
	waitFor(t, "the re-sent spool to empty", func() bool { return p3.Stats().Pending == 0 })
	if st := p3.Stats(); st.Published != 25 || st.Duplicates != 25 {
		t.Errorf("re-send stats %+v; want 25 published, all duplicates", st)
	}
	checkInOrder(t, streamMessages(t, nc), 25)
}

// scene drives a door (a line across y=100, A above) and a cell (a zone).
var scene = CameraRules{Camera: "walkway", Rules: []rules.Rule{
	{Name: "door", Kind: rules.KindLine, Points: []rules.Point{{X: 0, Y: 100}, {X: 200, Y: 100}}, Hysteresis: 5, AToB: "in", BToA: "out", Classes: []int{0}},
	{Name: "cell", Kind: rules.KindZone, Points: []rules.Point{{X: 300, Y: 100}, {X: 500, Y: 100}, {X: 500, Y: 300}, {X: 300, Y: 300}}, OccupancyThreshold: 1},
}}

func person(id uint64, x, y float64) track.Track {
	return track.Track{ID: id, Class: 0, Score: 0.8, Box: track.Box{X1: x - 10, Y1: y - 50, X2: x + 10, Y2: y}}
}

func startAlerts(t *testing.T, nc *nats.Conn, spoolDir string, restore bool) *Alerts {
	t.Helper()
	return startAlertsWith(t, Options{Conn: nc, Cameras: []CameraRules{scene}, Spool: SpoolOptions{Dir: spoolDir},
		RestoreCounts: restore, Registerer: prometheus.NewRegistry(), Logger: zerolog.Nop()})
}

func startAlertsWith(t *testing.T, o Options) *Alerts {
	t.Helper()
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(time.Second) })
	return a
}

func request(t *testing.T, nc *nats.Conn, body string) Reply {
	t.Helper()
	return requestOn(t, nc, "walkway", body)
}

func requestOn(t *testing.T, nc *nats.Conn, camera, body string) Reply {
	t.Helper()
	m, err := nc.Request(CommandSubject("vigil", camera), []byte(body), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r Reply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("reply %s: %v", m.Data, err)
	}
	return r
}

func kvCounts(t *testing.T, nc *nats.Conn, key string) CountsValue {
	t.Helper()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, DefaultCountsBucket)
	if err != nil {
		return CountsValue{}
	}
	e, err := kv.Get(ctx, key)
	if err != nil {
		return CountsValue{}
	}
	var v CountsValue
	json.Unmarshal(e.Value(), &v)
	return v
}

func TestEventsCountsAndCommands(t *testing.T) {
	srv := startServer(t, -1, t.TempDir())
	nc := connect(t, srv.ClientURL())
	spoolDir := t.TempDir()
	a := startAlerts(t, nc, spoolDir, false)
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	frames := [][]track.Track{
		{person(1, 100, 50), person(2, 250, 200)},
		{person(1, 100, 150), person(2, 400, 200)}, // 1 crosses in, 2 enters the cell
		{person(1, 100, 160), person(2, 600, 200)}, // 2 leaves
	}
	var sent []Message
	for i, f := range frames {
		sent = append(sent, a.Observe("walkway", uint64(i+1), t0.Add(time.Duration(i)*100*time.Millisecond), 768, 576, f, []string{"person"})...)
	}
	var types []string
	for _, m := range sent {
		types = append(types, m.Rule+" "+string(m.Type))
	}
	want := []string{"door line_cross", "cell zone_enter", "cell occupancy_reached", "cell zone_exit", "cell occupancy_cleared"}
	if !reflect.DeepEqual(types, want) {
		t.Fatalf("events %q, want %q", types, want)
	}
	waitFor(t, "publish", func() bool { return a.Stats().Published == uint64(len(want)) })

	msgs := streamMessages(t, nc)
	if len(msgs) != len(want) {
		t.Fatalf("%d on the stream", len(msgs))
	}
	for i, m := range msgs {
		var raw map[string]any
		if err := json.Unmarshal(m.Data(), &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"schema", "id", "camera", "rule", "kind", "type", "track_id", "class", "label", "score", "time", "seq", "counts"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("message %d lacks %q: %s", i, k, m.Data())
			}
		}
		if raw["schema"] != EventSchema || m.Subject() != "vigil.walkway.events."+sent[i].Rule || m.Headers().Get("Nats-Msg-Id") != sent[i].ID {
			t.Errorf("message %d: subject %s, id %s: %s", i, m.Subject(), m.Headers().Get("Nats-Msg-Id"), m.Data())
		}
	}
	var first Message
	json.Unmarshal(msgs[0].Data(), &first)
	if first.Direction != "in" || first.Label != "person" || first.TrackID != 1 || first.Counts["in"] != 1 || !first.Time.Equal(t0.Add(100*time.Millisecond)) || first.Seq != 2 {
		t.Errorf("crossing %+v", first)
	}

	waitFor(t, "counts in the bucket", func() bool { return kvCounts(t, nc, "walkway.door").Counts["in"] == 1 })
	if v := kvCounts(t, nc, "walkway.cell"); v.Counts["entered"] != 1 || v.Counts["exited"] != 1 || v.Occupancy != 0 || !v.Armed || v.Kind != rules.KindZone {
		t.Errorf("cell in the bucket %+v", v)
	}

	// Commands.
	r := request(t, nc, `{"cmd":"disarm","rule":"door"}`)
	if !r.OK || len(r.Rules) != 1 || r.Rules[0].Armed || r.Camera != "walkway" {
		t.Errorf("disarm: %+v", r)
	}
	waitFor(t, "disarmed in the bucket", func() bool { return !kvCounts(t, nc, "walkway.door").Armed })
	a.Observe("walkway", 4, t0.Add(400*time.Millisecond), 768, 576, []track.Track{person(1, 100, 50)}, nil)
	if r := request(t, nc, `{"cmd":"status","rule":"door"}`); !r.OK || r.Rules[0].Counts["out"] != 0 {
		t.Errorf("a disarmed rule counted: %+v", r)
	}
	if r := request(t, nc, `{"cmd":"arm","rule":"door"}`); !r.OK || !r.Rules[0].Armed {
		t.Errorf("arm: %+v", r)
	}
	if r := request(t, nc, `{"cmd":"reset"}`); !r.OK || len(r.Rules) != 2 || r.Rules[0].Counts["in"] != 0 || r.Rules[1].Counts["entered"] != 0 {
		t.Errorf("reset: %+v", r)
	}
	waitFor(t, "reset in the bucket", func() bool { return kvCounts(t, nc, "walkway.door").Counts["in"] == 0 })
	if r := request(t, nc, `{"cmd":"status"}`); !r.OK || len(r.Rules) != 2 {
		t.Errorf("status: %+v", r)
	}
	for body, want := range map[string]string{
		`{"cmd":"explode"}`:             `unknown command "explode"; use {"cmd":"arm|disarm"`,
		`{"cmd":"arm"}`:                 `arm needs a rule`,
		`{"cmd":"arm","rule":"window"}`: `unknown rule "window" on camera "walkway"; its rules: cell, door`,
		`status please`:                 `request is not a JSON command`,
	} {
		r := request(t, nc, body)
		if r.OK || !strings.Contains(r.Error, want) {
			t.Errorf("%s: %+v, want error %q", body, r, want)
		}
	}
}

func TestCountsContinueAfterRestart(t *testing.T) {
	srv := startServer(t, -1, t.TempDir())
	nc := connect(t, srv.ClientURL())
	a := startAlerts(t, nc, t.TempDir(), true)
	t0 := time.Now()
	for i, y := range []float64{50, 150, 50, 150} {
		a.Observe("walkway", uint64(i+1), t0.Add(time.Duration(i)*time.Second), 768, 576, []track.Track{person(1, 100, y)}, nil)
	}
	if err := a.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	b := startAlerts(t, nc, t.TempDir(), true)
	st, _ := b.Engine("walkway").State("door")
	if st.Counts["in"] != 2 || st.Counts["out"] != 1 {
		t.Errorf("counts after restart %v, want in 2, out 1", st.Counts)
	}
}
