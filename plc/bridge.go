package plc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
)

// Bridge consumes events and writes the PLC.
type Bridge struct {
	cfg *Config
	nc  *nats.Conn
	plc Writer
	log zerolog.Logger
	m   *metrics

	mu     sync.Mutex
	health Health

	// epochs is each camera's greatest lease epoch seen, the floor below
	// which its events are an old owner's and skipped; fenceLogged, the
	// floor at which skipping was last logged. The bridge keeps no state
	// of its own between runs, so these live in memory only: after a
	// restart the first event of each camera sets its floor again. Only
	// the consuming goroutine touches them.
	epochs      map[string]uint64
	fenceLogged map[string]uint64
}

// Health is what /healthz reports.
type Health struct {
	Ready         bool      `json:"ready"`          // NATS connected, consumer bound, PLC not failing
	NATS          bool      `json:"nats_connected"` //
	Consumer      bool      `json:"consumer"`       // the durable consumer is bound
	PLC           string    `json:"plc"`            // unknown (no write yet), ok or failing
	LastError     string    `json:"last_error,omitempty"`
	LastWrite     time.Time `json:"last_write,omitzero"`
	Holding       bool      `json:"holding"` // an event waits for the PLC
	EventsWritten uint64    `json:"events_written"`
}

// New makes a bridge; Run starts it.
func New(cfg *Config, nc *nats.Conn, w Writer, reg prometheus.Registerer, log zerolog.Logger) (*Bridge, error) {
	b := &Bridge{cfg: cfg, nc: nc, plc: w, log: log.With().Str("stage", "plc").Logger(), health: Health{PLC: "unknown"},
		epochs: map[string]uint64{}, fenceLogged: map[string]uint64{}}
	if reg != nil {
		m, err := newMetrics(reg)
		if err != nil {
			return nil, err
		}
		b.m = m
	}
	return b, nil
}

// Health returns the current health.
func (b *Bridge) Health() Health {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.health
	h.NATS = b.nc.IsConnected()
	h.Ready = h.NATS && h.Consumer && h.PLC != "failing"
	return h
}

func (b *Bridge) setHealth(f func(h *Health)) {
	b.mu.Lock()
	f(&b.health)
	b.mu.Unlock()
}

// ConsumerConfig is the durable consumer the bridge binds: one event in
// flight at a time, so the PLC sees the writes in event order.
func (b *Bridge) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable: b.cfg.Consumer, Description: "vigil-plc: events to Modbus writes",
		FilterSubjects: b.cfg.Subjects, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: b.cfg.AckWait.D(), MaxAckPending: 1, MaxDeliver: -1, DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// Run consumes until ctx ends.
func (b *Bridge) Run(ctx context.Context) error {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return err
	}
	var wait time.Duration
	for ctx.Err() == nil {
		if wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		wait = b.backoff(wait)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cons, err := js.CreateOrUpdateConsumer(cctx, b.cfg.Stream, b.ConsumerConfig())
		cancel()
		if err != nil {
			b.log.Warn().Err(err).Str("stream", b.cfg.Stream).Str("consumer", b.cfg.Consumer).Msg("cannot bind the consumer yet; retrying")
			continue
		}
		it, err := cons.Messages(jetstream.PullMaxMessages(1))
		if err != nil {
			b.log.Warn().Err(err).Msg("cannot pull events; retrying")
			continue
		}
		b.setHealth(func(h *Health) { h.Consumer = true })
		b.log.Info().Str("stream", b.cfg.Stream).Str("consumer", b.cfg.Consumer).Strs("subjects", b.cfg.Subjects).Msg("consuming events")
		wait = 0
		b.consume(ctx, it)
		it.Stop()
		b.setHealth(func(h *Health) { h.Consumer = false })
	}
	return nil
}

func (b *Bridge) consume(ctx context.Context, it jetstream.MessagesContext) {
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, jetstream.ErrConsumerDeleted) {
				if ctx.Err() == nil {
					b.log.Warn().Err(err).Msg("event iterator ended; binding again")
				}
				return
			}
			b.log.Debug().Err(err).Msg("pull")
			continue
		}
		b.handle(ctx, msg)
	}
}

