package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/rules"
	"github.com/vigil-vision/vigil/track"
)

// owner stands in for one node's lease on a camera: the epoch it took the
// lease at, and whether the lease is valid now.
type owner struct {
	epoch atomic.Uint64
	held  atomic.Bool
}

func holding(epoch uint64) *owner {
	o := &owner{}
	o.epoch.Store(epoch)
	o.held.Store(true)
	return o
}

func (o *owner) fence(string) (uint64, bool) { return o.epoch.Load(), o.held.Load() }

// counter sums a counter's series in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// walker moves one person on a camera, a frame per position.
type walker struct {
	a   *Alerts
	cam string
	seq uint64
	t0  time.Time
}

func (w *walker) walk(id uint64, ys ...float64) []Message {
	var out []Message
	for _, y := range ys {
		w.seq++
		out = append(out, w.a.Observe(w.cam, w.seq, w.t0.Add(time.Duration(w.seq)*100*time.Millisecond), 768, 576,
			[]track.Track{person(id, 100, y)}, nil)...)
	}
	return out
}

func TestFencedCameraIsLeftAlone(t *testing.T) {
	srv := startServer(t, -1, t.TempDir())
	nc := connect(t, srv.ClientURL())
	lease := holding(7)
	a := startAlertsWith(t, Options{Conn: nc, Cameras: []CameraRules{{Camera: "yard", Rules: []rules.Rule{gate()}}},
		Spool: SpoolOptions{Dir: t.TempDir()}, Fence: lease.fence, Registerer: prometheus.NewRegistry(), Logger: zerolog.Nop()})
	w := &walker{a: a, cam: "yard", t0: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}

	// Held: events and counts carry the epoch.
	sent := w.walk(1, 50, 150)
	if len(sent) != 1 || sent[0].LeaseEpoch != 7 {
		t.Fatalf("crossing while held: %+v", sent)
	}
	waitFor(t, "the event on the stream", func() bool { return a.Stats().Published == 1 })
	var raw map[string]any
	if err := json.Unmarshal(streamMessages(t, nc)[0].Data(), &raw); err != nil || raw["lease_epoch"] != 7.0 {
		t.Errorf("event on the stream: %v, %v; want lease_epoch 7", raw, err)
	}
	waitFor(t, "the counts in the bucket", func() bool { return kvCounts(t, nc, "yard.gate").Counts["in"] == 1 })
	if v := kvCounts(t, nc, "yard.gate"); v.LeaseEpoch != 7 {
		t.Errorf("counts in the bucket %+v; want lease epoch 7", v)
	}

	// Fenced: the engine does not see the frames, nothing is sent or
	// stored, and commands are left to the owner.
	lease.held.Store(false)
	version := a.Engine("yard").Version()
	if got := w.walk(2, 50, 150, 50, 150); got != nil {
		t.Errorf("a fenced camera reported %+v", got)
	}
	if v := a.Engine("yard").Version(); v != version {
		t.Errorf("the fenced camera's engine changed: version %d, was %d", v, version)
	}
	if st, _ := a.Engine("yard").State("gate"); st.Counts["in"] != 1 {
		t.Errorf("the fenced camera counted: %v", st.Counts)
	}
	if _, err := nc.Request(CommandSubject("vigil", "yard"), []byte(`{"cmd":"reset"}`), 300*time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Errorf("reset of a fenced camera: %v; want no answer", err)
	}
	if st, _ := a.Engine("yard").State("gate"); st.Counts["in"] != 1 {
		t.Errorf("a fenced camera's reset ran: %v", st.Counts)
	}

	// Taken again, under a new epoch: it counts on, and says so.
	lease.epoch.Store(11)
	lease.held.Store(true)
	if r := requestOn(t, nc, "yard", `{"cmd":"status"}`); !r.OK {
		t.Errorf("status once held again: %+v", r)
	}
	if sent := w.walk(3, 50, 150); len(sent) != 1 || sent[0].Counts["in"] != 2 || sent[0].LeaseEpoch != 11 {
		t.Fatalf("crossing once held again: %+v", sent)
	}
	waitFor(t, "the new epoch's counts in the bucket", func() bool {
		v := kvCounts(t, nc, "yard.gate")
		return v.Counts["in"] == 2 && v.LeaseEpoch == 11
	})
	if st := a.Stats(); st.Accepted != 2 {
		t.Errorf("%d events accepted, want 2: none while fenced", st.Accepted)
	}

	// Standalone events do not mention an epoch.
	data, _ := json.Marshal(Message{Schema: EventSchema})
	if strings.Contains(string(data), "lease_epoch") {
		t.Errorf("an unfenced event says %s", data)
	}
}

