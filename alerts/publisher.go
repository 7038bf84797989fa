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
	Subjects   []string      // default EventsFilter(prefix) and EvidenceFilter(prefix)
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
	// Overflow bounds the events held in memory while the spool cannot be
	// written.
	Overflow   OverflowOptions
	Registerer prometheus.Registerer // nil: no metrics
	Logger     zerolog.Logger
}

// Publisher accepts events onto its spool and publishes the spool to
// JetStream in order, one acknowledged message at a time. While the spool
// cannot be written it holds new events in memory, behind the spool's, and
// publishes them straight from there (see the package documentation).
type Publisher struct {
	o   PublisherOptions
	js  jetstream.JetStream
	ids *idSource
	log zerolog.Logger
	m   *metrics

	accepted, published, duplicates, errs atomic.Uint64
	unspooled, direct, heldDropped        atomic.Uint64
	streamReady                           bool
	warn, dropWarn, cursorWarn            limiter
	idle                                  chan struct{} // closed and replaced as the spool empties
	idleMu                                sync.Mutex

	// heldMu orders Accept, the restore into the spool and the publishing
	// of held events: an event goes to the spool only while nothing is
	// held, so that the stream gets the events in the order they came.
	heldMu   sync.Mutex
	held     overflow
	spoolErr error // why the spool cannot be written; nil while it can
	failed   faultCounts
	heldIn   chan struct{} // signalled when an event is held
}

// faultCounts count what became of the events that came while the spool
// could not be written, for the line that says it can again.
type faultCounts struct {
	since                          time.Time
	held, spooled, direct, dropped int
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
		o.Stream.Subjects = []string{EventsFilter(o.Prefix), EvidenceFilter(o.Prefix)}
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
	o.Overflow = o.Overflow.withDefaults()
	js, err := jetstream.New(o.Conn)
	if err != nil {
		return nil, fmt.Errorf("alerts publisher: %w", err)
	}
	p := &Publisher{o: o, js: js, ids: newIDSource(), idle: make(chan struct{}), held: overflow{o: o.Overflow}, heldIn: make(chan struct{}, 1)}
	p.log = o.Logger.With().Str("stage", "alerts").Logger()
	p.warn, p.dropWarn, p.cursorWarn = limiter{every: warnEvery}, limiter{every: warnEvery}, limiter{every: warnEvery}
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
// outlives the spool's max age first. While the spool cannot be written
// (a full disk) Accept holds m in memory instead and returns nil at once:
// m reaches the stream unless vigil stops first or more events come than
// PublisherOptions.Overflow holds (Stats counts both). m.ID is filled in
// when empty.
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
	h := held{subject: EventSubject(p.o.Prefix, m.Camera, m.Rule), id: m.ID, camera: m.Camera, data: data}
	p.heldMu.Lock()
	defer p.heldMu.Unlock()
	if len(p.held.q) == 0 {
		err := p.append(h)
		if err == nil {
			p.spoolWrites()
			p.gauges()
			return nil
		}
		if errors.Is(err, ErrSpoolClosed) || errors.Is(err, ErrEntryTooLarge) {
			p.log.Error().Err(err).Str("camera", m.Camera).Str("rule", m.Rule).Str("id", m.ID).Msg("alert not spooled: it is lost")
			return err
		}
		p.spoolFails(err)
	}
	p.hold(h)
	return nil
}

// append writes one event to the spool; heldMu is held.
func (p *Publisher) append(h held) error {
	t0 := time.Now()
	_, err := p.o.Spool.Append(h.subject, h.id, h.data)
	if p.m != nil {
		p.m.append.Observe(time.Since(t0).Seconds())
	}
	if err != nil {
		p.count(p.m.errorsVec(), "spool")
		return err
	}
	p.accepted.Add(1)
	if p.m != nil {
		p.m.accepted.WithLabelValues(h.camera).Inc()
	}
	return nil
}

// spoolFails records that the spool could not write, saying so once per
// fault; heldMu is held.
func (p *Publisher) spoolFails(err error) {
	if p.spoolErr == nil {
		p.failed = faultCounts{since: time.Now()}
		o := p.o.Overflow
		p.log.Error().Err(err).Str("spool", p.o.Spool.o.Dir).Str("fault", spoolFault(err)).
			Msgf("ALERTS SPOOL CANNOT WRITE: new alerts are held in memory (up to %d events or %d MiB; beyond that the oldest are dropped and counted in vigil_alerts_dropped_total), sent straight to JetStream while it takes them, and written to the spool as soon as it can be written again (tried every %s); alerts held in memory are lost if vigil stops meanwhile",
				o.MaxEvents, o.MaxBytes>>20, o.Retry)
		if p.m != nil {
			p.m.spoolFailing.Set(1)
		}
	}
	p.spoolErr = err
}

