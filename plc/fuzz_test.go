package plc

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/internal/fuzztest"
	"github.com/vigil-vision/vigil/rules"
)

// fuzzMsg is an event as the consumer hands it over; it records how the
// bridge settles it.
type fuzzMsg struct {
	data    []byte
	settled []string
}

func (m *fuzzMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: 1}, nil
}
func (m *fuzzMsg) Data() []byte                     { return m.data }
func (m *fuzzMsg) Headers() nats.Header             { return nil }
func (m *fuzzMsg) Subject() string                  { return "vigil.cell-4.events.robot_cell" }
func (m *fuzzMsg) Reply() string                    { return "" }
func (m *fuzzMsg) Ack() error                       { return m.settle("ack") }
func (m *fuzzMsg) DoubleAck(context.Context) error  { return m.settle("ack") }
func (m *fuzzMsg) Nak() error                       { return m.settle("nak") }
func (m *fuzzMsg) NakWithDelay(time.Duration) error { return m.settle("nak") }
func (m *fuzzMsg) InProgress() error                { return nil }
func (m *fuzzMsg) Term() error                      { return m.settle("term") }
func (m *fuzzMsg) TermWithReason(string) error      { return m.settle("term") }
func (m *fuzzMsg) settle(how string) error          { m.settled = append(m.settled, how); return nil }

// fuzzWriter is a PLC that takes every write and records it.
type fuzzWriter struct{ writes []string }

func (w *fuzzWriter) WriteCoil(addr uint16, on bool) error {
	return w.add(fmt.Sprintf("coil %d %v", addr, on))
}

func (w *fuzzWriter) WriteRegister(addr uint16, v uint16) error {
	return w.add(fmt.Sprintf("register %d %d", addr, v))
}

func (w *fuzzWriter) Close() error { return nil }

func (w *fuzzWriter) add(s string) error { w.writes = append(w.writes, s); return nil }