// TestCountsKeepTheNewestOwners writes one key as owners of a camera come
// and go: a value never replaces one of a greater epoch.
func TestCountsKeepTheNewestOwners(t *testing.T) {
	srv := startServer(t, -1, t.TempDir())
	nc := connect(t, srv.ClientURL())
	js, _ := jetstream.New(nc)
	fenced := prometheus.NewCounter(prometheus.CounterOpts{Name: "fenced"})
	// Three nodes' writers.
	nodes := map[string]*countsWriter{}
	for _, n := range []string{"a", "b", "c"} {
		nodes[n] = newCountsWriter(js, DefaultCountsBucket, zerolog.Nop(), fenced)
	}
	ctx := context.Background()

	steps := []struct {
		what      string
		node      string
		epoch, in uint64
		delete    bool   // delete the key first
		want      uint64 // stored epoch after the write
		wantIn    int64
		wantFence float64 // dropped writes so far
	}{
		{what: "first owner creates the key", node: "a", epoch: 5, in: 3, want: 5, wantIn: 3},
		{what: "first owner updates its own value", node: "a", epoch: 5, in: 4, want: 5, wantIn: 4},
		{what: "new owner takes over", node: "b", epoch: 9, in: 5, want: 9, wantIn: 5},
		{what: "old owner's late write is dropped", node: "a", epoch: 5, in: 6, want: 9, wantIn: 5, wantFence: 1},
		{what: "and again, with no revision left", node: "a", epoch: 5, in: 7, want: 9, wantIn: 5, wantFence: 2},
		{what: "new owner writes on", node: "b", epoch: 9, in: 8, want: 9, wantIn: 8, wantFence: 2},
		{what: "old node takes the camera back", node: "a", epoch: 12, in: 9, want: 12, wantIn: 9, wantFence: 2},
		{what: "a third node, late", node: "c", epoch: 9, in: 10, want: 12, wantIn: 9, wantFence: 3},
		{what: "key deleted: created again", node: "a", epoch: 12, in: 11, delete: true, want: 12, wantIn: 11, wantFence: 3},
		{what: "standalone writes as before", node: "c", epoch: 0, in: 12, want: 0, wantIn: 12, wantFence: 3},
		{what: "a fleet node overwrites a standalone value", node: "b", epoch: 9, in: 13, want: 9, wantIn: 13, wantFence: 3},
	}
	for _, s := range steps {
		if s.delete {
			kv, err := js.KeyValue(ctx, DefaultCountsBucket)
			if err != nil {
				t.Fatal(err)
			}
			if err := kv.Delete(ctx, "yard.gate"); err != nil {
				t.Fatal(err)
			}
		}
		w := nodes[s.node]
		w.set(CountsValue{Schema: CountsSchema, Camera: "yard", Rule: "gate", Kind: rules.KindLine,
			Counts: map[string]int64{"in": int64(s.in)}, LeaseEpoch: s.epoch})
		if err := w.flush(ctx); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		v := kvCounts(t, nc, "yard.gate")
		if v.LeaseEpoch != s.want || v.Counts["in"] != s.wantIn {
			t.Errorf("%s: stored epoch %d, in %d; want epoch %d, in %d", s.what, v.LeaseEpoch, v.Counts["in"], s.want, s.wantIn)
		}
		if got := testutil.ToFloat64(fenced); got != s.wantFence {
			t.Errorf("%s: %v writes dropped, want %v", s.what, got, s.wantFence)
		}
	}
}

