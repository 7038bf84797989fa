package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/internal/promreg"
)

// TracksSchema names the layout of [TracksMessage]; consumers check it.
const TracksSchema = "vigil.tracks/v1"

// Publisher defaults and limits.
const (
	DefaultPrefix    = "vigil"
	DefaultQueueSize = 64

	dropWarnEvery = 5 * time.Second
	closeFlush    = 2 * time.Second
)

// Box is an axis-aligned box in frame pixels: top-left corner and size.
type Box struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

// Object is one tracked object in a frame.
type Object struct {
	TrackID uint64  `json:"track_id"`
	Class   int     `json:"class"`
	Label   string  `json:"label"`
	Score   float64 `json:"score"`
	Box     Box     `json:"box"`
}

// TracksMessage is what vigil publishes for every processed frame of a camera.
type TracksMessage struct {
	Schema     string    `json:"schema"` // TracksSchema; filled in when empty
	Camera     string    `json:"camera"`
	Seq        uint64    `json:"seq"`
	CapturedAt time.Time `json:"captured_at"` // RFC 3339 with nanoseconds
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	Objects    []Object  `json:"objects"` // [] when empty, never null
	// TimingsMS maps a stage (capture, preprocess, infer, postprocess, track,
	// total) to the milliseconds it took for this frame; {} when empty.
	TimingsMS map[string]float64 `json:"timings_ms"`
	// Detector is the detectors: entry that processed the frame ("default"
	// is model:), Model the model it ran (file name @ the first 8 hex digits
	// of its sha256): a detector changed at run time shows here from the
	// first frame it processed.
	Detector string `json:"detector,omitempty"`
	Model    string `json:"model,omitempty"`
	// Detected says whether the detector ran on this frame. With motion
	// gating a frame where nothing moved is not detected: its objects are
	// those of the camera's last detected frame, held. Gate says why
	// (off, settling, motion, tracks, recheck, still), Motion the share
	// of the picture that moved (absent without gating).
	Detected bool     `json:"detected"`
	Gate     string   `json:"gate,omitempty"`
	Motion   *float64 `json:"motion,omitempty"`
	// Node is the fleet node that published the frame, LeaseEpoch the
	// epoch of its lease on the camera: a consumer that has seen an epoch
	// for a camera ignores messages of an older one. Both are absent
	// outside a fleet.
	Node       string `json:"node,omitempty"`
	LeaseEpoch uint64 `json:"lease_epoch,omitempty"`

	forget bool // not a frame: ForgetCamera's marker
}

// MarshalJSON fills in the schema and writes empty collections as [] and {},
// so consumers never meet null.
func (m TracksMessage) MarshalJSON() ([]byte, error) {
	type plain TracksMessage // drops this method, avoiding recursion
	if m.Schema == "" {
		m.Schema = TracksSchema
	}
	if m.Objects == nil {
		m.Objects = []Object{}
	}
	if m.TimingsMS == nil {
		m.TimingsMS = map[string]float64{}
	}
	return json.Marshal(plain(m))
}

// TracksSubject is the subject of a camera's tracks: "vigil.<camera>.tracks"
// for prefix "vigil". The camera id must be a valid subject token (no dots,
// spaces or wildcards); configuration validates it.
func TracksSubject(prefix, camera string) string {
	return prefix + "." + camera + ".tracks"
}

// PublisherOptions configures a [TracksPublisher].
type PublisherOptions struct {
	Prefix     string                // subject prefix; default "vigil"
	QueueSize  int                   // messages waiting to be sent; default 64
	Registerer prometheus.Registerer // nil: no metrics
	Logger     zerolog.Logger
	// Fence, in a fleet, says whether this node may publish a camera now
	// and under which lease epoch; it is asked when a frame is queued and
	// again just before it is sent, so a node that lost a camera's lease
	// while the frame waited sends nothing. nil: every camera, no epoch.
	Fence func(camera string) (epoch uint64, ok bool)
	Node  string // the fleet node's name, written in every message
}

// PublishStats counts what a [TracksPublisher] did with the messages it was given.
type PublishStats struct {
	Published uint64 // handed to the NATS connection
	Dropped   uint64 // not sent: queue full, NATS not connected, or publisher closed
	Fenced    uint64 // not sent: in a fleet, this node did not hold the camera's lease
	Errors    uint64 // failed to marshal or publish
}

// TracksPublisher sends [TracksMessage]s to NATS without ever blocking the
// pipeline: [TracksPublisher.Publish] enqueues into a bounded queue and drops
// what does not fit, [TracksPublisher.Run] sends in order.
type TracksPublisher struct {
	nc     *nats.Conn
	prefix string
	queue  chan *TracksMessage
	log    zerolog.Logger

	// mu orders Publish against Close, so nothing is enqueued after Close
	// has drained the queue.
	mu       sync.RWMutex
	closed   bool
	closing  chan struct{}
	running  bool
	runDone  chan struct{}
	closeOne sync.Once
	closeErr error

	published, dropped, errs, fenced atomic.Uint64
	fence                            func(camera string) (uint64, bool)
	node                             string
	metrics                          *publishMetrics
	warn                             dropWarner
}