// handle writes what one event maps to, then acknowledges it. It returns
// without acknowledging only when ctx ends; the event is then delivered
// again (to this bridge after a restart).
func (b *Bridge) handle(ctx context.Context, msg jetstream.Msg) {
	var ev alerts.Message
	if err := json.Unmarshal(msg.Data(), &ev); err != nil || ev.Schema != alerts.EventSchema {
		b.log.Error().Str("subject", msg.Subject()).Bytes("data", msg.Data()).Msg("not a vigil.event/v1 event; dropped")
		msg.TermWithReason("not a " + alerts.EventSchema + " event")
		b.count("malformed")
		return
	}
	if b.fenced(ev) {
		msg.Ack() // never to be written: not again either
		b.count("fenced")
		return
	}
	if md, err := msg.Metadata(); err == nil && md.NumDelivered > 1 {
		b.log.Warn().Str("id", ev.ID).Uint64("delivery", md.NumDelivered).Msg("event delivered again: its writes are repeated (at-least-once)")
	}
	var matched []Mapping
	for _, m := range b.cfg.Mappings {
		if (m.Camera == "" || m.Camera == ev.Camera) && m.Rule == ev.Rule && m.Type == string(ev.Type) &&
			(m.Direction == "" || m.Direction == ev.Direction) {
			matched = append(matched, m)
		}
	}
	if len(matched) == 0 {
		msg.Ack()
		b.count("ignored")
		return
	}
	b.setHealth(func(h *Health) { h.Holding = true })
	defer b.setHealth(func(h *Health) { h.Holding = false })
	// The counts and health below are updated before the acknowledgement,
	// so whoever sees the event acknowledged sees them too.
	for _, m := range matched {
		if err := b.apply(ctx, msg, ev, m); err != nil {
			msg.Nak() // shutting down: hand it back for the next run
			return
		}
	}
	// A file's frames carry media time, which a lossless run may have
	// run ahead of: no latency to tell then.
	if d := time.Since(ev.Time); b.m != nil && !ev.Time.IsZero() && d >= 0 {
		b.m.latency.Observe(d.Seconds())
	}
	b.count("written")
	b.setHealth(func(h *Health) { h.EventsWritten++ })
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := msg.DoubleAck(actx)
	cancel()
	if err != nil {
		b.log.Warn().Err(err).Str("id", ev.ID).Msg("written, but the acknowledgement was not confirmed: the event may come again")
	}
	b.log.Info().Str("id", ev.ID).Str("camera", ev.Camera).Str("rule", ev.Rule).Str("type", string(ev.Type)).
		Int("writes", len(matched)).Msg("event written to the PLC")
}

// fenced says whether ev is a late event of an old owner of its camera:
// its lease epoch is older than one already seen for the camera. Otherwise
// ev's epoch becomes the camera's floor. Epoch 0 (no fleet) is never
// fenced and leaves the floor as it is.
func (b *Bridge) fenced(ev alerts.Message) bool {
	if ev.LeaseEpoch == 0 {
		return false
	}
	floor := b.epochs[ev.Camera]
	if ev.LeaseEpoch >= floor {
		if ev.LeaseEpoch > floor {
			b.epochs[ev.Camera] = ev.LeaseEpoch
			b.log.Info().Str("camera", ev.Camera).Uint64("lease_epoch", ev.LeaseEpoch).Uint64("previous_epoch", floor).
				Msg("the camera's events come from a newer lease epoch (owner): events of older epochs are skipped from now on")
		}
		return false
	}
	if b.fenceLogged[ev.Camera] != floor {
		b.fenceLogged[ev.Camera] = floor
		b.log.Info().Str("id", ev.ID).Str("camera", ev.Camera).Str("rule", ev.Rule).Uint64("lease_epoch", ev.LeaseEpoch).
			Uint64("floor", floor).Msg("late event of the camera's old owner skipped (older lease epoch); more are counted in vigil_plc_events_fenced_total")
	}
	if b.m != nil {
		b.m.fenced.WithLabelValues(ev.Camera).Inc()
	}
	return true
}

func (b *Bridge) count(result string) {
	if b.m != nil {
		b.m.events.WithLabelValues(result).Inc()
	}
}

// step is one Modbus write, or a pause inside a pulse.
type step struct {
	coil  bool
	on    bool
	value uint16
	pause time.Duration
}

