package evidence

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/internal/fuzztest"
)

// FuzzParseQuery: any query string gives a Query within bounds, or an
// error naming the parameter; never a panic.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "camera=dock&limit=10", "since=2026-12-03T08:00:00Z&until=1764748800", "before=42",
		"limit=0", "limit=1001", "since=yesterday", "before=-1", "until=1e300"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		fuzztest.Watchdog(t)
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v.Get)
		if err != nil {
			return
		}
		if q.Limit < 0 || q.Limit > 1000 || (v.Get("before") != "" && q.Before == 0) {
			t.Fatalf("%q parsed as %+v", raw, q)
		}
	})
}

// FuzzIndexAdd: whatever the stream carries, the index keeps at most Max
// events, each once, in stream order, and attaches records only to the
// event they name.
func FuzzIndexAdd(f *testing.F) {
	ev, _ := json.Marshal(alerts.Message{Schema: alerts.EventSchema, ID: "a-1", Camera: "dock", Rule: "door", Time: time.Unix(1, 0)})
	rec, _ := json.Marshal(Record{Schema: RecordSchema, Event: alerts.Message{ID: "a-1"}, Snapshot: "dock/a-1/snapshot.jpg"})
	f.Add("vigil.dock.events.door", ev, "vigil.dock.events.door.evidence", rec, uint8(3))
	f.Add("vigil.dock.events.door.evidence", rec, "vigil.dock.events.door", ev, uint8(1))
	f.Add("x", []byte("{"), "y", []byte(`{"schema":"vigil.event/v1","id":""}`), uint8(0))
	f.Fuzz(func(t *testing.T, s1 string, d1 []byte, s2 string, d2 []byte, max uint8) {
		fuzztest.Watchdog(t)
		x := NewIndex(nil, IndexOptions{Max: int(max%4) + 1, Logger: zerolog.Nop()})
		x.add(s1, d1, 1)
		x.add(s2, d2, 2)
		x.add(s1, d1, 3)
		if x.Len() > x.o.Max {
			t.Fatalf("%d events, max %d", x.Len(), x.o.Max)
		}
		events, _ := x.Find(Query{Limit: 1000})
		seen := map[string]bool{}
		for i, e := range events {
			if seen[e.ID] || e.ID == "" {
				t.Fatalf("event %q twice or without an id", e.ID)
			}
			seen[e.ID] = true
			if i > 0 && e.StreamSeq >= events[i-1].StreamSeq {
				t.Fatal("not newest first")
			}
			if e.Evidence != nil && e.Evidence.Event.ID != e.ID {
				t.Fatalf("record of %q on event %q", e.Evidence.Event.ID, e.ID)
			}
		}
	})
}

// FuzzParseReviewBody: any body gives a review with a known verdict and a
// bounded note, or an error; never a panic.
func FuzzParseReviewBody(f *testing.F) {
	for _, s := range []string{`{"verdict":"false_alarm"}`, `{"verdict":"correct","note":"forklift, not a person"}`,
		`{"verdict":"maybe"}`, `{"verdict":"correct","extra":1}`, `{"verdict":"correct"}{"verdict":"false_alarm"}`, `[]`, ``, `{"note":` + "\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fuzztest.Watchdog(t)
		b, err := parseReviewBody(bytes.NewReader(raw))
		if err != nil {
			return
		}
		if (b.Verdict != VerdictFalseAlarm && b.Verdict != VerdictCorrect) || len(b.Note) > maxNote {
			t.Fatalf("%q parsed as %+v", raw, b)
		}
	})
}
