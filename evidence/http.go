package evidence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/assets"
)

// API serves the events and their evidence:
//
//	GET /api/events?camera=&rule=&type=&since=&until=&limit=&before=
//	    newest first; since and until are RFC 3339 times or Unix seconds;
//	    limit 1-1000 (50); the answer's "next" is the before= of the next
//	    page, absent on the last
//	GET /api/events/{id}                 one event
//	GET /api/events/{id}/snapshot.jpg    its snapshot (HTTP ranges served)
//	GET /api/events/{id}/thumbnail.jpg   its thumbnail
//	GET /api/events/{id}/clip.webm       its clip (HTTP ranges served: a
//	                                     browser seeks in it)
//
//	GET /api/events/changes              server-sent events: {"version": N}
//	                                     whenever the index changed (new
//	                                     events, evidence stored)
//	GET /api/rules/counts                every rule's counts and occupancy,
//	                                     from the counts bucket
//	PUT /api/events/{id}/review          {"verdict": "false_alarm"|"correct",
//	                                     "note": "…"}: kept in VIGIL_REVIEWS,
//	                                     shown with the event; DELETE clears it
//	GET /events, /events.js              the events page
//
// An event's "evidence" is null until its record came (the uploader may
// be waiting for NATS), and names the URLs of what it has.
type API struct {
	Index        *Index
	JS           jetstream.JetStream
	CountsBucket string          // default alerts.DefaultCountsBucket
	Done         <-chan struct{} // closed when the server stops: change streams end
	// OnReview, when set, is told of each verdict kept, with the event's
	// frame as captured (nil when none was kept); it returns the id of
	// the hard example it made of it, if any.
	OnReview func(ctx context.Context, e Event, r Review, frame []byte) (example string, err error)

	mu      sync.Mutex
	buckets map[string]jetstream.ObjectStore
	reviews jetstream.KeyValue // where PUT .../review keeps verdicts; nil: not (yet) kept
}

// SetReviews gives the API the reviews bucket (OpenReviews).
func (a *API) SetReviews(kv jetstream.KeyValue) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reviews = kv
}

func (a *API) reviewsKV() jetstream.KeyValue {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reviews
}

// Register adds the routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/events", a.serveList)
	mux.HandleFunc("GET /api/events/{id}", a.serveEvent)
	mux.HandleFunc("GET /api/events/{id}/snapshot.jpg", a.serveObject)
	mux.HandleFunc("GET /api/events/{id}/thumbnail.jpg", a.serveObject)
	mux.HandleFunc("GET /api/events/{id}/clip.webm", a.serveObject)
	mux.HandleFunc("GET /api/events/changes", a.serveChanges)
	mux.HandleFunc("GET /api/rules/counts", a.serveCounts)
	mux.HandleFunc("PUT /api/events/{id}/review", a.serveReview)
	mux.HandleFunc("DELETE /api/events/{id}/review", a.serveReview)
	mux.HandleFunc("GET /events", assets.Page("web/events.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /events.js", assets.Page("web/events.js", "text/javascript; charset=utf-8"))
}

// serveChanges streams the index's version whenever it changes, a burst
// of changes as one, and a comment every 15 s to keep the connection.
func (a *API) serveChanges(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("this server cannot stream"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		changed, v := a.Index.changes()
		fmt.Fprintf(w, "data: {\"version\":%d}\n\n", v)
		fl.Flush()
	wait:
		select {
		case <-r.Context().Done():
			return
		case <-a.Done:
			return
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
			goto wait
		case <-changed:
		}
		select { // what comes with it
		case <-r.Context().Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RuleCounts is a rule's entry in GET /api/rules/counts.
type RuleCounts = alerts.CountsValue

// serveCounts answers every rule's counts and occupancy, as the counts
// bucket holds them (in a fleet, every node's cameras).
func (a *API) serveCounts(w http.ResponseWriter, r *http.Request) {
	name := a.CountsBucket
	if name == "" {
		name = alerts.DefaultCountsBucket
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	out := struct {
		Rules []RuleCounts `json:"rules"`
	}{Rules: []RuleCounts{}}
	kv, err := a.JS.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		writeJSON(w, http.StatusOK, out) // no rule has counted yet
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("counts bucket %s: %w", name, err))
		return
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("counts bucket %s: %w", name, err))
		return
	}
	defer keys.Stop()
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue // deleted meanwhile
		}
		var v RuleCounts
		if json.Unmarshal(e.Value(), &v) == nil && v.Schema == alerts.CountsSchema {
			out.Rules = append(out.Rules, v)
		}
	}
	sort.Slice(out.Rules, func(i, j int) bool {
		if out.Rules[i].Camera != out.Rules[j].Camera {
			return out.Rules[i].Camera < out.Rules[j].Camera
		}
		return out.Rules[i].Rule < out.Rules[j].Rule
	})
	writeJSON(w, http.StatusOK, out)
}

// EventJSON is an event as the API answers it.
type EventJSON struct {
	Schema     string        `json:"schema"`
	ID         string        `json:"id"`
	Camera     string        `json:"camera"`
	Rule       string        `json:"rule"`
	Kind       string        `json:"kind"`
	Type       string        `json:"type"`
	Direction  string        `json:"direction,omitempty"`
	TrackID    uint64        `json:"track_id"`
	Label      string        `json:"label"`
	Score      float64       `json:"score"`
	Time       time.Time     `json:"time"`
	Seq        uint64        `json:"seq"`
	Occupancy  *int          `json:"occupancy,omitempty"`
	DwellS     float64       `json:"dwell_s,omitempty"`
	Counts     any           `json:"counts"`
	LeaseEpoch uint64        `json:"lease_epoch,omitempty"`
	StreamSeq  uint64        `json:"stream_seq"`
	Evidence   *EvidenceJSON `json:"evidence"`
	Review     *Review       `json:"review"` // null until someone reviewed it
}

