package alerts_test

// A full disk, with the real parts: an embedded nats-server whose
// JetStream store and the alerts spool share a small tmpfs, filled up
// while rule events keep coming. An external test package: sinks, which
// embeds the server, imports alerts.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/internal/disktest"
	"github.com/vigil-vision/vigil/rules"
	"github.com/vigil-vision/vigil/sinks"
	"github.com/vigil-vision/vigil/track"
)

// logBuffer keeps the log lines, for counting them.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

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

func TestSpoolWriteOnAFullDiskLeavesNoTornRecord(t *testing.T) {
	disk := disktest.Tmpfs(t, 1<<20)
	o := alerts.SpoolOptions{Dir: disk}
	s, err := alerts.OpenSpool(o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	var spooled []string
	add := func(id string) error {
		_, err := s.Append("vigil.cam.events.door", id, bytes.Repeat([]byte("x"), 3000)) // most of a page
		if err == nil {
			spooled = append(spooled, id)
		}
		return err
	}
	if err := add("a-1"); err != nil {
		t.Fatal(err)
	}
	filler := disktest.Fill(t, disk)
	// The next record fits only in part, in the rest of the segment's last
	// page: the write fails after writing some of it.
	if err := add("a-2"); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a-2", "a-3", "a-4"} {
		if err := add(id); err != nil {
			t.Fatal(err)
		}
	}
	// Reopened, as after a crash, the spool holds what was appended, and
	// no record torn on the full disk cuts off those after it.
	s.Close()
	if s, err = alerts.OpenSpool(o); err != nil {
		t.Fatal(err)
	}
	var got []string
	var last uint64
	for {
		e, ok := s.Head()
		if !ok {
			break
		}
		if e.Seq != last+1 {
			t.Errorf("seq %d after %d", e.Seq, last)
		}
		last = e.Seq
		got = append(got, e.MsgID)
		s.Ack(e.Seq)
	}
	if !equal(got, spooled) {
		t.Errorf("reopened spool holds %v, want %v", got, spooled)
	}
}

var door = rules.Rule{Name: "door", Kind: rules.KindLine, Points: []rules.Point{{X: 0, Y: 100}, {X: 200, Y: 100}},
	Hysteresis: 5, AToB: "in", BToA: "out", Classes: []int{0}}

// rig is vigil's alerts with their spool on a small tmpfs, and the
// embedded server's JetStream store on it too, or on a disk of its own.
type rig struct {
	disk   string
	nc     *nats.Conn
	a      *alerts.Alerts
	reg    *prometheus.Registry
	log    *logBuffer
	cams   []string
	frames uint64
	fired  map[string][]string // camera: the ids of its events, in order
}

func newRig(t *testing.T, overflow alerts.OverflowOptions, storeApart bool) *rig {
	t.Helper()
	r := &rig{disk: disktest.Tmpfs(t, 8<<20), reg: prometheus.NewRegistry(), log: &logBuffer{},
		cams: []string{"dock-1", "dock-2"}, fired: map[string][]string{}}
	store := r.disk
	if storeApart {
		store = t.TempDir()
	}
	emb, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Port: -1, JetStream: true, StoreDir: store,
		StoreCheck: 50 * time.Millisecond, StoreMinFree: 1 << 20, Logger: zerolog.New(r.log).Level(zerolog.InfoLevel)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	r.nc, err = nats.Connect(emb.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.nc.Close)
	var cams []alerts.CameraRules
	for _, c := range r.cams {
		cams = append(cams, alerts.CameraRules{Camera: c, Rules: []rules.Rule{door}})
	}
	r.a, err = alerts.New(alerts.Options{Conn: r.nc, Cameras: cams, Spool: alerts.SpoolOptions{Dir: filepath.Join(r.disk, "spool")},
		Overflow: overflow, Registerer: r.reg, Logger: zerolog.New(r.log).Level(zerolog.InfoLevel)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.a.Start(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.a.Close(time.Second) })
	return r
}

// fire runs n frames on each camera, a person crossing the door on each,
// and returns the longest Observe took.
func (r *rig) fire(t *testing.T, n int) time.Duration {
	t.Helper()
	var longest time.Duration
	for range n {
		r.frames++
		y := 50.0
		if r.frames%2 == 0 {
			y = 150
		}
		p := track.Track{ID: 1, Class: 0, Score: 0.9, Box: track.Box{X1: 90, Y1: y - 50, X2: 110, Y2: y}}
		for _, c := range r.cams {
			t0 := time.Now()
			out := r.a.Observe(c, r.frames, time.Now(), 768, 576, []track.Track{p}, []string{"person"})
			longest = max(longest, time.Since(t0))
			for _, m := range out {
				r.fired[c] = append(r.fired[c], m.ID)
			}
		}
	}
	return longest
}

// fillAndFire fills the disk, fires frames, and waits until JetStream
// failed to take an event too: then nothing reaches it until the disk has
// room again, and the stats stand still.
func (r *rig) fillAndFire(t *testing.T) string {
	t.Helper()
	errs := r.a.Stats().Errors
	filler := disktest.Fill(t, r.disk)
	if longest := r.fire(t, fullFrame); longest > promptly {
		t.Errorf("a frame took %s on the full disk", longest)
	}
	waitFor(t, "JetStream to fail", func() bool { return r.a.Stats().Errors > errs })
	return filler
}

func (r *rig) firedCount() int {
	n := 0
	for _, ids := range r.fired {
		n += len(ids)
	}
	return n
}

// stream reads the events stream: per camera, the ids in stream order.
func (r *rig) stream(t *testing.T) (map[string][]string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, _ := jetstream.New(r.nc)
	st, err := js.Stream(ctx, alerts.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, total := map[string][]string{}, int(info.State.Msgs)
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(total, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		var ev alerts.Message
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		if id := m.Headers().Get(jetstream.MsgIDHeader); id != ev.ID {
			t.Fatalf("Nats-Msg-Id %q on event %q", id, ev.ID)
		}
		got[ev.Camera] = append(got[ev.Camera], ev.ID)
	}
	return got, total
}

func (r *rig) metric(t *testing.T, name string) float64 {
	t.Helper()
	n, err := testutil.GatherAndCount(r.reg, name)
	if err != nil || n == 0 {
		t.Fatalf("metric %s: %d series, %v", name, n, err)
	}
	mfs, _ := r.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
			return sum
		}
	}
	return 0
}

