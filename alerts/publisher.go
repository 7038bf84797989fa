package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Publisher defaults.
const (
	DefaultRetryMin       = 100 * time.Millisecond
	DefaultRetryMax       = 5 * time.Second
	DefaultPublishTimeout = 5 * time.Second
	warnEvery             = 5 * time.Second
)

// StreamOptions describe the events stream that the publisher creates or
// updates at start.
type StreamOptions struct {
	Name       string        // default DefaultStream
	Subjects   []string      // default EventsFilter(prefix)
	MaxAge     time.Duration // 0: no limit
	MaxBytes   int64         // 0: no limit
	Duplicates time.Duration // the Nats-Msg-Id window; default DefaultDuplicates
	Replicas   int           // default 1
}

func (o StreamOptions) config() jetstream.StreamConfig {
	maxBytes := o.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name: o.Name, Description: "vigil rule events (" + EventSchema + ")",
		Subjects: o.Subjects, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
		Discard: jetstream.DiscardOld, MaxAge: o.MaxAge, MaxBytes: maxBytes,
		Duplicates: o.Duplicates, Replicas: max(o.Replicas, 1),
	}
}

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	Conn     *nats.Conn
	Spool    *Spool
	Prefix   string // subject prefix; default "vigil"
	Stream   StreamOptions
	RetryMin time.Duration // first pause after a failed publish; default 100ms
	RetryMax time.Duration // longest pause; default 5s
	// PublishTimeout bounds the wait for JetStream's acknowledgement.
	PublishTimeout time.Duration
	Registerer     prometheus.Registerer // nil: no metrics
	Logger         zerolog.Logger
}

// Publisher accepts events onto its spool and publishes the spool to
// JetStream in order, one acknowledged message at a time.
type Publisher struct {
	o   PublisherOptions
	js  jetstream.JetStream
	ids *idSource
	log zerolog.Logger
	m   *metrics

	accepted, published, duplicates, errs atomic.Uint64
	streamReady                           bool
	warn                                  limiter
	idle                                  chan struct{} // closed and replaced as the spool empties
	idleMu                                sync.Mutex
}

// NewPublisher checks the options; Run starts publishing.
func NewPublisher(o PublisherOptions) (*Publisher, error) {
	if o.Conn == nil {
		return nil, errors.New("alerts publisher: no NATS connection")
	}
	if o.Spool == nil {
		return nil, errors.New("alerts publisher: no spool")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Stream.Name == "" {
		o.Stream.Name = DefaultStream
	}
	if len(o.Stream.Subjects) == 0 {
		o.Stream.Subjects = []string{EventsFilter(o.Prefix)}
	}
	if o.Stream.Duplicates == 0 {
		o.Stream.Duplicates = DefaultDuplicates
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(DefaultRetryMax, o.RetryMin)
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = DefaultPublishTimeout
	}
	js, err := jetstream.New(o.Conn)
	if err != nil {
		return nil, fmt.Errorf("alerts publisher: %w", err)
	}
	p := &Publisher{o: o, js: js, ids: newIDSource(), idle: make(chan struct{})}
	p.log = o.Logger.With().Str("stage", "alerts").Logger()
	p.warn = limiter{every: warnEvery}
	if o.Registerer != nil {
		if p.m, err = newMetrics(o.Registerer); err != nil {
			return nil, fmt.Errorf("alerts publisher: %w", err)
		}
	}
	return p, nil
}

// NextID returns a new unique event id.
func (p *Publisher) NextID() string { return p.ids.next() }

// Accept spools m: when it returns nil, m is on disk and will reach the
// stream, across NATS outages and restarts, unless the spool overflows or m
// outlives the spool's max age first. m.ID is filled in when empty.
func (p *Publisher) Accept(m Message) error {
	if m.ID == "" {
		m.ID = p.NextID()
	}
	if m.Schema == "" {
		m.Schema = EventSchema
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("alerts: marshal event %s: %w", m.ID, err)
	}
	t0 := time.Now()
	_, err = p.o.Spool.Append(EventSubject(p.o.Prefix, m.Camera, m.Rule), m.ID, data)
	if p.m != nil {
		p.m.append.Observe(time.Since(t0).Seconds())
	}
	if err != nil {
		p.count(p.m.errorsVec(), "spool")
		p.log.Error().Err(err).Str("camera", m.Camera).Str("rule", m.Rule).Str("id", m.ID).Msg("alert not spooled: it is lost")
		return err
	}
	p.accepted.Add(1)
	if p.m != nil {
		p.m.accepted.WithLabelValues(m.Camera).Inc()
	}
	p.gauges()
	return nil
}

func (p *Publisher) count(c *prometheus.CounterVec, label string) {
	if c != nil {
		c.WithLabelValues(label).Inc()
	}
}

func (p *Publisher) gauges() {
	if p.m == nil {
		return
	}
	st := p.o.Spool.Stats()
	p.m.pending.Set(float64(st.Pending))
	p.m.bytes.Set(float64(st.Bytes))
}

// Run publishes the spool until ctx ends.
func (p *Publisher) Run(ctx context.Context) {
	wait := time.Duration(0)
	for {
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		e, ok := p.o.Spool.Head()
		if !ok {
			p.setIdle()
			p.gauges()
			select {
			case <-ctx.Done():
				return
			case <-p.o.Spool.Ready():
			}
			wait = 0
			continue
		}
		if err := p.publish(ctx, e); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.errs.Add(1)
			p.count(p.m.errorsVec(), "publish")
			if n, ok := p.warn.allow(); ok {
				p.log.Warn().Err(err).Uint64("failures", n).Int("pending", p.o.Spool.Stats().Pending).
					Msg("alerts: NATS did not take the event; it stays in the spool and is retried")
			}
			wait = min(max(2*wait, p.o.RetryMin), p.o.RetryMax)
			continue
		}
		wait = 0
	}
}