func steps(m Mapping, ev alerts.Message) ([]step, error) {
	switch m.Action {
	case ActionSetCoil:
		return []step{{coil: true, on: true}}, nil
	case ActionClearCoil:
		return []step{{coil: true}}, nil
	case ActionPulseCoil:
		return []step{{coil: true, on: true}, {pause: m.Duration.D()}, {coil: true}}, nil
	}
	var v int64
	switch {
	case m.Value != nil:
		v = int64(*m.Value)
	case m.From == "occupancy":
		if ev.Occupancy == nil {
			return nil, fmt.Errorf("event %s of rule %s has no occupancy (a line?)", ev.ID, ev.Rule)
		}
		v = int64(*ev.Occupancy)
	default:
		key := strings.TrimPrefix(m.From, "counts.")
		n, ok := ev.Counts[key]
		if !ok {
			return nil, fmt.Errorf("event %s of rule %s has no count %q; it counts %v", ev.ID, ev.Rule, key, keys(ev.Counts))
		}
		v = n
	}
	return []step{{value: uint16(v & 0xffff)}}, nil
}

func keys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// apply performs one mapping, retrying each failed write with capped
// backoff for as long as it takes; only ctx ending stops it.
func (b *Bridge) apply(ctx context.Context, msg jetstream.Msg, ev alerts.Message, m Mapping) error {
	ss, err := steps(m, ev)
	if err != nil {
		b.log.Error().Err(err).Str("mapping", m.Rule+"/"+m.Type).Msg("mapping cannot apply to this event; skipped (fix the mapping)")
		b.count("unmappable")
		return nil
	}
	var wait time.Duration
	for i := 0; i < len(ss); {
		s := ss[i]
		if s.pause > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(s.pause):
			}
			i++
			continue
		}
		t0 := time.Now()
		var err error
		kind := "coil"
		if s.coil {
			err = b.plc.WriteCoil(uint16(m.Address), s.on)
		} else {
			kind = "register"
			err = b.plc.WriteRegister(uint16(m.Address), s.value)
		}
		if b.m != nil {
			b.m.writeSeconds.Observe(time.Since(t0).Seconds())
		}
		if err == nil {
			if b.m != nil {
				b.m.writes.WithLabelValues(kind, "ok").Inc()
				b.m.up.Set(1)
			}
			b.setHealth(func(h *Health) { h.PLC, h.LastError, h.LastWrite = "ok", "", time.Now() })
			i++
			wait = 0
			continue
		}
		wait = b.backoff(wait)
		if b.m != nil {
			b.m.writes.WithLabelValues(kind, "error").Inc()
			b.m.retries.Inc()
			b.m.up.Set(0)
		}
		b.setHealth(func(h *Health) { h.PLC, h.LastError = "failing", err.Error() })
		b.log.Warn().Err(err).Str("id", ev.ID).Dur("retry_in", wait).Msg("PLC write failed; holding the event and retrying")
		// Keep the event ours: without this JetStream would redeliver it
		// after ack_wait while we still retry.
		msg.InProgress()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

// backoff doubles from Retry.Min up to Retry.Max, with ±20% jitter.
func (b *Bridge) backoff(prev time.Duration) time.Duration {
	next := min(max(2*prev, b.cfg.Retry.Min.D()), b.cfg.Retry.Max.D())
	j := time.Duration(float64(next) * 0.2 * (2*rand.Float64() - 1))
	return max(next+j, time.Millisecond)
}

// Connect dials NATS as configured and keeps reconnecting forever.
func Connect(c NATS, log zerolog.Logger) (*nats.Conn, error) {
	password, token, err := c.secrets()
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name("vigil-plc"), nats.MaxReconnects(-1), nats.ReconnectWait(500 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if !nc.IsClosed() {
				log.Warn().Err(err).Msg("NATS disconnected; reconnecting")
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info().Msg("NATS reconnected") }),
	}
	switch {
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, password))
	case token != "":
		opts = append(opts, nats.Token(token))
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.TLS.InsecureSkipVerify || c.TLS.CA != "" || c.TLS.Cert != "" {
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLS.InsecureSkipVerify})) //nolint:gosec // opted into
	}
	if c.TLS.CA != "" {
		opts = append(opts, nats.RootCAs(c.TLS.CA))
	}
	if c.TLS.Cert != "" {
		opts = append(opts, nats.ClientCert(c.TLS.Cert, c.TLS.Key))
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", redact(c.URL), err)
	}
	return nc, nil
}