// spoolWrites records that the spool wrote again, saying so once; heldMu
// is held.
func (p *Publisher) spoolWrites() {
	if p.spoolErr == nil {
		return
	}
	f := p.failed
	p.log.Info().Str("spool", p.o.Spool.o.Dir).Str("failed_for", time.Since(f.since).Round(time.Millisecond).String()).
		Int("held", f.held).Int("spooled_late", f.spooled).Int("sent_from_memory", f.direct).Int("dropped", f.dropped).
		Msg("alerts spool writes again: alerts are spooled as before")
	p.spoolErr = nil
	if p.m != nil {
		p.m.spoolFailing.Set(0)
	}
}

// hold keeps h in memory, dropping the oldest held beyond the bounds;
// heldMu is held.
func (p *Publisher) hold(h held) {
	dropped := p.held.push(h)
	p.unspooled.Add(1)
	p.failed.held++
	if p.m != nil {
		p.m.unspooled.Inc()
	}
	if dropped > 0 {
		p.heldDropped.Add(uint64(dropped))
		p.failed.dropped += dropped
		reason := spoolFault(p.spoolErr)
		if p.m != nil {
			p.m.dropped.WithLabelValues(reason).Add(float64(dropped))
		}
		if _, ok := p.dropWarn.allow(); ok {
			o := p.o.Overflow
			p.log.Error().Str("spool", p.o.Spool.o.Dir).Str("reason", reason).Int("dropped", p.failed.dropped).
				Msgf("ALERTS DROPPED: the spool cannot write, JetStream does not take them, and memory holds its limit (%d events, %d MiB): the oldest held alerts are dropped, %d so far",
					o.MaxEvents, o.MaxBytes>>20, p.failed.dropped)
		}
	}
	p.heldGauges()
	select {
	case p.heldIn <- struct{}{}:
	default:
	}
}

// heldGauges sets the held gauge; heldMu is held.
func (p *Publisher) heldGauges() {
	if p.m != nil {
		p.m.held.Set(float64(len(p.held.q)))
	}
}

// restore writes the held events to the spool, oldest first, until the
// spool fails again. It takes heldMu per event: Accept waits at most one
// write.
func (p *Publisher) restore() {
	wrote := false
	for {
		p.heldMu.Lock()
		h, ok := p.held.head()
		if !ok {
			if wrote {
				p.spoolWrites()
			}
			p.heldMu.Unlock()
			return
		}
		err := p.append(h)
		switch {
		case err == nil:
			wrote = true
			p.failed.spooled++
		case errors.Is(err, ErrEntryTooLarge):
			p.log.Error().Err(err).Str("id", h.id).Msg("alert not spooled: it is lost")
		default:
			if !errors.Is(err, ErrSpoolClosed) {
				p.spoolErr = err
			}
			p.heldMu.Unlock()
			return
		}
		p.held.pop(h.n)
		p.heldGauges()
		p.heldMu.Unlock()
	}
}

// heldHead returns the oldest held event, marked as being published so
// that no drop takes it meanwhile.
func (p *Publisher) heldHead() (held, bool) {
	p.heldMu.Lock()
	defer p.heldMu.Unlock()
	h, ok := p.held.head()
	p.held.busy = h.n
	return h, ok
}