func droppedFor(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "vigil_alerts_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

const (
	fullLine  = "ALERTS SPOOL CANNOT WRITE"
	backLine  = "alerts spool writes again"
	promptly  = time.Second // a frame path that blocked would wait for a publish timeout (5s)
	fullFrame = 30
)

func TestFullDiskLosesNothing(t *testing.T) {
	r := newRig(t, alerts.OverflowOptions{Retry: 50 * time.Millisecond}, false)
	r.fire(t, 10)
	waitFor(t, "the first events delivered", func() bool { return r.a.Stats().Published == uint64(r.firedCount()) })

	filler := r.fillAndFire(t)
	st := r.a.Stats()
	t.Logf("full: fired %d, stats %+v", r.firedCount(), st)
	if r.firedCount() != 2*(10+fullFrame)-2 { // the first frame on each camera crosses nothing
		t.Fatalf("%d events fired, want %d: Observe lost some", r.firedCount(), 2*(10+fullFrame)-2)
	}
	if st.Unspooled == 0 || st.Held == 0 || !strings.HasPrefix(st.Spool, "disk_full: ") || st.HeldDropped != 0 {
		t.Fatalf("stats on the full disk %+v", st)
	}
	if u, h, f := r.metric(t, "vigil_alerts_unspooled_total"), r.metric(t, "vigil_alerts_held"), r.metric(t, "vigil_alerts_spool_failing"); u != float64(st.Unspooled) || h != float64(st.Held) || f != 1 {
		t.Errorf("metrics unspooled %v held %v failing %v; stats %+v", u, h, f, st)
	}
	if n := r.log.count(fullLine); n != 1 {
		t.Errorf("%d lines say the spool cannot write, want 1", n)
	}
	if n := r.log.count("JETSTREAM CANNOT STORE"); n != 1 {
		t.Errorf("%d lines say JetStream cannot store, want 1", n)
	}

	// Room again: nothing restarts, and everything arrives.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r.fire(t, 5)
	waitFor(t, "every event delivered", func() bool { st := r.a.Stats(); return st.Pending == 0 && st.Held == 0 })
	got, total := r.stream(t)
	if total != r.firedCount() {
		t.Errorf("the stream holds %d events, %d fired", total, r.firedCount())
	}
	for _, c := range r.cams {
		if !equal(got[c], r.fired[c]) {
			t.Errorf("camera %s: stream %v\nfired %v", c, got[c], r.fired[c])
		}
	}
	st = r.a.Stats()
	if st.Spool != "ok" || st.Dropped != 0 || r.metric(t, "vigil_alerts_spool_failing") != 0 {
		t.Errorf("stats after the disk had room %+v", st)
	}
	if n := r.log.count(backLine); n != 1 {
		t.Errorf("%d lines say the spool writes again, want 1", n)
	}
}

func TestHeldBeyondTheBoundDropsTheOldest(t *testing.T) {
	const bound = 10
	r := newRig(t, alerts.OverflowOptions{MaxEvents: bound, Retry: 50 * time.Millisecond}, false)
	r.fire(t, 4)
	waitFor(t, "the first events delivered", func() bool { return r.a.Stats().Published == uint64(r.firedCount()) })

	filler := r.fillAndFire(t)
	st := r.a.Stats()
	t.Logf("full: fired %d, stats %+v", r.firedCount(), st)
	// What JetStream took from memory before its own store failed is not
	// beyond the bound; the rest is, less what memory holds.
	excess := st.Unspooled - st.Direct - bound
	if st.Held != bound || st.HeldDropped != excess || st.Dropped != excess || excess == 0 {
		t.Fatalf("stats %+v: want %d held and %d dropped", st, bound, excess)
	}
	if d := droppedFor(t, r.reg, "disk_full"); d != float64(excess) {
		t.Errorf("vigil_alerts_dropped_total{reason=\"disk_full\"} = %v, want %d", d, excess)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rest delivered", func() bool { st := r.a.Stats(); return st.Pending == 0 && st.Held == 0 })
	got, total := r.stream(t)
	if want := r.firedCount() - int(excess); total != want {
		t.Errorf("the stream holds %d events, want %d fired less %d dropped", total, want, excess)
	}
	for _, c := range r.cams {
		// In the order fired, each once; the newest are all there (the
		// oldest held went, but one being published when a drop came).
		if !subsequence(got[c], r.fired[c]) {
			t.Errorf("camera %s: stream %v is not in the order fired %v, each once", c, got[c], r.fired[c])
		}
	}
	last := map[string]bool{}
	for _, ids := range got {
		for _, id := range ids {
			last[id] = true
		}
	}
	var newest []string
	for i := 0; len(newest) < bound-1; i++ { // the cameras fire in turn
		for _, c := range r.cams {
			if ids := r.fired[c]; i < len(ids) {
				newest = append(newest, ids[len(ids)-1-i])
			}
		}
	}
	for _, id := range newest {
		if !last[id] {
			t.Errorf("event %s, among the newest, was dropped", id)
		}
	}
}

func TestAlertsReachJetStreamWhileTheSpoolCannotWrite(t *testing.T) {
	r := newRig(t, alerts.OverflowOptions{Retry: 50 * time.Millisecond}, true)
	r.fire(t, 4)
	waitFor(t, "the first events delivered", func() bool { return r.a.Stats().Published == uint64(r.firedCount()) })

	filler := disktest.Fill(t, r.disk)
	if longest := r.fire(t, fullFrame); longest > promptly {
		t.Errorf("a frame took %s on the full disk", longest)
	}
	// The disk is still full, and the events reach the stream from memory.
	waitFor(t, "every event in the stream", func() bool {
		st := r.a.Stats()
		return st.Published == uint64(r.firedCount()) && st.Pending == 0 && st.Held == 0
	})
	st := r.a.Stats()
	if st.Direct == 0 || st.Direct != st.Unspooled || !strings.HasPrefix(st.Spool, "disk_full: ") {
		t.Errorf("stats %+v: want every event the spool could not write sent from memory", st)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r.fire(t, 3)
	waitFor(t, "every event delivered", func() bool { st := r.a.Stats(); return st.Pending == 0 && st.Held == 0 })
	got, total := r.stream(t)
	if total != r.firedCount() {
		t.Errorf("the stream holds %d events, %d fired", total, r.firedCount())
	}
	for _, c := range r.cams {
		if !equal(got[c], r.fired[c]) {
			t.Errorf("camera %s: stream %v\nfired %v", c, got[c], r.fired[c])
		}
	}
	if st := r.a.Stats(); st.Spool != "ok" || st.Duplicates != 0 {
		t.Errorf("stats after the disk had room %+v", st)
	}
	if a, b := r.log.count(fullLine), r.log.count(backLine); a != 1 || b != 1 {
		t.Errorf("%d lines say the spool cannot write, %d that it writes again; want one each", a, b)
	}
}

func equal(a, b []string) bool {
	return len(a) == len(b) && subsequence(a, b)
}

// subsequence says whether a is b with some left out, in b's order.
func subsequence(a, b []string) bool {
	i := 0
	for _, x := range b {
		if i < len(a) && a[i] == x {
			i++
		}
	}
	return i == len(a)
}
