package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/sinks"
)

// TestRunReplaysFileIdentically runs vigil twice on the same frames of
// vtest.avi, read losslessly, with rules that depend on time (a dwell, a
// zone's exit after a track is lost, cooldowns), once with one inference
// thread and once with two: the runs go at different speeds, and must
// report the same events at the same frames with the same times from the
// first frame, as time comes from the video (10 fps), not the wall clock.
func TestRunReplaysFileIdentically(t *testing.T) {
	const frames = 70
	first := replayEvents(t, frames, 1)
	second := replayEvents(t, frames, 2)
	kinds := map[string]int{}
	for _, e := range first {
		kinds[e.typ]++
	}
	if len(first) == 0 || kinds["dwell"] == 0 || kinds["zone_exit"] == 0 {
		t.Errorf("want events with at least one dwell and one zone_exit; got %v", kinds)
	}
	for i := range max(len(first), len(second)) {
		var a, b replayEvent
		if i < len(first) {
			a = first[i]
		}
		if i < len(second) {
			b = second[i]
		}
		if a != b {
			t.Errorf("event %d: first run %v, second %v", i+1, a, b)
		}
	}
	if t.Failed() {
		for _, e := range first {
			t.Logf("first run: %v", e)
		}
	}
}

// replayEvent is what an event says, less its id, with its time as an
// offset from the run's first frame.
type replayEvent struct {
	typ, rule, dir string
	track, seq     uint64
	dwell          float64
	occupancy      string
	counts         string
	at             time.Duration
}

func (e replayEvent) String() string {
	return fmt.Sprintf("seq %d at %v: %s %s %s track %d dwell_s %v occupancy %s counts %s", e.seq, e.at, e.rule, e.typ, e.dir, e.track, e.dwell, e.occupancy, e.counts)
}

// replayEvents runs vigil on the first frames of vtest.avi with threads
// inference threads and returns the events it published.
func replayEvents(t *testing.T, frames, threads int) []replayEvent {
	t.Helper()
	srv, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	cfg := writeFile(t, "vigil.yaml", fmt.Sprintf(`
data_dir: %s
cameras:
  - id: walkway
    url: %s
    realtime: false
    loop: false
    rules:
      - name: crossing
        type: line
        points: [[400, 330], [768, 330]]
        classes: [person]
        cooldown: 1s
        directions: {a_to_b: down, b_to_a: up}
      - name: hall
        type: zone
        normalized: true
        points: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]
        classes: [person]
        dwell: 2s
        exit_after: 1s
        cooldown: 1s
nats:
  url: %s
http:
  listen: off
model:
  intra_op_threads: %d
pipeline:
  max_frames: %d
`, t.TempDir(), assets.Media("vtest.avi"), srv.ClientURL(), threads, frames))
	p := start(t, "run", "--config", cfg, "--log-format", "json")
	if err := p.wait(t); err != nil {
		t.Fatalf("vigil run: %v", err)
	}

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// vtest.avi runs at 10 fps: frame seq is (seq-1)/10 s after the first.
	const frame = 100 * time.Millisecond
	var out []replayEvent
	var origin time.Time
	for _, m := range eventsOnly(eventMessages(ctx, t, js)) {
		var ev alerts.Message
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		if origin.IsZero() {
			origin = ev.Time.Add(-time.Duration(ev.Seq-1) * frame)
		}
		occ := ""
		if ev.Occupancy != nil {
			occ = strconv.Itoa(*ev.Occupancy)
		}
		counts, _ := json.Marshal(ev.Counts)
		out = append(out, replayEvent{typ: string(ev.Type), rule: ev.Rule, dir: ev.Direction, track: ev.TrackID, seq: ev.Seq,
			dwell: ev.DwellS, occupancy: occ, counts: string(counts), at: ev.Time.Sub(origin)})
		if at := ev.Time.Sub(origin); at != time.Duration(ev.Seq-1)*frame {
			t.Errorf("%d threads: the event of frame %d is at %v from the first frame, want %v", threads, ev.Seq, at, time.Duration(ev.Seq-1)*frame)
		}
	}
	return out
}
