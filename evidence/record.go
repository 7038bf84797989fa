package evidence

import (
	"fmt"
	"image"
	"strings"
	"time"

	"github.com/vigil-vision/vigil/alerts"
)

// RecordSchema is the schema of Record, in its JSON.
const RecordSchema = "vigil.evidence/v1"

// DefaultBucket is the object store bucket that keeps evidence.
const DefaultBucket = "VIGIL_EVIDENCE"

// Record says what evidence an event has: the names of its objects in the
// bucket. It is published, once its objects are stored, on
// Subject(prefix, camera, rule) with the Nats-Msg-Id MsgID, and kept with
// each object as its metadata (key MetaKey).
type Record struct {
	Schema string         `json:"schema"` // RecordSchema
	Event  alerts.Message `json:"event"`
	Bucket string         `json:"bucket"`
	// Object names in the bucket; "" when the event has none of that
	// kind (its rule asks for none, or there was no object to crop).
	Snapshot  string `json:"snapshot,omitempty"`
	Thumbnail string `json:"thumbnail,omitempty"`
	Clip      string `json:"clip,omitempty"`
	// Frame is the frame as captured, no drawing on it (kept where hard
	// examples are captured: a reviewed event's frame becomes one).
	Frame string `json:"frame,omitempty"`
	// Objects are the frame's tracks, the event's among them, in the
	// snapshot's pixels.
	Objects []Object `json:"objects,omitempty"`
	// Width and Height are the snapshot's, in pixels; Box is the event's
	// object in it, [x0, y0, x1, y1] (absent without a track).
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Box    *[4]int `json:"box,omitempty"`
	// Stored is when the last object reached the bucket.
	Stored time.Time `json:"stored"`
}

// Subject is where an event's Record is published:
// "<prefix>.<camera>.events.<rule>.evidence", one token below the event's
// own subject, so that alerts.EventsFilter does not match it and
// alerts.EvidenceFilter does: the events stream keeps it.
func Subject(prefix, camera, rule string) string {
	return alerts.EventSubject(prefix, camera, rule) + ".evidence"
}

// MsgID is the Nats-Msg-Id of an event's Record: a re-send after an outage
// is dropped by the stream. An event with a clip has two records, the
// first when its snapshot is stored, the second, naming the clip too, once
// the clip is: "<event id>.evidence" and "<event id>.evidence.clip".
func MsgID(r Record) string {
	if r.Clip != "" {
		return r.Event.ID + ".evidence.clip"
	}
	return r.Event.ID + ".evidence"
}

// Object names: "<camera>/<event id>/snapshot.jpg" and so on, so that a
// camera's evidence lists together.
func SnapshotName(camera, id string) string  { return camera + "/" + id + "/snapshot.jpg" }
func ThumbnailName(camera, id string) string { return camera + "/" + id + "/thumbnail.jpg" }
func FrameName(camera, id string) string     { return camera + "/" + id + "/frame.jpg" }

// MetaKey is the object metadata key that holds the Record as JSON.
const MetaKey = "vigil-evidence"

// checkID refuses an event id that would not make a safe file or object
// name: the spool keeps an event's files in a folder named after it.
func checkID(id string) error {
	if id == "" || len(id) > 128 || strings.ContainsAny(id, "/\\\x00") || id == "." || id == ".." {
		return fmt.Errorf("evidence: event id %q cannot name a file", id)
	}
	return nil
}

func boxOf(r image.Rectangle) *[4]int {
	if r.Empty() {
		return nil
	}
	return &[4]int{r.Min.X, r.Min.Y, r.Max.X, r.Max.Y}
}