func (p *Publisher) publish(ctx context.Context, e Entry) error {
	if !p.o.Conn.IsConnected() {
		return errors.New("NATS not connected")
	}
	if !p.streamReady {
		if err := p.EnsureStream(ctx); err != nil {
			return err
		}
		p.streamReady = true
	}
	msg := &nats.Msg{Subject: e.Subject, Data: e.Data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, e.MsgID)
	pctx, cancel := context.WithTimeout(ctx, p.o.PublishTimeout)
	defer cancel()
	ack, err := p.js.PublishMsg(pctx, msg, jetstream.WithExpectStream(p.o.Stream.Name), jetstream.WithRetryAttempts(0))
	if err != nil {
		p.streamReady = false // it may have been deleted, or the server restarted empty
		return fmt.Errorf("publish %s (id %s): %w", e.Subject, e.MsgID, err)
	}
	p.published.Add(1)
	if p.m != nil {
		p.m.published.Inc()
	}
	if ack.Duplicate {
		p.duplicates.Add(1)
		if p.m != nil {
			p.m.duplicates.Inc()
		}
	}
	if err := p.o.Spool.Ack(e.Seq); err != nil {
		// Published but not marked done: after a restart it is sent again
		// and the stream drops it as a duplicate within its window.
		p.log.Error().Err(err).Msg("alerts: spool cursor not written")
	}
	return nil
}

// EnsureStream creates the events stream, or updates it when its settings
// differ from the options; a stream already as configured is left alone.
func (p *Publisher) EnsureStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.o.PublishTimeout)
	defer cancel()
	want := p.o.Stream.config()
	s, err := p.js.Stream(ctx, want.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = p.js.CreateStream(ctx, want)
	case err == nil:
		have := s.CachedInfo().Config
		if !slices.Equal(have.Subjects, want.Subjects) || have.MaxAge != want.MaxAge || have.MaxBytes != want.MaxBytes ||
			have.Duplicates != want.Duplicates || have.Replicas != want.Replicas || have.Discard != want.Discard {
			p.log.Info().Str("stream", want.Name).Msg("alerts: updating the stream to the configured settings")
			_, err = p.js.UpdateStream(ctx, want)
		}
	}
	if err != nil {
		return fmt.Errorf("create or update stream %s: %w", want.Name, err)
	}
	return nil
}

func (p *Publisher) setIdle() {
	p.idleMu.Lock()
	defer p.idleMu.Unlock()
	select {
	case <-p.idle:
	default:
		close(p.idle)
	}
}

// Flush waits until the spool is empty, or ctx ends; Run must be running.
func (p *Publisher) Flush(ctx context.Context) error {
	for {
		if p.o.Spool.Stats().Pending == 0 {
			return nil
		}
		p.idleMu.Lock()
		select {
		case <-p.idle:
			p.idle = make(chan struct{})
		default:
		}
		idle := p.idle
		p.idleMu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("alerts: %d events still spooled: %w", p.o.Spool.Stats().Pending, ctx.Err())
		case <-idle:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PublishStats counts what the publisher did since it was made.
type PublishStats struct {
	Accepted   uint64 // spooled
	Published  uint64 // acknowledged by JetStream, duplicates included
	Duplicates uint64 // acknowledged as already stored (a re-send)
	Errors     uint64 // failed attempts, each retried
	Pending    int    // in the spool now
	Dropped    uint64 // dropped by the spool: full or too old
}

// Stats returns the counts so far.
func (p *Publisher) Stats() PublishStats {
	st := p.o.Spool.Stats()
	return PublishStats{Accepted: p.accepted.Load(), Published: p.published.Load(), Duplicates: p.duplicates.Load(),
		Errors: p.errs.Load(), Pending: st.Pending, Dropped: st.Dropped}
}

// limiter lets a message through at most once per period and says how many
// were held back.
type limiter struct {
	every time.Duration
	mu    sync.Mutex
	last  time.Time
	n     uint64
}

func (l *limiter) allow() (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if !l.last.IsZero() && time.Since(l.last) < l.every {
		return 0, false
	}
	n := l.n
	l.n, l.last = 0, time.Now()
	return n, true
}