// NewTracksPublisher returns a publisher on nc; start [TracksPublisher.Run]
// in a goroutine to send what is published.
func NewTracksPublisher(nc *nats.Conn, o PublisherOptions) (*TracksPublisher, error) {
	if nc == nil {
		return nil, errors.New("tracks publisher: no NATS connection")
	}
	prefix := o.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := validPrefix(prefix); err != nil {
		return nil, fmt.Errorf("tracks publisher: subject prefix %q: %w", prefix, err)
	}
	size := o.QueueSize
	if size == 0 {
		size = DefaultQueueSize
	}
	if size < 0 {
		return nil, fmt.Errorf("tracks publisher: queue size %d: must be positive", size)
	}
	p := &TracksPublisher{
		nc:      nc,
		prefix:  prefix,
		queue:   make(chan *TracksMessage, size),
		log:     o.Logger.With().Str("stage", "nats-tracks").Logger(),
		closing: make(chan struct{}),
		fence:   o.Fence,
		node:    o.Node,
	}
	p.warn = dropWarner{log: p.log, now: time.Now, every: dropWarnEvery}
	if o.Registerer != nil {
		m, err := newPublishMetrics(o.Registerer)
		if err != nil {
			return nil, fmt.Errorf("tracks publisher: %w", err)
		}
		p.metrics = m
	}
	return p, nil
}

func validPrefix(prefix string) error {
	for tok := range strings.SplitSeq(prefix, ".") {
		if tok == "" {
			return errors.New("empty token")
		}
		if tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return errors.New("wildcards and whitespace are not allowed")
		}
	}
	return nil
}

// Publish queues m for sending and hands its ownership to the publisher. It
// never blocks: when the queue is full, NATS is not connected or the
// publisher is closed, it drops m, counts it and returns false.
func (p *TracksPublisher) Publish(m *TracksMessage) bool {
	if m == nil {
		return false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.drop(m.Camera, "publisher closed")
		return false
	}
	if !p.nc.IsConnected() {
		p.drop(m.Camera, "NATS not connected")
		return false
	}
	if p.fence != nil {
		epoch, ok := p.fence(m.Camera)
		if !ok {
			p.fenceOut()
			return false
		}
		m.LeaseEpoch, m.Node = epoch, p.node
	}
	select {
	case p.queue <- m:
		return true
	default:
		p.drop(m.Camera, "queue full")
		return false
	}
}

// Run sends queued messages until ctx is done or the publisher is closed,
// then sends what is still queued and returns nil. Call it once.
func (p *TracksPublisher) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errors.New("tracks publisher: Run called twice")
	}
	if p.closed {
		p.mu.Unlock()
		return nil // Close drains on its own
	}
	p.running = true
	done := make(chan struct{})
	p.runDone = done
	p.mu.Unlock()
	defer close(done)

	for {
		select {
		case m := <-p.queue:
			p.send(m)
		case <-ctx.Done():
			p.drain()
			return nil
		case <-p.closing:
			p.drain()
			return nil
		}
	}
}

// Close stops accepting messages, sends what is queued and flushes the
// connection (at most 2 s). The connection stays open: it belongs to the
// caller. Close is safe to call more than once.
func (p *TracksPublisher) Close() error {
	p.closeOne.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.closing)
		done := p.runDone
		p.mu.Unlock()
		if done != nil {
			<-done // Run drains; waiting keeps the messages in order
		}
		p.drain() // when Run never ran or returned earlier
		if p.nc.IsConnected() {
			if err := p.nc.FlushTimeout(closeFlush); err != nil {
				p.closeErr = fmt.Errorf("tracks publisher: flush NATS: %w", err)
			}
		}
		p.warn.flush()
	})
	return p.closeErr
}

// Stats returns the counts so far.
func (p *TracksPublisher) Stats() PublishStats {
	return PublishStats{
		Published: p.published.Load(),
		Dropped:   p.dropped.Load(),
		Errors:    p.errs.Load(),
		Fenced:    p.fenced.Load(),
	}
}

func (p *TracksPublisher) drain() {
	for {
		select {
		case m := <-p.queue:
			p.send(m)
		default:
			return
		}
	}
}