// TestCountsFollowTheCameraToAnotherNode moves a camera from one node to
// another: the new owner continues its counts, and the old owner's late
// counts do not replace them.
func TestCountsFollowTheCameraToAnotherNode(t *testing.T) {
	srv := startServer(t, -1, t.TempDir())
	nc := connect(t, srv.ClientURL())
	node := func(lease *owner, cams []CameraRules) (*Alerts, *prometheus.Registry) {
		reg := prometheus.NewRegistry()
		return startAlertsWith(t, Options{Conn: nc, Cameras: cams, Spool: SpoolOptions{Dir: t.TempDir()},
			RestoreCounts: true, Fence: lease.fence, Registerer: reg, Logger: zerolog.Nop()}), reg
	}
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

	// Node A runs the yard at epoch 5: in 2, out 1.
	leaseA := holding(5)
	a, regA := node(leaseA, []CameraRules{{Camera: "yard", Rules: []rules.Rule{gate()}}})
	wa := &walker{a: a, cam: "yard", t0: t0}
	wa.walk(1, 50, 150, 50, 150)
	waitFor(t, "node A's counts in the bucket", func() bool {
		v := kvCounts(t, nc, "yard.gate")
		return v.Counts["in"] == 2 && v.Counts["out"] == 1 && v.LeaseEpoch == 5
	})

	// Node B takes the lease at epoch 9 and adds the camera: it starts
	// from A's counts and stores them as its own.
	b, _ := node(holding(9), nil)
	if err := b.SetRules("yard", []rules.Rule{gate()}); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.Engine("yard").State("gate"); st.Counts["in"] != 2 || st.Counts["out"] != 1 {
		t.Fatalf("node B's counts %v, want in 2, out 1", st.Counts)
	}
	waitFor(t, "node B's counts in the bucket", func() bool { return kvCounts(t, nc, "yard.gate").LeaseEpoch == 9 })
	wb := &walker{a: b, cam: "yard", t0: t0.Add(time.Minute)}
	if sent := wb.walk(7, 50, 150); len(sent) != 1 || sent[0].Counts["in"] != 3 || sent[0].LeaseEpoch != 9 {
		t.Fatalf("node B's crossing: %+v", sent)
	}
	waitFor(t, "node B's crossing in the bucket", func() bool { return kvCounts(t, nc, "yard.gate").Counts["in"] == 3 })

	// Node A has not yet learnt that its lease is gone: its late
	// crossings are published under epoch 5 (consumers fence them), but
	// its counts do not reach the bucket.
	if sent := wa.walk(1, 50, 150); len(sent) != 2 || sent[0].LeaseEpoch != 5 || sent[1].Counts["in"] != 3 {
		t.Fatalf("node A's late events: %+v", sent)
	}
	if err := a.Close(5 * time.Second); err != nil { // every pending write tried
		t.Fatal(err)
	}
	if n := counter(t, regA, "vigil_alerts_counts_fenced_total"); n < 1 {
		t.Errorf("node A's dropped counts: %v, want at least 1", n)
	}
	if v := kvCounts(t, nc, "yard.gate"); v.LeaseEpoch != 9 || v.Counts["in"] != 3 || v.Counts["out"] != 1 {
		t.Errorf("the bucket after node A's late counts (in 3, out 2): %+v; want node B's (epoch 9, in 3, out 1)", v)
	}
}

// TestCountsLoadedLateAreAdded: a camera added while its stored counts
// cannot be loaded (JetStream electing a leader after its node died)
// counts on without storing, so the stored counts survive, and adds them
// once they load.
func TestCountsLoadedLateAreAdded(t *testing.T) {
	srv := startServer(t, -1, t.TempDir())
	nc := connect(t, srv.ClientURL())
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	a := startAlertsWith(t, Options{Conn: nc, Cameras: []CameraRules{{Camera: "yard", Rules: []rules.Rule{gate()}}},
		Spool: SpoolOptions{Dir: t.TempDir()}, RestoreCounts: true, Fence: holding(5).fence, Logger: zerolog.Nop()})
	(&walker{a: a, cam: "yard", t0: t0}).walk(1, 50, 150, 50, 150)
	waitFor(t, "the first owner's counts in the bucket", func() bool {
		v := kvCounts(t, nc, "yard.gate")
		return v.Counts["in"] == 2 && v.Counts["out"] == 1
	})
	a.Close(5 * time.Second)

	// The next owner's first load cannot finish in time (1ns): it counts
	// one crossing meanwhile, stores nothing, then adds the stored counts.
	b := startAlertsWith(t, Options{Conn: nc, Spool: SpoolOptions{Dir: t.TempDir()}, RestoreCounts: true, RestoreWait: time.Nanosecond,
		Fence: holding(9).fence, Logger: zerolog.Nop()})
	if err := b.SetRules("yard", []rules.Rule{gate()}); err != nil {
		t.Fatal(err)
	}
	(&walker{a: b, cam: "yard", t0: t0.Add(time.Minute)}).walk(7, 50, 150)
	if v := kvCounts(t, nc, "yard.gate"); v.LeaseEpoch != 5 || v.Counts["in"] != 2 {
		t.Errorf("the bucket while the load is pending: %+v; want the first owner's", v)
	}
	waitFor(t, "the stored counts added to the new owner's", func() bool {
		st, _ := b.Engine("yard").State("gate")
		return st.Counts["in"] == 3 && st.Counts["out"] == 1
	})
	(&walker{a: b, cam: "yard", t0: t0.Add(2 * time.Minute)}).walk(8, 50) // a frame, no crossing
	waitFor(t, "the sums in the bucket under the new epoch", func() bool {
		v := kvCounts(t, nc, "yard.gate")
		return v.LeaseEpoch == 9 && v.Counts["in"] == 3 && v.Counts["out"] == 1
	})
}