// EvidenceJSON names an event's evidence by URL.
type EvidenceJSON struct {
	Snapshot  string    `json:"snapshot,omitempty"`
	Thumbnail string    `json:"thumbnail,omitempty"`
	Clip      string    `json:"clip,omitempty"`
	Width     int       `json:"width"`
	Height    int       `json:"height"`
	Box       *[4]int   `json:"box,omitempty"`
	Stored    time.Time `json:"stored"`
}

func eventJSON(e Event) EventJSON {
	m := e.Message
	out := EventJSON{Schema: m.Schema, ID: m.ID, Camera: m.Camera, Rule: m.Rule, Kind: string(m.Kind), Type: string(m.Type),
		Direction: m.Direction, TrackID: m.TrackID, Label: m.Label, Score: m.Score, Time: m.Time, Seq: m.Seq,
		Occupancy: m.Occupancy, DwellS: m.DwellS, Counts: m.Counts, LeaseEpoch: m.LeaseEpoch, StreamSeq: e.StreamSeq, Review: e.Review}
	if r := e.Evidence; r != nil {
		ev := &EvidenceJSON{Width: r.Width, Height: r.Height, Box: r.Box, Stored: r.Stored}
		base := "/api/events/" + m.ID + "/"
		if r.Snapshot != "" {
			ev.Snapshot = base + "snapshot.jpg"
		}
		if r.Thumbnail != "" {
			ev.Thumbnail = base + "thumbnail.jpg"
		}
		if r.Clip != "" {
			ev.Clip = base + "clip.webm"
		}
		out.Evidence = ev
	}
	return out
}

// ParseQuery reads a Query from URL parameters; an error names the
// parameter and what it takes.
func ParseQuery(get func(string) string) (Query, error) {
	q := Query{Camera: get("camera"), Rule: get("rule"), Type: get("type")}
	var err error
	if q.Since, err = parseTime(get("since")); err != nil {
		return q, fmt.Errorf("since: %w", err)
	}
	if q.Until, err = parseTime(get("until")); err != nil {
		return q, fmt.Errorf("until: %w", err)
	}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return q, fmt.Errorf("limit: %q; use 1 to 1000", s)
		}
		q.Limit = n
	}
	if s := get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return q, fmt.Errorf("before: %q; use the next value of the previous page", s)
		}
		q.Before = n
	}
	return q, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f < 1e11 {
		return time.Unix(0, int64(f*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q; use an RFC 3339 time (2026-12-03T08:00:00Z) or Unix seconds", s)
}

func (a *API) serveList(w http.ResponseWriter, r *http.Request) {
	q, err := ParseQuery(r.URL.Query().Get)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	events, next := a.Index.Find(q)
	out := struct {
		Events []EventJSON `json:"events"`
		Next   uint64      `json:"next,omitempty"`
	}{Events: make([]EventJSON, 0, len(events)), Next: next}
	for _, e := range events {
		out.Events = append(out.Events, eventJSON(e))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) serveEvent(w http.ResponseWriter, r *http.Request) {
	e, ok := a.Index.Get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no event %q among the newest %d", r.PathValue("id"), a.Index.o.Max))
		return
	}
	writeJSON(w, http.StatusOK, eventJSON(e))
}

func (a *API) serveObject(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e, ok := a.Index.Get(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no event %q among the newest %d", id, a.Index.o.Max))
		return
	}
	rec := e.Evidence
	if rec == nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("event %s has no evidence yet (its rule takes none, or it waits for NATS)", id))
		return
	}
	name, ctype := rec.Snapshot, "image/jpeg"
	switch {
	case strings.HasSuffix(r.URL.Path, "/thumbnail.jpg"):
		name = rec.Thumbnail
	case strings.HasSuffix(r.URL.Path, "/clip.webm"):
		name, ctype = rec.Clip, "video/webm"
	}
	if name == "" {
		writeError(w, http.StatusNotFound, fmt.Errorf("event %s has no such evidence", id))
		return
	}
	obs, err := a.bucket(r.Context(), rec.Bucket)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	data, err := obs.GetBytes(r.Context(), name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		writeError(w, http.StatusGone, fmt.Errorf("the evidence of %s was deleted (evidence.max_bytes or max_age)", id))
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("bucket %s: %w", rec.Bucket, err))
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "private, max-age=86400") // an object never changes
	w.Header().Set("ETag", strconv.Quote(id+"/"+name))
	http.ServeContent(w, r, name, rec.Stored, bytes.NewReader(data))
}

// bucket opens a bucket by name once.
func (a *API) bucket(ctx context.Context, name string) (jetstream.ObjectStore, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if obs, ok := a.buckets[name]; ok {
		return obs, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	obs, err := a.JS.ObjectStore(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("evidence bucket %s: %w", name, err)
	}
	if a.buckets == nil {
		a.buckets = map[string]jetstream.ObjectStore{}
	}
	a.buckets[name] = obs
	return obs, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
