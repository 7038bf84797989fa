package evidence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/internal/jskv"
)

// ReviewSchema is the schema of a Review, in its JSON.
const ReviewSchema = "vigil.review/v1"

// DefaultReviewBucket is the key-value bucket of reviews, key the event id.
const DefaultReviewBucket = "VIGIL_REVIEWS"

// Verdicts a person gives an event on the events page.
const (
	VerdictFalseAlarm = "false_alarm" // nothing was there to alert on
	VerdictCorrect    = "correct"     // the alert was right
)

// Review is what a person said about an event: kept in the bucket
// VIGIL_REVIEWS under the event's id, shared by a fleet, and shown with the
// event.
type Review struct {
	Schema  string    `json:"schema"` // ReviewSchema
	EventID string    `json:"event_id"`
	Camera  string    `json:"camera"`
	Rule    string    `json:"rule"`
	Verdict string    `json:"verdict"`
	Note    string    `json:"note,omitempty"`
	At      time.Time `json:"at"`
}

// maxNote bounds a review's note: a sentence or two.
const maxNote = 1000

// OpenReviews creates the reviews bucket or takes it as it is.
func OpenReviews(ctx context.Context, js jetstream.JetStream, name string, replicas int) (jetstream.KeyValue, error) {
	if name == "" {
		name = DefaultReviewBucket
	}
	kv, _, err := jskv.Open(ctx, js, jetstream.KeyValueConfig{Bucket: name, Description: "vigil event reviews (" + ReviewSchema + "), key the event id",
		Storage: jetstream.FileStorage, Replicas: replicas})
	if err != nil {
		return nil, fmt.Errorf("reviews %w", err)
	}
	return kv, nil
}

// followReviews keeps the index's events' reviews as the bucket has them,
// until ctx ends.
func (x *Index) followReviews(ctx context.Context, kv jetstream.KeyValue) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("the reviews watch ended")
			}
			if e == nil {
				continue // the bucket's current state has been sent
			}
			var r *Review
			if e.Operation() == jetstream.KeyValuePut {
				var v Review
				if json.Unmarshal(e.Value(), &v) != nil || v.Schema != ReviewSchema {
					continue
				}
				r = &v
			}
			x.setReview(e.Key(), r)
		}
	}
}

func (x *Index) setReview(id string, r *Review) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if r == nil {
		delete(x.reviews, id)
	} else {
		x.reviews[id] = r
	}
	x.changedLocked()
}

// serveReview stores a person's verdict on an event:
//
//	PUT /api/events/{id}/review   {"verdict": "false_alarm"|"correct", "note": "…"}
//	DELETE /api/events/{id}/review
func (a *API) serveReview(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e, ok := a.Index.Get(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no event %q among the newest %d", id, a.Index.o.Max))
		return
	}
	kv := a.reviewsKV()
	if kv == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("the reviews bucket is not open yet (is NATS reachable?); try again in a moment"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if r.Method == http.MethodDelete {
		if err := kv.Delete(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			writeError(w, http.StatusServiceUnavailable, err)
			return
		}
		a.Index.setReview(id, nil)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, err := parseReviewBody(http.MaxBytesReader(w, r.Body, 16<<10))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	rv := Review{Schema: ReviewSchema, EventID: id, Camera: e.Camera, Rule: e.Rule, Verdict: body.Verdict, Note: body.Note, At: time.Now().UTC()}
	data, _ := json.Marshal(rv)
	if _, err := kv.Put(ctx, id, data); err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("reviews bucket: %w", err))
		return
	}
	a.Index.setReview(id, &rv) // shown at once; the watch says it again
	out := struct {
		Review
		Example      string `json:"example,omitempty"`       // the hard example made of the event's frame
		ExampleError string `json:"example_error,omitempty"` // why none was, where one was wanted
	}{Review: rv}
	if a.OnReview != nil {
		var frame []byte
		if rec := e.Evidence; rec != nil && rec.Frame != "" {
			if obs, err := a.bucket(ctx, rec.Bucket); err == nil {
				frame, _ = obs.GetBytes(ctx, rec.Frame)
			}
		}
		ex, err := a.OnReview(ctx, e, rv, frame)
		out.Example = ex
		if err != nil {
			out.ExampleError = err.Error()
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// reviewBody is a review as a client sends it.
type reviewBody struct {
	Verdict string `json:"verdict"`
	Note    string `json:"note"`
}

// parseReviewBody reads a review's body: one JSON object, a known verdict,
// a note within maxNote bytes, nothing else.
func parseReviewBody(r io.Reader) (reviewBody, error) {
	var body reviewBody
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return body, fmt.Errorf("body: %w; send {\"verdict\": \"false_alarm\" or \"correct\", \"note\": \"…\"}", err)
	}
	if dec.More() {
		return body, errors.New("body: more than one JSON object; send one review")
	}
	if body.Verdict != VerdictFalseAlarm && body.Verdict != VerdictCorrect {
		return body, fmt.Errorf("verdict %q; use %q or %q", body.Verdict, VerdictFalseAlarm, VerdictCorrect)
	}
	if len(body.Note) > maxNote {
		return body, fmt.Errorf("the note is %d bytes; keep it under %d", len(body.Note), maxNote)
	}
	return body, nil
}
