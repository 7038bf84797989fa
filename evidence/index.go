package evidence

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
)

// Event is an event as the index keeps it: the message, where it is in the
// stream, and its evidence once the record came.
type Event struct {
	alerts.Message
	StreamSeq uint64  `json:"stream_seq"`
	Evidence  *Record `json:"-"`
	Review    *Review `json:"-"`
}

// IndexOptions configure an Index.
type IndexOptions struct {
	Stream string // the events stream; default alerts.DefaultStream
	Prefix string // subject prefix; default alerts.DefaultPrefix
	Max    int    // events kept, the newest; default 10,000
	Logger zerolog.Logger
}

// Index follows the events stream, events and evidence records, and keeps
// the newest Max events in memory for the HTTP API: every node of a fleet
// sees every node's events. It starts at the stream's last Max events
// (and their records), so a restart shows the recent past again.
type Index struct {
	o   IndexOptions
	js  jetstream.JetStream
	log zerolog.Logger

	mu      sync.RWMutex
	events  []*Event          // by stream sequence, oldest first
	byID    map[string]*Event // the same
	orphans map[string]*Record
	order   []string           // orphans' ids, oldest first
	reviews map[string]*Review // by event id, as the reviews bucket has them
	version uint64
	changed chan struct{} // closed and replaced on every change
	ready   chan struct{} // closed once the backlog is read
	readyOK sync.Once
}

// NewIndex makes an index on js; Run fills it.
func NewIndex(js jetstream.JetStream, o IndexOptions) *Index {
	if o.Stream == "" {
		o.Stream = alerts.DefaultStream
	}
	if o.Prefix == "" {
		o.Prefix = alerts.DefaultPrefix
	}
	if o.Max <= 0 {
		o.Max = 10000
	}
	return &Index{o: o, js: js, log: o.Logger.With().Str("stage", "events-index").Logger(),
		byID: map[string]*Event{}, orphans: map[string]*Record{}, reviews: map[string]*Review{},
		changed: make(chan struct{}), ready: make(chan struct{})}
}

