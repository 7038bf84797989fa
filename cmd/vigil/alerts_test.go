package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/evidence"
	"github.com/vigil-vision/vigil/internal/mediatest"
	"github.com/vigil-vision/vigil/sinks"
	"gocv.io/x/gocv"
)

// TestRunAlertsEndToEnd runs vigil on vtest.avi with a line across the
// walkway and a zone at its bottom right, against a real NATS server with
// JetStream, and reads what reached the stream and the counts bucket.
// People walk up the picture through both in the first 60 frames.
func TestRunAlertsEndToEnd(t *testing.T) {
	srv, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()

	const frames = 60
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
        directions: {a_to_b: down, b_to_a: up}
      - name: corner
        type: zone
        normalized: true
        points: [[0.7, 0.6], [1, 0.6], [1, 1], [0.7, 1]]
        classes: [person]
nats:
  url: %s
http:
  listen: off
model:
  intra_op_threads: 2
pipeline:
  max_frames: %d
`, t.TempDir(), assets.Media("vtest.avi"), srv.ClientURL(), frames))
	p := start(t, "run", "--config", cfg, "--log-format", "json")
	if err := p.wait(t); err != nil {
		t.Fatalf("vigil run: %v", err)
	}
	stopped := p.find("alerts stopped")
	if stopped == nil || stopped["accepted"] != stopped["published"] || stopped["spooled"] != float64(0) || stopped["dropped"] != float64(0) {
		t.Fatalf("alerts stopped line %v", stopped)
	}

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all := eventMessages(ctx, t, js)
	msgs := eventsOnly(all)
	records := map[string]evidence.Record{} // the last of each event's: the one naming its clip
	ids := map[string]bool{}
	for _, m := range all {
		if !strings.HasSuffix(m.Subject(), ".evidence") {
			continue
		}
		var rec evidence.Record
		if err := json.Unmarshal(m.Data(), &rec); err != nil {
			t.Fatal(err)
		}
		id := m.Headers().Get("Nats-Msg-Id")
		if ids[id] || id != evidence.MsgID(rec) {
			t.Errorf("evidence record %s twice, or under another id than %s", id, evidence.MsgID(rec))
		}
		ids[id] = true
		records[rec.Event.ID] = rec
	}
	if n := len(msgs); n == 0 || float64(n) != stopped["published"] {
		t.Fatalf("stream holds %d events; vigil published %v", n, stopped["published"])
	}
	byType := map[string]int{}
	var lastCrossing alerts.Message
	seq := uint64(0)
	for _, m := range msgs {
		var raw map[string]any
		var ev alerts.Message
		if err := json.Unmarshal(m.Data(), &raw); err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(m.Data(), &ev)
		for _, k := range []string{"schema", "id", "camera", "rule", "kind", "type", "track_id", "class", "label", "score", "time", "seq", "counts"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("event lacks %q: %s", k, m.Data())
			}
		}
		if ev.Schema != "vigil.event/v1" || ev.Camera != "walkway" || m.Subject() != "vigil.walkway.events."+ev.Rule ||
			m.Headers().Get("Nats-Msg-Id") != ev.ID || ev.Seq < seq || ev.Seq > frames || ev.Time.IsZero() {
			t.Errorf("event on %s: %s", m.Subject(), m.Data())
		}
		seq = ev.Seq
		if ev.TrackID != 0 && (ev.Label != "person" || ev.Class != 0 || ev.Score <= 0) {
			t.Errorf("event about a non-person: %s", m.Data())
		}
		byType[ev.Rule+"/"+string(ev.Type)+"/"+ev.Direction]++
		if ev.Type == "line_cross" {
			lastCrossing = ev
		}
	}
	t.Logf("events: %v", byType)
	if byType["crossing/line_cross/up"] < 1 || byType["corner/zone_enter/"] < 1 || byType["corner/occupancy_reached/"] < 1 {
		t.Errorf("want at least one crossing up, one enter and one occupancy_reached; got %v", byType)
	}
	// Counts are exact: the last crossing carries the totals of the events.
	if lastCrossing.Counts["up"] != int64(byType["crossing/line_cross/up"]) || lastCrossing.Counts["down"] != int64(byType["crossing/line_cross/down"]) {
		t.Errorf("last crossing counts %v, events %v", lastCrossing.Counts, byType)
	}
	checkEvidence(ctx, t, js, msgs, records)
	if ev := p.find("evidence stopped"); ev == nil || ev["spooled"] != float64(0) {
		t.Errorf("evidence stopped line %v", ev)
	}

	kv, err := js.KeyValue(ctx, alerts.DefaultCountsBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "walkway.crossing")
	if err != nil {
		t.Fatal(err)
	}
	var v alerts.CountsValue
	if err := json.Unmarshal(e.Value(), &v); err != nil || v.Counts["up"] != lastCrossing.Counts["up"] || !v.Armed {
		t.Errorf("counts bucket %s (%v)", e.Value(), err)
	}
}

// checkEvidence: every event has records naming its snapshot, thumbnail
// and clip, all in the bucket; the snapshot is the frame with the event's
// object outlined in the highlight colour where the record says, and the
// clip plays.
func checkEvidence(ctx context.Context, t *testing.T, js jetstream.JetStream, events []jetstream.Msg, records map[string]evidence.Record) {
	t.Helper()
	obs, err := js.ObjectStore(ctx, evidence.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range events {
		var ev alerts.Message
		json.Unmarshal(m.Data(), &ev)
		rec, ok := records[ev.ID]
		if !ok {
			t.Errorf("no evidence record of %s (%s %s)", ev.ID, ev.Rule, ev.Type)
			continue
		}
		if rec.Event.Seq != ev.Seq || rec.Snapshot != evidence.SnapshotName("walkway", ev.ID) || rec.Width != 768 || rec.Height != 576 {
			t.Errorf("record %+v of event %+v", rec, ev)
		}
		snap, err := obs.GetBytes(ctx, rec.Snapshot)
		if err != nil {
			t.Fatalf("snapshot of %s: %v", ev.ID, err)
		}
		img, err := gocv.IMDecode(snap, gocv.IMReadColor)
		if err != nil || img.Cols() != 768 {
			t.Fatalf("snapshot of %s does not decode: %v", ev.ID, err)
		}
		if ev.TrackID != 0 {
			if rec.Box == nil {
				t.Errorf("event %s of track %d: no box in its record", ev.ID, ev.TrackID)
			} else {
				// The middle of the box's top edge is the highlight's red.
				b := rec.Box
				v := img.GetVecbAt(b[1], (b[0]+b[2])/2) // BGR
				if v[2] < 160 || int(v[2])-int(max(v[0], v[1])) < 110 {
					t.Errorf("snapshot of %s: %v at the box's top edge, not the highlight", ev.ID, v)
				}
			}
		}
		img.Close()
		if _, err := obs.GetBytes(ctx, rec.Thumbnail); err != nil {
			t.Errorf("thumbnail of %s: %v", ev.ID, err)
		}
		// The run ends 6 s in: each clip runs from 5 s before its event
		// to the last frame, or to 5 s after the event.
		if rec.Clip == "" {
			t.Errorf("event %s: no clip", ev.ID)
			continue
		}
		clip, err := obs.GetBytes(ctx, rec.Clip)
		if err != nil {
			t.Fatalf("clip of %s: %v", ev.ID, err)
		}
		path := filepath.Join(t.TempDir(), "clip.webm")
		os.WriteFile(path, clip, 0o644)
		if p := mediatest.ProbeFile(t, path); p.Codec != "vp8" || p.Frames < 2 || p.Duration > 10.2 {
			t.Errorf("clip of %s: %+v", ev.ID, p)
		}
	}
}

// eventsOnly leaves the evidence records out.
func eventsOnly(msgs []jetstream.Msg) []jetstream.Msg {
	var out []jetstream.Msg
	for _, m := range msgs {
		if !strings.HasSuffix(m.Subject(), ".evidence") {
			out = append(out, m)
		}
	}
	return out
}

// eventMessages reads every message of the events stream, in order.
func eventMessages(ctx context.Context, t *testing.T, js jetstream.JetStream) []jetstream.Msg {
	t.Helper()
	stream, err := js.Stream(ctx, alerts.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := int(info.State.Msgs)
	if n == 0 {
		return nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for m := range batch.Messages() {
		out = append(out, m)
	}
	if len(out) != n {
		t.Fatalf("read %d of the stream's %d events", len(out), n)
	}
	return out
}

func TestRunRejectsUnknownRuleClass(t *testing.T) {
	cfg := writeFile(t, "vigil.yaml", fmt.Sprintf(`
cameras:
  - id: walkway
    url: %s
    rules:
      - {name: door, type: line, points: [[0, 300], [768, 300]], classes: [persn]}
http:
  listen: off
`, assets.Media("vtest.avi")))
	cmd := exec.Command(vigilBin, "run", "--config", cfg, "--nats-listen", freeAddr(t), "--data-dir", t.TempDir())
	cmd.Dir = moduleRoot(t)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `cameras[0].rules[0].classes[0]: unknown class "persn" in rule "door"; the model knows person, bicycle, car`) {
		t.Errorf("err %v, output:\n%s", err, out)
	}
}