// FuzzEvent feeds the bridge any event body, after events of the camera
// at lease epoch floor: it must not panic, and settles every event once,
// never handing it back: one that is not a vigil.event/v1 is terminated
// unwritten, an old owner's (an epoch below the floor) acknowledged
// unwritten, and any other acknowledged after exactly the writes its
// matching mappings give it (a count written modulo 65536, a mapping
// whose number the event lacks skipped).
func FuzzEvent(f *testing.F) {
	three := 3
	for _, m := range []alerts.Message{
		{Schema: alerts.EventSchema, ID: "a-1", Camera: "cell-4", Rule: "robot_cell", Kind: rules.KindZone, Type: rules.TypeOccupancyReached,
			TrackID: 7, Class: 0, Label: "person", Score: 0.91, Time: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Seq: 12, Occupancy: &three,
			Counts: map[string]int64{"entered": 4, "exited": 1}},
		{Schema: alerts.EventSchema, ID: "a-2", Camera: "cell-4", Rule: "robot_cell", Kind: rules.KindZone, Type: rules.TypeZoneEnter,
			Occupancy: &three, Counts: map[string]int64{"entered": 70000}, LeaseEpoch: 9},
		{Schema: alerts.EventSchema, ID: "a-3", Camera: "walkway", Rule: "door", Kind: rules.KindLine, Type: rules.TypeLineCross,
			Direction: "up", Counts: map[string]int64{"up": -1, "down": 2}, LeaseEpoch: 5},
		{Schema: alerts.EventSchema, ID: "a-4", Camera: "cell-4", Rule: "robot_cell", Kind: rules.KindZone, Type: rules.TypeDwell, DwellS: 12.5},
		{Schema: "vigil.event/v0", ID: "a-5", Camera: "cell-4", Rule: "robot_cell", Type: rules.TypeOccupancyReached},
	} {
		b, _ := json.Marshal(m)
		f.Add(b, uint64(7))
	}
	for _, s := range []string{"not json", "", "null", `{"schema":"vigil.event/v1"}`, `{"schema":"vigil.event/v1","rule":"robot_cell","type":"zone_enter","counts":null}`,
		`{"schema":"vigil.event/v1","camera":"cell-4","rule":"robot_cell","type":"occupancy_reached","lease_epoch":18446744073709551615}`} {
		f.Add([]byte(s), uint64(0))
	}
	value := 513
	mappings := []Mapping{
		{Rule: "robot_cell", Type: "occupancy_reached", Action: ActionSetCoil, Address: 3},
		{Rule: "robot_cell", Type: "occupancy_reached", Action: ActionWriteRegister, Address: 11, From: "occupancy"},
		{Rule: "robot_cell", Type: "occupancy_cleared", Action: ActionClearCoil, Address: 3},
		{Rule: "robot_cell", Type: "zone_enter", Action: ActionWriteRegister, Address: 10, From: "counts.entered"},
		{Rule: "robot_cell", Type: "dwell", Action: ActionPulseCoil, Address: 65535, Duration: config.Duration(time.Nanosecond)},
		{Camera: "walkway", Rule: "door", Type: "line_cross", Direction: "up", Action: ActionWriteRegister, Address: 100, From: "counts.up"},
		{Rule: "door", Type: "line_cross", Action: ActionWriteRegister, Address: 0, Value: &value},
	}
	f.Fuzz(func(t *testing.T, data []byte, floor uint64) {
		fuzztest.Watchdog(t)
		cfg := &Config{Retry: config.Backoff{Min: config.Duration(time.Millisecond), Max: config.Duration(time.Millisecond)}, Mappings: mappings}
		w := &fuzzWriter{}
		b, err := New(cfg, nil, w, prometheus.NewRegistry(), zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if floor > 0 {
			b.epochs["cell-4"], b.epochs["walkway"] = floor, floor
		}
		msg := &fuzzMsg{data: data}
		b.handle(context.Background(), msg)

		if len(msg.settled) != 1 {
			t.Fatalf("%q: settled %v", data, msg.settled)
		}
		var ev alerts.Message
		if json.Unmarshal(data, &ev) != nil || ev.Schema != alerts.EventSchema {
			if msg.settled[0] != "term" || len(w.writes) != 0 {
				t.Fatalf("%q: not an event, but %v after writes %v", data, msg.settled, w.writes)
			}
			return
		}
		if msg.settled[0] != "ack" {
			t.Fatalf("%q: event %v", data, msg.settled)
		}
		if ev.LeaseEpoch != 0 && ev.LeaseEpoch < b.epochs[ev.Camera] {
			if len(w.writes) != 0 || b.epochs[ev.Camera] != max(floor, ev.LeaseEpoch) {
				t.Fatalf("%q: an old owner's event written %v", data, w.writes)
			}
			return
		}
		var want []string
		for _, m := range mappings {
			if m.Camera != "" && m.Camera != ev.Camera || m.Rule != ev.Rule || m.Type != string(ev.Type) || m.Direction != "" && m.Direction != ev.Direction {
				continue
			}
			switch {
			case m.Action == ActionSetCoil:
				want = append(want, fmt.Sprintf("coil %d true", m.Address))
			case m.Action == ActionClearCoil:
				want = append(want, fmt.Sprintf("coil %d false", m.Address))
			case m.Action == ActionPulseCoil:
				want = append(want, fmt.Sprintf("coil %d true", m.Address), fmt.Sprintf("coil %d false", m.Address))
			case m.Value != nil:
				want = append(want, fmt.Sprintf("register %d %d", m.Address, *m.Value))
			case m.From == "occupancy" && ev.Occupancy != nil:
				want = append(want, fmt.Sprintf("register %d %d", m.Address, uint16(*ev.Occupancy)))
			case strings.HasPrefix(m.From, "counts."):
				if n, ok := ev.Counts[strings.TrimPrefix(m.From, "counts.")]; ok {
					want = append(want, fmt.Sprintf("register %d %d", m.Address, uint16(n)))
				}
			}
		}
		if !slices.Equal(w.writes, want) {
			t.Fatalf("%q: wrote %v, want %v", data, w.writes, want)
		}
	})
}

// FuzzConfig feeds vigil-plc's config parser anything: it must not panic;
// an error names the file and never shows a password given in a URL
// (hunter2 in the seeds); and a config it accepts is valid, in range for
// the Modbus writes, and reads back the same once written out.
func FuzzConfig(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	files = append(files, filepath.Join("..", "cmd", "vigil-plc", "example.yaml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"plc: {url: tcp://10.0.0.9:502}\nmappings:\n  - {rule: cell, type: dwell, action: pulse_coil, address: 4}\n",
		"nats: {url: \"nats://vigil:hunter2@127.0.0.1:4222\"}\nplc: {url: tcp://10.0.0.9:502}\nbogus: 1\nmappings:\n  - {rule: cell, type: dwell, action: pulse_coil, address: 4}\n",
		"nats: {url: \"nats://vigil:hunter2@127.0.0.1:4222\", user: vigil}\nplc: {url: \"tcp://vigil:hunter2@10.0.0.9\", unit_id: -1}\nmappings: []\n",
		"plc: {url: tcp://h:1}\nack_wait: 9223372036854775807ns\nretry: {min: 1ns, max: 1ns}\nmappings:\n  - {rule: a, type: line_cross, direction: \"\\t\", action: write_register, address: 65535, value: 65535}\n",
		"plc: {url: tcp://h:1, unit_id: 256}\nmappings:\n  - {rule: a, type: dwell, action: write_register, from: counts., address: -1}\n",
		"", "null", "[]", "mappings: {a: b}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzztest.Watchdog(t)
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "fuzz.yaml") {
				t.Fatalf("%q: %v does not name the file", data, err)
			}
			if strings.Count(string(data), "hunter2") == strings.Count(string(data), "//vigil:hunter2@") && strings.Contains(msg, "hunter2") {
				t.Fatalf("%q: the error shows the password:\n%v", data, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%q: accepted, but %v", data, err)
		}
		if id := *c.PLC.UnitID; id < 0 || id > 255 {
			t.Fatalf("%q: unit id %d", data, id)
		}
		for _, m := range c.Mappings {
			if m.Address < 0 || m.Address > 65535 || m.Value != nil && (*m.Value < 0 || *m.Value > 65535) {
				t.Fatalf("%q: mapping %+v", data, m)
			}
		}
		// As JSON: goccy/go-yaml writes some strings as plain YAML that
		// reads back otherwise (see FuzzParseCamera in config).
		out, err := yaml.MarshalWithOptions(c, yaml.JSON())
		if err != nil {
			t.Fatalf("%q: marshal: %v", data, err)
		}
		back, err := Parse(out, "written.yaml")
		if err != nil {
			t.Fatalf("%q: written as\n%s\nreads back with %v", data, out, err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("%q: written as\n%s\nreads back as\n%+v\nnot\n%+v", data, out, back, c)
		}
	})
}
