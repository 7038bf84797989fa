package alerts

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/rules"
	"github.com/vigil-vision/vigil/track"
)

// gate is the rule of a camera added while vigil runs: a line across y=100,
// A above.
func gate(mod ...func(*rules.Rule)) rules.Rule {
	r := rules.Rule{Name: "gate", Kind: rules.KindLine, Points: []rules.Point{{X: 0, Y: 100}, {X: 200, Y: 100}}, Hysteresis: 5, AToB: "in", BToA: "out"}
	for _, m := range mod {
		m(&r)
	}
	return r
}

var pen = rules.Rule{Name: "pen", Kind: rules.KindZone, Points: []rules.Point{{X: 300, Y: 100}, {X: 500, Y: 100}, {X: 500, Y: 300}}}

// seriesOf lists the metrics that have series labelled camera.
func seriesOf(t *testing.T, reg *prometheus.Registry, camera string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "camera" && l.GetValue() == camera {
					out = append(out, mf.GetName())
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestCamerasChangeWhileRunning(t *testing.T) {
	port, store := freePort(t), t.TempDir()
	srv := startServer(t, port, store)
	nc := connect(t, srv.ClientURL())
	reg := prometheus.NewRegistry()
	a := startAlertsWith(t, Options{Conn: nc, Cameras: []CameraRules{scene}, Spool: SpoolOptions{Dir: t.TempDir()},
		Registerer: reg, Logger: zerolog.Nop()})
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	seq := uint64(0)
	walk := func(cam string, ys ...float64) []Message {
		var out []Message
		for _, y := range ys {
			seq++
			out = append(out, a.Observe(cam, seq, t0.Add(time.Duration(seq)*100*time.Millisecond), 768, 576, []track.Track{person(1, 100, y)}, nil)...)
		}
		return out
	}

	// Added: it answers commands, has its counts stored, and counts.
	if err := a.SetRules("yard", []rules.Rule{gate()}); err != nil {
		t.Fatal(err)
	}
	if got := a.Cameras(); !reflect.DeepEqual(got, []string{"walkway", "yard"}) {
		t.Errorf("cameras %q", got)
	}
	if r := requestOn(t, nc, "yard", `{"cmd":"status"}`); !r.OK || r.Camera != "yard" || len(r.Rules) != 1 || r.Rules[0].Rule != "gate" {
		t.Fatalf("status of the added camera: %+v", r)
	}
	waitFor(t, "the added camera's counts in the bucket", func() bool { return kvCounts(t, nc, "yard.gate").Kind == rules.KindLine })
	if sent := walk("yard", 50, 150); len(sent) != 1 || sent[0].Counts["in"] != 1 {
		t.Fatalf("added camera's crossing: %+v", sent)
	}
	walk("walkway", 50, 150)
	waitFor(t, "the crossing counted in the bucket", func() bool { return kvCounts(t, nc, "yard.gate").Counts["in"] == 1 })

	// Changed: the gate moves to y=300 and is disarmed by its setting, and
	// a pen is added. The gate's counts continue.
	moved := gate(func(r *rules.Rule) { r.Points = []rules.Point{{X: 0, Y: 300}, {X: 200, Y: 300}}; r.Disarmed = true })
	if err := a.SetRules("yard", []rules.Rule{moved, pen}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the changed rules stored", func() bool {
		return !kvCounts(t, nc, "yard.gate").Armed && kvCounts(t, nc, "yard.pen").Kind == rules.KindZone
	})
	if v := kvCounts(t, nc, "yard.gate"); !reflect.DeepEqual(v.Counts, map[string]int64{"in": 1, "out": 0}) {
		t.Errorf("the changed gate's counts in the bucket: %+v", v)
	}
	if err := a.SetRules("yard", []rules.Rule{gate(), gate()}); err == nil {
		t.Error("two rules of one name were taken")
	}
	if r := requestOn(t, nc, "yard", `{"cmd":"arm","rule":"gate"}`); !r.OK || !r.Rules[0].Armed || r.Rules[0].Counts["in"] != 1 {
		t.Fatalf("arm the changed gate: %+v", r)
	}

	// An event accepted while NATS is away, then the camera removed: the
	// event still reaches the stream.
	srv.Shutdown()
	srv.WaitForShutdown()
	// The track is at y=150: first seen on side A of the moved gate, then
	// across it.
	sent := walk("yard", 150, 350)
	if len(sent) != 1 || sent[0].Counts["in"] != 2 {
		t.Fatalf("crossing of the moved gate: %+v", sent)
	}
	if got := seriesOf(t, reg, "yard"); !reflect.DeepEqual(got, []string{"vigil_alerts_accepted_total", "vigil_rule_events_total"}) {
		t.Errorf("the yard's series before removal: %q", got)
	}
	a.RemoveCamera("yard")
	if got := a.Cameras(); !reflect.DeepEqual(got, []string{"walkway"}) || a.Engine("yard") != nil {
		t.Errorf("after removal: cameras %q, engine %v", got, a.Engine("yard"))
	}
	if got := walk("yard", 50, 350); got != nil {
		t.Errorf("a removed camera reported %+v", got)
	}
	if got := seriesOf(t, reg, "yard"); got != nil {
		t.Errorf("the removed camera's series are left: %q", got)
	}
	if got := seriesOf(t, reg, "walkway"); len(got) == 0 {
		t.Error("the walkway's series went too")
	}

	startServer(t, port, store)
	waitFor(t, "the spool to empty", func() bool { return a.Stats().Pending == 0 })
	found := false
	for _, m := range streamMessages(t, nc) {
		var ev Message
		json.Unmarshal(m.Data(), &ev)
		found = found || ev.ID == sent[0].ID && m.Subject() == "vigil.yard.events.gate"
	}
	if !found {
		t.Errorf("the event accepted before the removal is not on the stream")
	}
	if _, err := nc.Request(CommandSubject("vigil", "yard"), []byte(`{"cmd":"status"}`), 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("the removed camera's commands: %v, want no responders", err)
	}
	if r := request(t, nc, `{"cmd":"status"}`); !r.OK {
		t.Errorf("the walkway stopped answering: %+v", r)
	}
	if v := kvCounts(t, nc, "yard.gate"); v.Kind != rules.KindLine {
		t.Errorf("the removed camera's counts left the bucket: %+v", v)
	}
}

// TestSetRulesWhileObserving is for -race: frames, commands and changes of
// the cameras at once.
func TestSetRulesWhileObserving(t *testing.T) {
	srv := startServer(t, -1, t.TempDir())
	nc := connect(t, srv.ClientURL())
	a := startAlerts(t, nc, t.TempDir(), false)
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

	var frames atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the pipeline's sink
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			y := []float64{50, 150}[i%2]
			for _, cam := range []string{"walkway", "yard"} {
				a.Observe(cam, uint64(i+1), t0.Add(time.Duration(i)*100*time.Millisecond), 768, 576, []track.Track{person(1, 100, y)}, nil)
			}
			frames.Add(1)
		}
	}()
	go func() { // operators
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			for _, cam := range []string{"walkway", "yard"} {
				nc.Request(CommandSubject("vigil", cam), []byte(`{"cmd":"reset"}`), time.Second)
			}
		}
	}()

	walkway := append([]rules.Rule(nil), scene.Rules...)
	for i := 0; i < 200 || frames.Load() < 100; i++ {
		var err error
		switch i % 4 {
		case 0:
			err = a.SetRules("yard", []rules.Rule{gate()})
		case 1:
			err = a.SetRules("yard", []rules.Rule{gate(func(r *rules.Rule) { r.Points[1].X = 300 }), pen})
		case 2:
			walkway[0].Hysteresis = float64(i % 7)
			err = a.SetRules("walkway", walkway)
		case 3:
			a.RemoveCamera("yard")
		}
		if err != nil {
			t.Fatal(err)
		}
		a.Cameras()
		a.Engine("yard")
		time.Sleep(time.Millisecond)
	}
	close(done)
	wg.Wait()

	waitFor(t, "the spool to empty", func() bool { return a.Stats().Pending == 0 })
	if st := a.Stats(); len(streamMessages(t, nc)) != int(st.Accepted) || st.Accepted == 0 {
		t.Errorf("%d events on the stream; stats %+v", len(streamMessages(t, nc)), st)
	}
}
