package alerts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/rules"
	"github.com/vigil-vision/vigil/track"
)

// CameraRules are one camera's rules.
type CameraRules struct {
	Camera string
	Rules  []rules.Rule
}

// Options configure Alerts.
type Options struct {
	Conn          *nats.Conn
	Prefix        string // subject prefix; default "vigil"
	Cameras       []CameraRules
	Spool         SpoolOptions // Dir is required
	Stream        StreamOptions
	CountsBucket  string // default DefaultCountsBucket
	RestoreCounts bool   // at Start, continue the counts stored in the bucket
	Registerer    prometheus.Registerer
	Logger        zerolog.Logger
	Now           func() time.Time // for updated_at in the bucket; default time.Now
}

// Alerts runs the cameras' rules and carries their events out: see the
// package documentation.
type Alerts struct {
	o       Options
	log     zerolog.Logger
	engines map[string]*rules.Engine
	order   []string
	spool   *Spool
	pub     *Publisher
	counts  *countsWriter

	versions map[string]uint64 // per camera, as last stored; owned by Observe
	subs     []*nats.Subscription
	cancel   context.CancelFunc
	done     sync.WaitGroup
	closeOne sync.Once
}

// New builds the engines (checking every rule) and opens the spool.
func New(o Options) (*Alerts, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.CountsBucket == "" {
		o.CountsBucket = DefaultCountsBucket
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Alerts{o: o, log: o.Logger.With().Str("stage", "alerts").Logger(), engines: map[string]*rules.Engine{}, versions: map[string]uint64{}}
	for _, c := range o.Cameras {
		if _, dup := a.engines[c.Camera]; dup {
			return nil, fmt.Errorf("alerts: camera %q twice", c.Camera)
		}
		e, err := rules.New(c.Camera, c.Rules)
		if err != nil {
			return nil, err
		}
		a.engines[c.Camera] = e
		a.order = append(a.order, c.Camera)
	}
	var m *metrics
	if o.Registerer != nil {
		var err error
		if m, err = newMetrics(o.Registerer); err != nil {
			return nil, err
		}
	}
	sp := o.Spool
	onDrop := sp.OnDrop
	sp.OnDrop = func(n int, reason string) {
		if m != nil {
			m.dropped.WithLabelValues(reason).Add(float64(n))
		}
		a.log.Error().Int("dropped", n).Str("reason", reason).Str("spool", sp.Dir).
			Msgf("ALERTS DROPPED: %d events never reach NATS (%s); NATS has been away too long — raise alerts.spool_max_bytes or alerts.spool_max_age, or fix NATS", n, reason)
		if onDrop != nil {
			onDrop(n, reason)
		}
	}
	spool, err := OpenSpool(sp)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	a.spool = spool
	a.pub, err = NewPublisher(PublisherOptions{Conn: o.Conn, Spool: spool, Prefix: o.Prefix, Stream: o.Stream,
		Registerer: o.Registerer, Logger: o.Logger})
	if err != nil {
		spool.Close()
		return nil, err
	}
	a.counts = newCountsWriter(a.pub.js, o.CountsBucket, a.log)
	if st := spool.Stats(); st.Pending > 0 {
		a.log.Info().Int("pending", st.Pending).Str("spool", sp.Dir).Msg("alerts: events left in the spool by the last run will be sent first")
	}
	return a, nil
}

// Engine returns a camera's rules engine, or nil.
func (a *Alerts) Engine(camera string) *rules.Engine { return a.engines[camera] }

// Publisher is the events publisher.
func (a *Alerts) Publisher() *Publisher { return a.pub }

// Start restores counts (when asked, waiting at most restoreWait for NATS),
// answers commands, and starts publishing. Stop it with Close.
func (a *Alerts) Start(restoreWait time.Duration) error {
	if a.o.RestoreCounts {
		a.restore(restoreWait)
	}
	for _, cam := range a.order {
		e := a.engines[cam]
		sub, err := a.o.Conn.Subscribe(CommandSubject(a.o.Prefix, cam), func(msg *nats.Msg) { a.handleCommand(cam, e, msg) })
		if err != nil {
			a.unsubscribe()
			return fmt.Errorf("alerts: subscribe %s: %w", CommandSubject(a.o.Prefix, cam), err)
		}
		a.subs = append(a.subs, sub)
		a.storeCounts(cam, e.States())
		a.versions[cam] = e.Version()
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.done.Add(2)
	go func() { defer a.done.Done(); a.pub.Run(ctx) }()
	go func() { defer a.done.Done(); a.counts.run(ctx) }()
	return nil
}

func (a *Alerts) restore(wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, cam := range a.order {
		for _, st := range a.engines[cam].States() {
			v, found, err := a.counts.load(ctx, cam, st.Rule)
			if err != nil {
				a.log.Warn().Err(err).Str("camera", cam).Str("rule", st.Rule).Msg("alerts: counts not restored; starting from zero")
				if errors.Is(err, context.DeadlineExceeded) || !a.o.Conn.IsConnected() {
					return
				}
				continue
			}
			if found && v.Kind == st.Kind {
				a.engines[cam].Restore(st.Rule, v.Counts)
				a.log.Info().Str("camera", cam).Str("rule", st.Rule).Interface("counts", v.Counts).Msg("alerts: counts restored")
			}
		}
	}
}

func (a *Alerts) storeCounts(camera string, states []rules.State) {
	now := a.o.Now().UTC()
	for _, st := range states {
		a.counts.set(CountsValue{Schema: CountsSchema, Camera: camera, Rule: st.Rule, Kind: st.Kind, Armed: st.Armed,
			Occupancy: st.Occupancy, Occupied: st.Occupied, Counts: st.Counts, UpdatedAt: now})
	}
}

// Observe runs a camera's rules on one processed frame and spools the
// events. It is meant for the pipeline's sink goroutine: one camera's
// frames in order. Each event costs one synced disk write.
func (a *Alerts) Observe(camera string, seq uint64, at time.Time, width, height int, tracks []track.Track, labels []string) []Message {
	e := a.engines[camera]
	if e == nil {
		return nil
	}
	events := e.Update(at, width, height, tracks)
	var out []Message
	for _, ev := range events {
		m := NewMessage(a.pub.NextID(), camera, seq, ev, labels)
		if a.pub.m != nil {
			a.pub.m.events.WithLabelValues(camera, ev.Rule, string(ev.Type)).Inc()
		}
		a.log.Info().Str("camera", camera).Str("rule", m.Rule).Str("type", string(m.Type)).Str("direction", m.Direction).
			Uint64("track_id", m.TrackID).Str("label", m.Label).Interface("counts", m.Counts).Str("id", m.ID).Msg("rule event")
		if err := a.pub.Accept(m); err == nil {
			out = append(out, m)
		}
	}
	if v := e.Version(); v != a.versions[camera] {
		a.versions[camera] = v
		a.storeCounts(camera, e.States())
	}
	return out
}

func (a *Alerts) unsubscribe() {
	for _, s := range a.subs {
		s.Unsubscribe()
	}
	a.subs = nil
}

// Close stops answering commands, gives the publisher up to flush to send
// what is spooled, and stops. What is left stays in the spool for the next
// start. Call it before closing the NATS connection.
func (a *Alerts) Close(flush time.Duration) error {
	var err error
	a.closeOne.Do(func() {
		a.unsubscribe()
		if a.cancel != nil {
			ctx, cancel := context.WithTimeout(context.Background(), flush)
			err = a.pub.Flush(ctx)
			a.cancel()
			a.done.Wait()
			if ferr := a.counts.flush(ctx); err == nil && ferr != nil && a.o.Conn.IsConnected() {
				err = fmt.Errorf("alerts: counts: %w", ferr)
			}
			cancel()
		}
		a.spool.Close()
	})
	return err
}

// Stats returns the publisher's counts.
func (a *Alerts) Stats() PublishStats { return a.pub.Stats() }