// ForgetCamera deletes a removed camera's metric series, once the messages
// it queued before have been sent, so that none of them makes a series
// again.
func (p *TracksPublisher) ForgetCamera(camera string) {
	if p.metrics == nil {
		return
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed || !p.running {
		p.metrics.forget(camera)
		return
	}
	select {
	case p.queue <- &TracksMessage{Camera: camera, forget: true}:
	case <-p.closing:
	}
}

func (p *TracksPublisher) send(m *TracksMessage) {
	if m.forget {
		p.metrics.forget(m.Camera)
		return
	}
	// A frame that waited out a disconnect is stale; NATS would only buffer it.
	if !p.nc.IsConnected() {
		p.drop(m.Camera, "NATS not connected")
		return
	}
	if p.fence != nil {
		if epoch, ok := p.fence(m.Camera); !ok || epoch != m.LeaseEpoch {
			p.fenceOut()
			return
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		p.fail(m.Camera, "marshal", err)
		return
	}
	if err := p.nc.Publish(TracksSubject(p.prefix, m.Camera), data); err != nil {
		p.fail(m.Camera, "publish", err)
		return
	}
	p.published.Add(1)
	if p.metrics != nil {
		p.metrics.published.WithLabelValues(subjectKindTracks, m.Camera).Inc()
	}
}

// fenceOut counts a frame of a camera this node does not hold: expected
// for a moment when a camera moves, so not a drop nor a warning, and not
// per camera (this node may never hold it again).
func (p *TracksPublisher) fenceOut() {
	p.fenced.Add(1)
	if p.metrics != nil {
		p.metrics.fenced.Inc()
	}
}

func (p *TracksPublisher) drop(camera, reason string) {
	p.dropped.Add(1)
	if p.metrics != nil {
		p.metrics.dropped.WithLabelValues(subjectKindTracks, camera).Inc()
	}
	p.warn.dropped(reason)
}

func (p *TracksPublisher) fail(camera, op string, err error) {
	p.errs.Add(1)
	if p.metrics != nil {
		p.metrics.errors.WithLabelValues(subjectKindTracks, camera).Inc()
	}
	// Errors are as frequent as frames when NATS misbehaves: rate-limit too.
	p.warn.failed(op, camera, err)
}

const subjectKindTracks = "tracks"

type publishMetrics struct {
	published, dropped, errors *prometheus.CounterVec
	fenced                     prometheus.Counter
}

func (m *publishMetrics) forget(camera string) {
	for _, v := range []*prometheus.CounterVec{m.published, m.dropped, m.errors} {
		v.DeletePartialMatch(prometheus.Labels{"camera": camera})
	}
}

// newPublishMetrics registers the counters, or reuses those another
// publisher registered on the same registry.
func newPublishMetrics(reg prometheus.Registerer) (*publishMetrics, error) {
	labels := []string{"subject_kind", "camera"}
	m := &publishMetrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_nats_published_total",
			Help: "Messages handed to the NATS connection.",
		}, labels),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_nats_dropped_total",
			Help: "Messages dropped before NATS: queue full, not connected or closed.",
		}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_nats_publish_errors_total",
			Help: "Messages that failed to marshal or publish.",
		}, labels),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_nats_fenced_total",
			Help: "Tracks messages not sent because this fleet node did not hold the camera's lease when they were queued or sent.",
		}),
	}
	if err := errors.Join(promreg.Reuse(reg, &m.published), promreg.Reuse(reg, &m.dropped), promreg.Reuse(reg, &m.errors), promreg.Reuse(reg, &m.fenced)); err != nil {
		return nil, err
	}
	return m, nil
}

// dropWarner logs drops and errors at most once per period, with how many
// happened since the last line, so a dead NATS does not flood the log.
type dropWarner struct {
	log   zerolog.Logger
	now   func() time.Time
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	drops      uint64
	dropReason string
	errs       uint64
	lastErr    error
	errOp      string
	errCamera  string
}

func (w *dropWarner) dropped(reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.drops++
	w.dropReason = reason
	w.maybeLog()
}

func (w *dropWarner) failed(op, camera string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs++
	w.errOp, w.errCamera, w.lastErr = op, camera, err
	w.maybeLog()
}

// flush logs what was counted but not yet said.
func (w *dropWarner) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.logNow(w.now())
}

func (w *dropWarner) maybeLog() {
	now := w.now()
	if !w.last.IsZero() && now.Sub(w.last) < w.every {
		return
	}
	w.logNow(now)
}

func (w *dropWarner) logNow(now time.Time) {
	if w.drops == 0 && w.errs == 0 {
		return
	}
	w.last = now
	if w.drops > 0 {
		w.log.Warn().Uint64("dropped", w.drops).Str("reason", w.dropReason).
			Msgf("dropping tracks messages: %d since last report (last reason: %s)", w.drops, w.dropReason)
		w.drops = 0
	}
	if w.errs > 0 {
		w.log.Error().Uint64("errors", w.errs).Str("op", w.errOp).Str("camera", w.errCamera).
			Err(w.lastErr).Msgf("tracks publish errors: %d since last report", w.errs)
		w.errs = 0
	}
}
