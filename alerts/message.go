package alerts

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/vigil-vision/vigil/internal/jsonnum"
	"github.com/vigil-vision/vigil/rules"
)

// Schemas of what this package publishes; consumers check them.
const (
	EventSchema  = "vigil.event/v1"
	CountsSchema = "vigil.counts/v1"
)

// Names of what this package creates in JetStream, by default.
const (
	DefaultStream       = "VIGIL_EVENTS"
	DefaultCountsBucket = "VIGIL_COUNTS"
	DefaultDuplicates   = 2 * time.Minute
	DefaultPrefix       = "vigil"
)

// Message is one event as published: JSON on <prefix>.<camera>.events.<rule>.
type Message struct {
	Schema    string           `json:"schema"` // EventSchema
	ID        string           `json:"id"`     // unique; also the Nats-Msg-Id header
	Camera    string           `json:"camera"`
	Rule      string           `json:"rule"`
	Kind      rules.Kind       `json:"kind"` // zone or line
	Type      rules.Type       `json:"type"`
	Direction string           `json:"direction,omitempty"` // line_cross: the rule's direction name
	TrackID   uint64           `json:"track_id"`            // 0: no track (occupancy cleared after a cooldown)
	Class     int              `json:"class"`               // -1 without a track
	Label     string           `json:"label"`               // "" without a track
	Score     float64          `json:"score"`
	Time      time.Time        `json:"time"`                // capture time of the frame
	Seq       uint64           `json:"seq"`                 // the frame's seq on its camera
	Occupancy *int             `json:"occupancy,omitempty"` // zones: tracks inside now
	DwellS    float64          `json:"dwell_s,omitempty"`   // dwell: seconds inside
	Counts    map[string]int64 `json:"counts"`              // the rule's counts after this event
	// LeaseEpoch is the lease epoch of the node that ran the camera when
	// the event happened; it grows with each new owner. A consumer ignores
	// an event whose epoch is older than one it already saw for the camera
	// (a late event of an old owner). 0: the camera is not run by a fleet.
	LeaseEpoch uint64 `json:"lease_epoch,omitempty"`
}

// EventSubject is "<prefix>.<camera>.events.<rule>"; MQTT clients see it as
// the topic "<prefix>/<camera>/events/<rule>".
func EventSubject(prefix, camera, rule string) string {
	return prefix + "." + camera + ".events." + rule
}

// EventsFilter matches every camera's and rule's events.
func EventsFilter(prefix string) string { return prefix + ".*.events.*" }

// EvidenceFilter matches the records that name an event's evidence
// (package evidence), one token below the event's subject:
// "<prefix>.<camera>.events.<rule>.evidence". The events stream takes
// them too, so that they are as durable as the events; a consumer of
// EventsFilter does not see them.
func EvidenceFilter(prefix string) string { return EventsFilter(prefix) + ".evidence" }

// CommandSubject is where a camera takes commands: "<prefix>.<camera>.cmd".
func CommandSubject(prefix, camera string) string { return prefix + "." + camera + ".cmd" }

// CountsKey is a rule's key in the counts bucket: "<camera>.<rule>".
func CountsKey(camera, rule string) string { return camera + "." + rule }

// idSource makes event ids: a random prefix per process and a counter,
// unique across restarts without coordination.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() *idSource {
	var b [8]byte
	rand.Read(b[:])
	return &idSource{prefix: hex.EncodeToString(b[:])}
}

func (s *idSource) next() string { return s.prefix + "-" + strconv.FormatUint(s.n.Add(1), 10) }

// NewMessage makes the message of an event seen on a camera's frame seq.
func NewMessage(id, camera string, seq uint64, ev rules.Event, labels []string) Message {
	m := Message{
		Schema: EventSchema, ID: id, Camera: camera, Rule: ev.Rule, Kind: ev.Kind, Type: ev.Type,
		Direction: ev.Direction, TrackID: ev.TrackID, Class: ev.Class, Score: jsonnum.Round(ev.Score, 4),
		Time: ev.Time.UTC(), Seq: seq, Counts: ev.Counts,
	}
	if ev.Class >= 0 {
		m.Label = strconv.Itoa(ev.Class)
		if ev.Class < len(labels) {
			m.Label = labels[ev.Class]
		}
	}
	if ev.Kind == rules.KindZone {
		occ := ev.Occupancy
		m.Occupancy = &occ
	}
	if ev.Type == rules.TypeDwell {
		m.DwellS = jsonnum.Round(ev.Dwell.Seconds(), 3)
	}
	if m.Counts == nil {
		m.Counts = map[string]int64{}
	}
	return m
}

// CountsValue is a rule's entry in the counts bucket.
type CountsValue struct {
	Schema    string           `json:"schema"` // CountsSchema
	Camera    string           `json:"camera"`
	Rule      string           `json:"rule"`
	Kind      rules.Kind       `json:"kind"`
	Armed     bool             `json:"armed"`
	Occupancy int              `json:"occupancy"` // zones: tracks inside now
	Occupied  bool             `json:"occupied"`  // zones: at or above the threshold, as reported
	Counts    map[string]int64 `json:"counts"`
	UpdatedAt time.Time        `json:"updated_at"`
	// LeaseEpoch is the writer's lease epoch, as in Message: a value never
	// replaces one of a greater epoch. 0: not run by a fleet.
	LeaseEpoch uint64 `json:"lease_epoch,omitempty"`
}