// FollowReviews keeps the events' reviews as the bucket kv has them, until
// ctx ends, watching again when the watch breaks.
func (x *Index) FollowReviews(ctx context.Context, kv jetstream.KeyValue) {
	for ctx.Err() == nil {
		err := x.followReviews(ctx, kv)
		if ctx.Err() != nil {
			return
		}
		x.log.Debug().Err(err).Msg("reviews not followed; trying again")
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// Run follows the stream until ctx ends, starting over (from where it
// got to) when the stream is away.
func (x *Index) Run(ctx context.Context) {
	wait := 200 * time.Millisecond
	var next uint64 // the stream sequence to read from; 0: the last Max
	for ctx.Err() == nil {
		n, err := x.follow(ctx, next)
		if n > next {
			next, wait = n, 200*time.Millisecond
		}
		if ctx.Err() != nil {
			return
		}
		x.log.Debug().Err(err).Dur("retry_in", wait).Msg("events stream not readable; trying again")
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// follow reads the stream from start (0: its last Max messages times two,
// for the records) until ctx ends or the consumer fails; it returns the
// sequence after the last one read.
func (x *Index) follow(ctx context.Context, start uint64) (uint64, error) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	s, err := x.js.Stream(sctx, x.o.Stream)
	cancel()
	if err != nil {
		return start, err
	}
	last := s.CachedInfo().State.LastSeq
	if start == 0 {
		start = 1
		if back := uint64(2 * x.o.Max); last > back {
			start = last - back + 1
		}
	}
	if last < start {
		x.readyOK.Do(func() { close(x.ready) })
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{alerts.EventsFilter(x.o.Prefix), alerts.EvidenceFilter(x.o.Prefix)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy, OptStartSeq: start,
	})
	if err != nil {
		return start, err
	}
	next := start
	it, err := c.Messages()
	if err != nil {
		return start, err
	}
	defer it.Stop()
	go func() { <-ctx.Done(); it.Stop() }()
	for {
		m, err := it.Next()
		if err != nil {
			return next, err
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		next = md.Sequence.Stream + 1
		x.add(m.Subject(), m.Data(), md.Sequence.Stream)
		if md.NumPending == 0 || md.Sequence.Stream >= last {
			x.readyOK.Do(func() { close(x.ready) })
		}
	}
}

// Ready is closed once the index has read the stream's backlog.
func (x *Index) Ready() <-chan struct{} { return x.ready }

// maxOrphans bounds the records kept for events the index has not seen
// (yet: a record may come before its event, published by another spool).
const maxOrphans = 1000

func (x *Index) add(subject string, data []byte, seq uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if strings.HasSuffix(subject, ".evidence") {
		var r Record
		if json.Unmarshal(data, &r) != nil || r.Schema != RecordSchema {
			return
		}
		if e := x.byID[r.Event.ID]; e != nil {
			e.Evidence = newer(e.Evidence, &r)
		} else if old, ok := x.orphans[r.Event.ID]; ok {
			x.orphans[r.Event.ID] = newer(old, &r)
		} else {
			x.orphans[r.Event.ID] = &r
			x.order = append(x.order, r.Event.ID)
			for len(x.order) > maxOrphans {
				delete(x.orphans, x.order[0])
				x.order = x.order[1:]
			}
		}
		x.changedLocked()
		return
	}
	var m alerts.Message
	if json.Unmarshal(data, &m) != nil || m.Schema != alerts.EventSchema || m.ID == "" {
		return
	}
	if _, dup := x.byID[m.ID]; dup {
		return
	}
	e := &Event{Message: m, StreamSeq: seq}
	if r, ok := x.orphans[m.ID]; ok {
		e.Evidence = r
		delete(x.orphans, m.ID) // its id stays in order until it ages out
	}
	x.events = append(x.events, e)
	x.byID[m.ID] = e
	if len(x.events) > x.o.Max {
		drop := len(x.events) - x.o.Max
		for _, d := range x.events[:drop] {
			delete(x.byID, d.ID)
		}
		x.events = append(x.events[:0:0], x.events[drop:]...)
	}
	x.changedLocked()
}

// newer is the record to keep of two for one event: the one that names
// the clip (it names everything the other does), else the later.
func newer(old, r *Record) *Record {
	if old != nil && old.Clip != "" && r.Clip == "" {
		return old
	}
	return r
}

func (x *Index) changedLocked() {
	x.version++
	close(x.changed)
	x.changed = make(chan struct{})
}

// changes returns a channel closed at the index's next change, and the
// version it has now.
func (x *Index) changes() (<-chan struct{}, uint64) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.changed, x.version
}

// Query selects events; zero fields match all.
type Query struct {
	Camera, Rule, Type string
	Since, Until       time.Time // the event's time: Since ≤ t < Until
	Before             uint64    // stream sequences below this (paging); 0: from the newest
	Limit              int       // default 50, at most 1000
}

// Find returns the events q selects, newest first, and the Before of the
// next page (0 when there is none).
func (x *Index) Find(q Query) (events []Event, next uint64) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, 1000)
	x.mu.RLock()
	defer x.mu.RUnlock()
	i := len(x.events)
	if q.Before > 0 {
		i = sort.Search(len(x.events), func(k int) bool { return x.events[k].StreamSeq >= q.Before })
	}
	for i--; i >= 0; i-- {
		e := x.events[i]
		if (q.Camera != "" && e.Camera != q.Camera) || (q.Rule != "" && e.Rule != q.Rule) || (q.Type != "" && string(e.Type) != q.Type) ||
			(!q.Since.IsZero() && e.Time.Before(q.Since)) || (!q.Until.IsZero() && !e.Time.Before(q.Until)) {
			continue
		}
		if len(events) == q.Limit {
			return events, events[len(events)-1].StreamSeq
		}
		c := *e
		c.Review = x.reviews[e.ID]
		events = append(events, c)
	}
	return events, 0
}

// Get returns the event with id.
func (x *Index) Get(id string) (Event, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.byID[id]
	if !ok {
		return Event{}, false
	}
	c := *e
	c.Review = x.reviews[id]
	return c, true
}

// Len is how many events the index holds.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.events)
}
