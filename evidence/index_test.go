package evidence

import (
	"context"
	"encoding/json"
	"image"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/rules"
)

// publishEvent puts an event in the stream as package alerts does.
func publishEvent(t *testing.T, js jetstream.JetStream, m alerts.Message) {
	t.Helper()
	data, _ := json.Marshal(m)
	msg := &nats.Msg{Subject: alerts.EventSubject("vigil", m.Camera, m.Rule), Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, m.ID)
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string, header map[string]string, into any) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if into != nil {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp
}

type listJSON struct {
	Events []EventJSON `json:"events"`
	Next   uint64      `json:"next"`
	Error  string      `json:"error"`
}

func TestTheIndexFollowsEventsAndEvidenceAndServesThem(t *testing.T) {
	port := freePort(t)
	startServer(t, port, t.TempDir())
	nc := connect(t, port)
	eventsStream(t, nc)
	js, _ := jetstream.New(nc)
	r, _ := newRecorder(t, nc, Options{})
	frame := videoFrame(t)

	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	mk := func(n int, camera, rule string, typ rules.Type) alerts.Message {
		m := event(camera, n)
		m.Rule, m.Type, m.Time = rule, typ, t0.Add(time.Duration(n)*time.Second)
		return m
	}
	// Events before the index starts: it reads the backlog.
	var all []alerts.Message
	for i := 1; i <= 30; i++ {
		cam, rule, typ := "dock", "door", rules.TypeLineCross
		if i%3 == 0 {
			cam, rule, typ = "gate", "yard", rules.TypeZoneEnter
		}
		m := mk(i, cam, rule, typ)
		all = append(all, m)
		publishEvent(t, js, m)
	}
	// Evidence for two: one whose record comes after the event, and one
	// whose record comes first (an event still in the alerts spool).
	withEvidence := all[25]
	r.Capture(frame, []Request{{Event: withEvidence, Shot: &Shot{Box: image.Rect(100, 100, 160, 260)}}})
	early := mk(31, "dock", "door", rules.TypeLineCross)
	r.Capture(frame, []Request{{Event: early, Shot: &Shot{}}})
	waitFor(t, "evidence stored", func() bool { return r.Spool().Len() == 0 && r.Bucket() != nil })

	x := NewIndex(js, IndexOptions{Max: 25, Logger: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); x.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-x.Ready()
	waitFor(t, "the backlog read", func() bool { return x.Len() == 25 })
	publishEvent(t, js, early)
	all = append(all, early)
	waitFor(t, "the live event", func() bool { _, ok := x.Get(early.ID); return ok })

	if _, ok := x.Get(all[0].ID); ok {
		t.Error("the index keeps more than Max events")
	}
	reviews, err := OpenReviews(ctx, js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	go x.FollowReviews(ctx, reviews)
	api := &API{Index: x, JS: js}
	api.SetReviews(reviews)
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// Newest first, filtered, paged.
	var page listJSON
	get(t, srv.URL+"/api/events?camera=dock&limit=4", nil, &page)
	if len(page.Events) != 4 || page.Events[0].ID != early.ID || page.Next == 0 {
		t.Fatalf("first page %+v", page)
	}
	seen := map[string]bool{}
	for url := srv.URL + "/api/events?camera=dock&limit=4"; ; {
		var p listJSON
		get(t, url, nil, &p)
		for _, e := range p.Events {
			if e.Camera != "dock" || seen[e.ID] {
				t.Errorf("paging gave %s (%s) again or of another camera", e.ID, e.Camera)
			}
			seen[e.ID] = true
		}
		if p.Next == 0 {
			break
		}
		url = srv.URL + "/api/events?camera=dock&limit=4&before=" + strconv.FormatUint(p.Next, 10)
	}
	want := 0
	for _, m := range all[len(all)-25:] { // the newest 25, the live one among them
		if m.Camera == "dock" {
			want++
		}
	}
	if len(seen) != want {
		t.Errorf("paged %d dock events, the index holds %d", len(seen), want)
	}
	var zone listJSON
	get(t, srv.URL+"/api/events?type=zone_enter&since="+t0.Add(20*time.Second).Format(time.RFC3339)+"&until="+
		strconv.FormatInt(t0.Add(28*time.Second).Unix(), 10), nil, &zone)
	if len(zone.Events) != 3 { // 21, 24, 27
		t.Errorf("zone_enter between 20 s and 28 s: %+v", zone.Events)
	}
	for _, bad := range []string{"limit=0", "since=yesterday", "before=x"} {
		var e listJSON
		if resp := get(t, srv.URL+"/api/events?"+bad, nil, &e); resp.StatusCode != http.StatusBadRequest || e.Error == "" {
			t.Errorf("%s: %d %q", bad, resp.StatusCode, e.Error)
		}
	}

	// Evidence: the record after the event and the one before it.
	for _, id := range []string{withEvidence.ID, early.ID} {
		var e EventJSON
		waitFor(t, "the record of "+id, func() bool {
			get(t, srv.URL+"/api/events/"+id, nil, &e)
			return e.Evidence != nil
		})
		if e.Evidence.Snapshot != "/api/events/"+id+"/snapshot.jpg" || e.Evidence.Width != frame.Cols() {
			t.Errorf("evidence of %s: %+v", id, e.Evidence)
		}
		resp := get(t, srv.URL+e.Evidence.Snapshot, nil, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("snapshot of %s: %d %s", id, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		decode(t, body)
		// A range, as a browser asks for when it seeks.
		part := get(t, srv.URL+e.Evidence.Snapshot, map[string]string{"Range": "bytes=100-199"}, nil)
		pb, _ := io.ReadAll(part.Body)
		if part.StatusCode != http.StatusPartialContent || string(pb) != string(body[100:200]) {
			t.Errorf("range of %s: %d, %d bytes", id, part.StatusCode, len(pb))
		}
		th := get(t, srv.URL+e.Evidence.Thumbnail, nil, nil)
		if th.StatusCode != http.StatusOK {
			t.Errorf("thumbnail of %s: %d", id, th.StatusCode)
		}
	}
	var none EventJSON
	get(t, srv.URL+"/api/events/"+all[10].ID, nil, &none)
	if none.Evidence != nil || none.ID != all[10].ID {
		t.Errorf("an event without evidence: %+v", none)
	}
	if resp := get(t, srv.URL+"/api/events/"+all[10].ID+"/snapshot.jpg", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("snapshot of an event without evidence: %d", resp.StatusCode)
	}
	if resp := get(t, srv.URL+"/api/events/nope", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown event: %d", resp.StatusCode)
	}
	// Reviews: a verdict kept and shown, a bad one refused, another
	// node's seen through the bucket, and cleared.
	put := func(id, body string) int {
		req, _ := http.NewRequest("PUT", srv.URL+"/api/events/"+id+"/review", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put(withEvidence.ID, `{"verdict": "false_alarm", "note": "a shadow"}`); code != http.StatusOK {
		t.Fatalf("review: %d", code)
	}
	var reviewed EventJSON
	get(t, srv.URL+"/api/events/"+withEvidence.ID, nil, &reviewed)
	if reviewed.Review == nil || reviewed.Review.Verdict != VerdictFalseAlarm || reviewed.Review.Note != "a shadow" || reviewed.Review.Rule != withEvidence.Rule {
		t.Errorf("review %+v", reviewed.Review)
	}
	for body, want := range map[string]int{`{"verdict": "maybe"}`: 400, `{"verdict": "correct", "x": 1}`: 400, `not json`: 400} {
		if code := put(withEvidence.ID, body); code != want {
			t.Errorf("review %s: %d, want %d", body, code, want)
		}
	}
	if code := put("nope", `{"verdict": "correct"}`); code != http.StatusNotFound {
		t.Errorf("review of an unknown event: %d", code)
	}
	other, _ := json.Marshal(Review{Schema: ReviewSchema, EventID: all[20].ID, Verdict: VerdictCorrect, At: time.Now()})
	if _, err := reviews.Put(ctx, all[20].ID, other); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "another node's review", func() bool { e, _ := x.Get(all[20].ID); return e.Review != nil && e.Review.Verdict == VerdictCorrect })
	req, _ := http.NewRequest("DELETE", srv.URL+"/api/events/"+withEvidence.ID+"/review", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete review: %v %v", resp, err)
	}
	waitFor(t, "the review cleared", func() bool { e, _ := x.Get(withEvidence.ID); return e.Review == nil })

	// Pruned from the bucket: gone, and said so.
	if err := r.Bucket().b.Delete(context.Background(), SnapshotName("dock", early.ID)); err != nil {
		t.Fatal(err)
	}
	if resp := get(t, srv.URL+"/api/events/"+early.ID+"/snapshot.jpg", nil, nil); resp.StatusCode != http.StatusGone {
		t.Errorf("a deleted snapshot: %d", resp.StatusCode)
	}
}
