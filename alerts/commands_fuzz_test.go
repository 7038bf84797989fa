package alerts

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/internal/fuzztest"
	"github.com/vigil-vision/vigil/rules"
	"github.com/vigil-vision/vigil/track"
)

// FuzzCommand feeds a camera's command handler any request body, as NATS
// delivers it: it must not panic, and its reply is either OK with the
// states of rules the camera has (arm and disarm set Armed, reset zeroes
// the counts) or not OK with an error; a refused command or a status
// changes nothing and stores nothing.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		`{"cmd":"disarm","rule":"door"}`, `{"cmd":"status","rule":"door"}`, `{"cmd":"arm","rule":"door"}`,
		`{"cmd":"reset"}`, `{"cmd":"status"}`, `{"cmd":"reset","rule":"cell"}`,
		`{"cmd":"explode"}`, `{"cmd":"arm"}`, `{"cmd":"arm","rule":"window"}`, `status please`,
		``, `null`, `[]`, `{"cmd":null}`, `{"CMD":"Status","Rule":"cell"}`, `{"cmd":"status","rule":"door","cmd":"reset"}`,
		`{"cmd":"arm","rule":"door\u0000"}`, `{"cmd":"arm","rule":1}`, "{\"cmd\":\"status\",\"rule\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	door := rules.Rule{Name: "door", Kind: rules.KindLine, Points: []rules.Point{{X: 0, Y: 100}, {X: 200, Y: 100}}, Hysteresis: 5, AToB: "in", BToA: "out"}
	cell := rules.Rule{Name: "cell", Kind: rules.KindZone, Points: []rules.Point{{X: 300, Y: 100}, {X: 500, Y: 100}, {X: 500, Y: 300}, {X: 300, Y: 300}}, OccupancyThreshold: 1}
	names := []string{"door", "cell"}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzztest.Watchdog(t)
		e, err := rules.New("walkway", []rules.Rule{door, cell})
		if err != nil {
			t.Fatal(err)
		}
		// Some counts for reset to clear: across the door, into the cell
		// and out of it.
		t0 := time.Unix(1000, 0)
		for i, p := range []track.Box{{X1: 90, Y1: 0, X2: 110, Y2: 50}, {X1: 90, Y1: 100, X2: 110, Y2: 150}, {X1: 390, Y1: 150, X2: 410, Y2: 200}, {X1: 590, Y1: 150, X2: 610, Y2: 200}} {
			e.Update(t0.Add(time.Duration(i)*time.Second), 768, 576, []track.Track{{ID: 1, Score: 1, Box: p}})
		}
		before := e.States()
		if before[0].Counts["in"] != 1 || before[1].Counts["exited"] != 1 {
			t.Fatalf("the scene counted %+v", before)
		}
		version := e.Version()
		a := &Alerts{o: Options{Now: func() time.Time { return t0 }}, log: zerolog.Nop(),
			counts: newCountsWriter(nil, DefaultCountsBucket, zerolog.Nop(), nil)}

		reply := a.command("walkway", e, data)

		if reply.Camera != "walkway" {
			t.Fatalf("%q: reply for camera %q", data, reply.Camera)
		}
		if _, err := json.Marshal(reply); err != nil {
			t.Fatalf("%q: the reply does not encode: %v", data, err)
		}
		var c Command
		json.Unmarshal(data, &c)
		if !reply.OK {
			if reply.Error == "" || reply.Rules != nil {
				t.Fatalf("%q: failed with %+v", data, reply)
			}
			if e.Version() != version || len(a.counts.pending) != 0 {
				t.Fatalf("%q: refused (%s), but the engine or the bucket changed", data, reply.Error)
			}
			return
		}
		if reply.Error != "" || len(reply.Rules) == 0 {
			t.Fatalf("%q: OK with %+v", data, reply)
		}
		for _, st := range reply.Rules {
			if !slices.Contains(names, st.Rule) || c.Rule != "" && st.Rule != c.Rule {
				t.Fatalf("%q: a state of rule %q", data, st.Rule)
			}
			switch c.Cmd {
			case "arm", "disarm":
				if st.Armed != (c.Cmd == "arm") {
					t.Fatalf("%q: %+v", data, st)
				}
			case "reset":
				for k, n := range st.Counts {
					if n != 0 {
						t.Fatalf("%q: count %s is %d after a reset", data, k, n)
					}
				}
			case "status":
			default:
				t.Fatalf("%q: command %q answered OK", data, c.Cmd)
			}
		}
		if c.Cmd == "status" {
			if e.Version() != version || len(a.counts.pending) != 0 || !slices.EqualFunc(e.States(), before, sameState) {
				t.Fatalf("%q: a status changed the engine or the bucket", data)
			}
		} else if len(a.counts.pending) != len(reply.Rules) {
			t.Fatalf("%q: %d states changed, %d stored", data, len(reply.Rules), len(a.counts.pending))
		}
	})
}

func sameState(a, b rules.State) bool {
	if a.Rule != b.Rule || a.Armed != b.Armed || a.Occupancy != b.Occupancy || a.Occupied != b.Occupied || len(a.Counts) != len(b.Counts) {
		return false
	}
	for k, n := range a.Counts {
		if b.Counts[k] != n {
			return false
		}
	}
	return true
}