// publishHeld publishes a held event straight to JetStream.
func (p *Publisher) publishHeld(ctx context.Context, h held) error {
	_, err := p.send(ctx, h.subject, h.id, h.data)
	p.heldMu.Lock()
	defer p.heldMu.Unlock()
	p.held.busy = 0
	if err != nil {
		return err
	}
	if p.held.pop(h.n) {
		p.direct.Add(1)
		p.failed.direct++
		p.heldGauges()
	}
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

// Run publishes the spool, then what is held in memory, until ctx ends;
// meanwhile it writes what is held to the spool once it can.
func (p *Publisher) Run(ctx context.Context) {
	var backoff time.Duration
	var retryAt, restoreAt time.Time // the next publish after a failure; the next write of held events to the spool
	for {
		now := time.Now()
		if p.heldCount() == 0 {
			restoreAt = time.Time{}
		} else if restoreAt.IsZero() {
			restoreAt = now.Add(p.o.Overflow.Retry)
		} else if !now.Before(restoreAt) {
			p.restore()
			restoreAt = now.Add(p.o.Overflow.Retry)
		}
		if now.Before(retryAt) {
			wait := retryAt.Sub(now)
			if !restoreAt.IsZero() {
				wait = min(wait, restoreAt.Sub(now))
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		var err error
		if e, ok := p.o.Spool.Head(); ok {
			err = p.publish(ctx, e)
		} else if h, ok := p.heldHead(); ok {
			err = p.publishHeld(ctx, h)
		} else {
			p.setIdle()
			p.gauges()
			select {
			case <-ctx.Done():
				return
			case <-p.o.Spool.Ready():
			case <-p.heldIn:
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.failedPublish(err)
			backoff = min(max(2*backoff, p.o.RetryMin), p.o.RetryMax)
			retryAt = time.Now().Add(backoff)
			continue
		}
		backoff, retryAt = 0, time.Time{}
	}
}

func (p *Publisher) heldCount() int {
	p.heldMu.Lock()
	defer p.heldMu.Unlock()
	return len(p.held.q)
}

// failedPublish counts a failed publish and says why, rate-limited.
func (p *Publisher) failedPublish(err error) {
	p.errs.Add(1)
	p.count(p.m.errorsVec(), "publish")
	n, ok := p.warn.allow()
	if !ok {
		return
	}
	st := p.Stats()
	ev := p.log.Warn().Err(err).Uint64("failures", n).Int("pending", st.Pending).Int("held", st.Held)
	var api *jetstream.APIError
	switch {
	case errors.As(err, &api) && storeFailure(api.ErrorCode):
		ev.Msgf("alerts: JetStream cannot store events: %v; they wait (%d in the spool, %d in memory) and are retried", api, st.Pending, st.Held)
	case errors.Is(err, context.DeadlineExceeded):
		ev.Msgf("alerts: JetStream did not acknowledge an event within %s (NATS is slow, or cannot write its store: a stream that hit a write error, as on a full disk, does not answer); events wait (%d in the spool, %d in memory) and are retried",
			p.o.PublishTimeout, st.Pending, st.Held)
	default:
		ev.Msg("alerts: NATS did not take the event; it stays in the spool and is retried")
	}
}

// storeFailure says whether a JetStream error code means that it could
// not store the message: its store or its limits are full.
func storeFailure(c jetstream.ErrorCode) bool {
	switch c {
	case 10023, 10047, 10077: // insufficient resources, storage resources exceeded, store failed
		return true
	}
	return false
}

func (p *Publisher) publish(ctx context.Context, e Entry) error {
	if _, err := p.send(ctx, e.Subject, e.MsgID, e.Data); err != nil {
		return err
	}
	if err := p.o.Spool.Ack(e.Seq); err != nil {
		// Published but not marked done: after a restart it is sent again
		// and the stream drops it as a duplicate within its window.
		if n, ok := p.cursorWarn.allow(); ok {
			p.log.Error().Err(err).Uint64("failures", n).Msg("alerts: spool cursor not written")
		}
	}
	return nil
}

// send publishes one message and waits for JetStream's acknowledgement.
func (p *Publisher) send(ctx context.Context, subject, id string, data []byte) (*jetstream.PubAck, error) {
	if !p.o.Conn.IsConnected() {
		return nil, errors.New("NATS not connected")
	}
	if !p.streamReady {
		if err := p.EnsureStream(ctx); err != nil {
			return nil, err
		}
		p.streamReady = true
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, id)
	pctx, cancel := context.WithTimeout(ctx, p.o.PublishTimeout)
	defer cancel()
	ack, err := p.js.PublishMsg(pctx, msg, jetstream.WithExpectStream(p.o.Stream.Name), jetstream.WithRetryAttempts(0))
	if err != nil {
		p.streamReady = false // it may have been deleted, or the server restarted empty
		return nil, fmt.Errorf("publish %s (id %s): %w", subject, id, err)
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
	return ack, nil
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

// Flush waits until the spool is empty and nothing is held in memory, or
// ctx ends; Run must be running.
func (p *Publisher) Flush(ctx context.Context) error {
	for {
		if p.o.Spool.Stats().Pending == 0 && p.heldCount() == 0 {
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
			return fmt.Errorf("alerts: %d events still spooled, %d held in memory: %w", p.o.Spool.Stats().Pending, p.heldCount(), ctx.Err())
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
	// Dropped never reach the stream: the spool's (full, or too old) and
	// HeldDropped.
	Dropped uint64
	// Spool is "ok", or why the spool could not be written the last time
	// it was tried: "disk_full: <error>" or "write_error: <error>".
	Spool string
	// Unspooled came while the spool could not be written: held in
	// memory, then spooled late, published from memory (Direct) or
	// dropped beyond PublisherOptions.Overflow's bounds (HeldDropped).
	Unspooled   uint64
	Held        int // in memory now
	Direct      uint64
	HeldDropped uint64
}

// Stats returns the counts so far.
func (p *Publisher) Stats() PublishStats {
	st := p.o.Spool.Stats()
	p.heldMu.Lock()
	spool, held := "ok", len(p.held.q)
	if p.spoolErr != nil {
		spool = spoolFault(p.spoolErr) + ": " + p.spoolErr.Error()
	}
	p.heldMu.Unlock()
	hd := p.heldDropped.Load()
	return PublishStats{Accepted: p.accepted.Load(), Published: p.published.Load(), Duplicates: p.duplicates.Load(),
		Errors: p.errs.Load(), Pending: st.Pending, Dropped: st.Dropped + hd, Spool: spool,
		Unspooled: p.unspooled.Load(), Held: held, Direct: p.direct.Load(), HeldDropped: hd}
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
