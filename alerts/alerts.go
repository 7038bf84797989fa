package alerts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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
	o      Options
	log    zerolog.Logger
	spool  *Spool
	pub    *Publisher
	counts *countsWriter

	// mu guards the set of cameras: Observe and commands read it, SetRules
	// and RemoveCamera change it. Observe holds the read side for the whole
	// frame, so that once RemoveCamera returns nothing counts into the
	// camera's metric series again.
	mu       sync.RWMutex
	cams     map[string]*camera
	order    []string
	serving  bool // between Start and Close: cameras answer commands
	cancel   context.CancelFunc
	done     sync.WaitGroup
	closeOne sync.Once
}

// camera is one camera's rules and what serves them.
type camera struct {
	engine *rules.Engine
	sub    *nats.Subscription // commands; nil while not serving
	stored atomic.Uint64      // the engine's version as last stored
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
	a := &Alerts{o: o, log: o.Logger.With().Str("stage", "alerts").Logger(), cams: map[string]*camera{}}
	for _, c := range o.Cameras {
		if _, dup := a.cams[c.Camera]; dup {
			return nil, fmt.Errorf("alerts: camera %q twice", c.Camera)
		}
		e, err := rules.New(c.Camera, c.Rules)
		if err != nil {
			return nil, err
		}
		a.cams[c.Camera] = &camera{engine: e}
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
func (a *Alerts) Engine(camera string) *rules.Engine {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if c := a.cams[camera]; c != nil {
		return c.engine
	}
	return nil
}

// Cameras returns the cameras with rules, in the order they were configured
// or added.
func (a *Alerts) Cameras() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return slices.Clone(a.order)
}

// SetRules gives a camera new rules while vigil runs. A camera without
// rules so far gets an engine and, once started, answers commands and has
// its counts stored. A camera with rules keeps the counts that its rules'
// identities allow (see rules.Engine.Reconfigure). No rules removes the
// camera (RemoveCamera). On an error nothing changes.
func (a *Alerts) SetRules(cam string, rs []rules.Rule) error {
	if len(rs) == 0 {
		a.RemoveCamera(cam)
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.cams[cam]
	if c == nil {
		e, err := rules.New(cam, rs)
		if err != nil {
			return err
		}
		c = &camera{engine: e}
		if a.serving {
			if err := a.serve(cam, c); err != nil {
				return err
			}
		}
		a.cams[cam] = c
		a.order = append(a.order, cam)
		a.log.Info().Str("camera", cam).Int("rules", len(rs)).Msg("alerts: camera added")
		return nil
	}
	before := c.engine.Rules()
	if err := c.engine.Reconfigure(rs); err != nil {
		return err
	}
	for _, r := range before {
		if !slices.ContainsFunc(rs, func(n rules.Rule) bool { return n.Name == r.Name }) {
			a.deleteSeries(prometheus.Labels{"camera": cam, "rule": r.Name})
		}
	}
	if a.serving {
		a.store(cam, c)
	}
	a.log.Info().Str("camera", cam).Int("rules", len(rs)).Msg("alerts: rules changed")
	return nil
}

// RemoveCamera stops running a camera's rules: it no longer answers
// commands and its metric series go. Its events already accepted are still
// published, and its counts stay in the bucket.
func (a *Alerts) RemoveCamera(cam string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.cams[cam]
	if c == nil {
		return
	}
	if c.sub != nil {
		c.sub.Unsubscribe()
	}
	delete(a.cams, cam)
	a.order = slices.DeleteFunc(a.order, func(n string) bool { return n == cam })
	a.deleteSeries(prometheus.Labels{"camera": cam})
	a.log.Info().Str("camera", cam).Msg("alerts: camera removed")
}

// deleteSeries deletes the series of every camera-labelled metric that
// match labels.
func (a *Alerts) deleteSeries(labels prometheus.Labels) {
	m := a.pub.m
	if m == nil {
		return
	}
	if _, perRule := labels["rule"]; !perRule {
		m.accepted.DeletePartialMatch(labels)
	}
	m.events.DeletePartialMatch(labels)
}

// serve subscribes c to its camera's commands.
func (a *Alerts) serve(cam string, c *camera) error {
	subject := CommandSubject(a.o.Prefix, cam)
	sub, err := a.o.Conn.Subscribe(subject, func(msg *nats.Msg) { a.handleCommand(cam, msg) })
	if err != nil {
		return fmt.Errorf("alerts: subscribe %s: %w", subject, err)
	}
	c.sub = sub
	a.store(cam, c)
	return nil
}

// store stores c's counts now.
func (a *Alerts) store(cam string, c *camera) {
	c.stored.Store(c.engine.Version())
	a.storeCounts(cam, c.engine.States())
}

// Publisher is the events publisher.
func (a *Alerts) Publisher() *Publisher { return a.pub }

// Start restores counts (when asked, waiting at most restoreWait for NATS),
// answers commands, and starts publishing. Stop it with Close.
func (a *Alerts) Start(restoreWait time.Duration) error {
	if a.o.RestoreCounts {
		a.restore(restoreWait)
	}
	a.mu.Lock()
	for _, cam := range a.order {
		if err := a.serve(cam, a.cams[cam]); err != nil {
			a.unsubscribe()
			a.mu.Unlock()
			return err
		}
	}
	a.serving = true
	a.mu.Unlock()
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
	// Not under the lock: loading waits for NATS.
	for _, cam := range a.Cameras() {
		e := a.Engine(cam)
		if e == nil {
			continue // removed meanwhile
		}
		for _, st := range e.States() {
			v, found, err := a.counts.load(ctx, cam, st.Rule)
			if err != nil {
				a.log.Warn().Err(err).Str("camera", cam).Str("rule", st.Rule).Msg("alerts: counts not restored; starting from zero")
				if errors.Is(err, context.DeadlineExceeded) || !a.o.Conn.IsConnected() {
					return
				}
				continue
			}
			if found && v.Kind == st.Kind {
				e.Restore(st.Rule, v.Counts)
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
	a.mu.RLock()
	defer a.mu.RUnlock()
	c := a.cams[camera]
	if c == nil {
		return nil
	}
	e := c.engine
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
	if v := e.Version(); c.stored.Swap(v) != v {
		a.storeCounts(camera, e.States())
	}
	return out
}

// unsubscribe stops answering commands; a.mu must be held.
func (a *Alerts) unsubscribe() {
	for _, c := range a.cams {
		if c.sub != nil {
			c.sub.Unsubscribe()
			c.sub = nil
		}
	}
	a.serving = false
}

// Close stops answering commands, gives the publisher up to flush to send
// what is spooled, and stops. What is left stays in the spool for the next
// start. Call it before closing the NATS connection.
func (a *Alerts) Close(flush time.Duration) error {
	var err error
	a.closeOne.Do(func() {
		a.mu.Lock()
		a.unsubscribe()
		a.mu.Unlock()
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
