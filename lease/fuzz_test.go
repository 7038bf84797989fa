package lease

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/internal/fuzztest"
)

// kvEntry is a stored value as a watcher or Get hands it over.
type kvEntry struct {
	key   string
	value []byte
	rev   uint64
	op    jetstream.KeyValueOp
}

func (e kvEntry) Bucket() string                  { return "VIGIL_LEASES" }
func (e kvEntry) Key() string                     { return e.key }
func (e kvEntry) Value() []byte                   { return e.value }
func (e kvEntry) Revision() uint64                { return e.rev }
func (e kvEntry) Created() time.Time              { return time.Time{} }
func (e kvEntry) Delta() uint64                   { return 0 }
func (e kvEntry) Operation() jetstream.KeyValueOp { return e.op }

// FuzzEntry feeds the reader of lease values anything a bucket may hold
// (another version's records, another program's bytes): it must not
// panic; a put is either a holder with an epoch or an error naming the
// key, never both; and a record it reads, written again as a holder
// writes it, reads back the same, and is written the same the next time.
func FuzzEntry(f *testing.F) {
	acquired := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, r := range []record{
		{Holder: "node-a", AcquiredAt: acquired},
		{Holder: "node-b", AcquiredAt: acquired, Epoch: 42},
		{Holder: "node-c", AcquiredAt: acquired, Epoch: 7, Info: json.RawMessage(`{"labels":["gpu"],"detectors":["default"],"max_cameras":8,"max_load":1.5,"load":0.25,"cameras":["dock-1"],"url":"http://10.0.0.3:8080"}`)},
	} {
		b, _ := json.Marshal(r)
		f.Add(b, uint64(3), uint8(jetstream.KeyValuePut))
	}
	for _, s := range []string{
		``, `null`, `{}`, `{"holder":""}`, `{"holder":null,"epoch":3}`, `{"holder":"x","epoch":-1}`,
		`{"holder":"x","acquired_at":"10000-01-01T00:00:00Z"}`, `{"holder":"x","info":nul}`, `{"holder":"x","info":null}`,
		`{"HOLDER":"x","Info":{"a":"<b>\u2028"}}`, "{\"holder\":\"\xff\"}", `{"holder":"x","epoch":18446744073709551615}`,
		`not json at all, and rather longer than the clip`,
	} {
		f.Add([]byte(s), uint64(5), uint8(jetstream.KeyValuePut))
	}
	f.Add([]byte(nil), uint64(9), uint8(jetstream.KeyValueDelete))
	f.Add([]byte(nil), uint64(9), uint8(jetstream.KeyValuePurge))
	b := &Bucket{ttl: 5 * time.Second}
	f.Fuzz(func(t *testing.T, value []byte, rev uint64, op uint8) {
		fuzztest.Watchdog(t)
		rev = max(rev, 1) // JetStream counts from 1
		kve := kvEntry{key: "cam-1", value: value, rev: rev, op: jetstream.KeyValueOp(op % 3)}
		e := b.entry(kve)
		if e.Key != "cam-1" {
			t.Fatalf("%q: key %q", value, e.Key)
		}
		if kve.op != jetstream.KeyValuePut {
			if e.Holder != "" || e.Err != nil || e.Expired != (kve.op == jetstream.KeyValuePurge) {
				t.Fatalf("%v: %+v", kve.op, e)
			}
			return
		}
		if e.Err != nil {
			if e.Holder != "" || e.Epoch != 0 || !strings.Contains(e.Err.Error(), `lease "cam-1"`) {
				t.Fatalf("%q: %+v", value, e)
			}
			return
		}
		if e.Holder == "" || e.Epoch == 0 || e.Expired {
			t.Fatalf("%q: read as %+v", value, e)
		}
		var r record
		if err := json.Unmarshal(value, &r); err != nil {
			t.Fatalf("%q: read as %+v, but %v", value, e, err)
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("%q: read as %+v, does not encode: %v", value, r, err)
		}
		back := b.entry(kvEntry{key: "cam-1", value: again, rev: rev})
		var r2 record
		json.Unmarshal(again, &r2)
		if back.Err != nil || back.Holder != e.Holder || back.Epoch != e.Epoch || !r2.AcquiredAt.Equal(r.AcquiredAt) || !sameJSON(back.Info, e.Info) {
			t.Fatalf("%q: read as %+v, written as %s, reads back as %+v", value, e, again, back)
		}
		if third, _ := json.Marshal(r2); !bytes.Equal(third, again) {
			t.Fatalf("%q: written as %s, then as %s", value, again, third)
		}
	})
}

// sameJSON says whether a and b hold the same JSON value; both empty is
// the same too.
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return bytes.Equal(xs, ys)
}
