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
	Conn         *nats.Conn
	Prefix       string // subject prefix; default "vigil"
	Cameras      []CameraRules
	Spool        SpoolOptions    // Dir is required
	Overflow     OverflowOptions // bounds what is held in memory while the spool cannot be written
	Stream       StreamOptions
	CountsBucket string // default DefaultCountsBucket
	// CountsReplicas is how many copies of the counts bucket a cluster
	// keeps; 0 = 1. A fleet wants them on every server its cameras can
	// move to.
	CountsReplicas int
	RestoreCounts  bool // at Start, and for a camera SetRules adds, continue the counts stored in the bucket
	// RestoreWait bounds how long SetRules waits for NATS to load a new
	// camera's stored counts; default DefaultRestoreWait.
	RestoreWait time.Duration
	Registerer  prometheus.Registerer
	Logger      zerolog.Logger
	Now         func() time.Time // for updated_at in the bucket; default time.Now

	// Fence says whether this node runs camera now, and under which lease
	// epoch (see package lease); nil: standalone, epoch 0, always. While a
	// camera is fenced, Observe does nothing for it (no events, no
	// counts), its counts are not stored and its commands are left to its
	// owner. Events and counts carry the epoch. It is called on every
	// frame: keep it cheap, and do not call Alerts from it. A node that
	// loses a camera's lease should RemoveCamera it, and SetRules it again
	// when it takes the lease again, so that its counts continue from the
	// bucket.
	Fence func(camera string) (epoch uint64, ok bool)
}

// DefaultRestoreWait is SetRules' wait for a new camera's stored counts.
const DefaultRestoreWait = 2 * time.Second

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
	quit     chan struct{} // closed by Close
}

// camera is one camera's rules and what serves them.
type camera struct {
	engine *rules.Engine
	sub    *nats.Subscription // commands; nil while not serving
	stored atomic.Uint64      // the engine's version as last stored
	// restored: its stored counts were loaded before it was installed, so
	// Start need not load them again. Set before the camera is shared.
	restored bool

	fenced atomic.Bool   // Observe found it fenced last time
	epoch  atomic.Uint64 // the lease epoch Observe last ran it under
	// pending: its stored counts could not be loaded yet (JetStream did
	// not answer: electing a leader, or away). It counts meanwhile but
	// stores nothing, so that the stored counts are not overwritten; once
	// they load, they are added to what it counted.
	pending atomic.Bool
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
	if o.RestoreWait <= 0 {
		o.RestoreWait = DefaultRestoreWait
	}
	a := &Alerts{o: o, log: o.Logger.With().Str("stage", "alerts").Logger(), cams: map[string]*camera{}, quit: make(chan struct{})}
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
		Overflow: o.Overflow, Registerer: o.Registerer, Logger: o.Logger})
	if err != nil {
		spool.Close()
		return nil, err
	}
	var fenced prometheus.Counter
	if m != nil {
		fenced = m.countsFenced
	}
	a.counts = newCountsWriter(a.pub.js, o.CountsBucket, a.log, fenced)
	a.counts.replicas = o.CountsReplicas
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
// rules so far gets an engine that continues the counts stored for it
// (with RestoreCounts, waiting at most RestoreWait for NATS: the camera
// may have been run by another node until now) and, once started,
// answers commands and has its counts stored. A camera with rules keeps
// the counts that its rules' identities allow (see
// rules.Engine.Reconfigure). No rules removes the camera (RemoveCamera).
// On an error nothing changes.
func (a *Alerts) SetRules(cam string, rs []rules.Rule) error {
	if len(rs) == 0 {
		a.RemoveCamera(cam)
		return nil
	}
	for {
		a.mu.Lock()
		if c := a.cams[cam]; c != nil {
			err := a.reconfigure(cam, c, rs)
			a.mu.Unlock()
			return err
		}
		a.mu.Unlock()
		if added, err := a.add(cam, rs); added || err != nil {
			return err
		}
		// Another SetRules added the camera meanwhile: change its rules.
	}
}

// add installs an engine for cam, which has no rules, restored from the
// bucket when asked; false when another SetRules added cam meanwhile.
func (a *Alerts) add(cam string, rs []rules.Rule) (bool, error) {
	e, err := rules.New(cam, rs)
	if err != nil {
		return false, err
	}
	c := &camera{engine: e}
	if a.o.RestoreCounts {
		// Not under the lock: loading waits for NATS.
		ctx, cancel := context.WithTimeout(context.Background(), a.o.RestoreWait)
		c.pending.Store(!a.restoreCounts(ctx, cam, e, false))
		cancel()
		c.restored = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cams[cam] != nil {
		return false, nil
	}
	if c.pending.Load() {
		a.log.Warn().Str("camera", cam).Msg("alerts: stored counts not loaded yet; counting on, and adding them once JetStream answers")
		a.done.Add(1)
		go func() { defer a.done.Done(); a.retryRestore(cam, c) }()
	}
	if a.serving {
		if err := a.serve(cam, c); err != nil {
			return false, err
		}
	}
	a.cams[cam] = c
	a.order = append(a.order, cam)
	a.log.Info().Str("camera", cam).Int("rules", len(rs)).Msg("alerts: camera added")
	return true, nil
}

// reconfigure gives an installed camera new rules; a.mu must be held.
func (a *Alerts) reconfigure(cam string, c *camera, rs []rules.Rule) error {
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

// store stores c's counts now, unless the camera is fenced: then the next
// frame Observe runs for it stores them.
func (a *Alerts) store(cam string, c *camera) {
	if c.pending.Load() {
		return
	}
	v := c.engine.Version()
	if a.storeCounts(cam, c.engine.States()) {
		c.stored.Store(v)
	}
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

// restore continues the stored counts of the cameras that SetRules did
// not restore already.
func (a *Alerts) restore(wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	failed := false
	// Not under the lock: loading waits for NATS.
	for _, cam := range a.Cameras() {
		a.mu.RLock()
		c := a.cams[cam]
		a.mu.RUnlock()
		if c == nil || c.restored {
			continue // removed meanwhile, or added with its counts
		}
		if failed || !a.restoreCounts(ctx, cam, c.engine, false) {
			// JetStream does not answer: this camera and the rest count
			// on without storing, and add their stored counts later.
			failed = true
			c.pending.Store(true)
			a.log.Warn().Str("camera", cam).Msg("alerts: stored counts not loaded yet; counting on, and adding them once JetStream answers")
			a.done.Add(1)
			go func() { defer a.done.Done(); a.retryRestore(cam, c) }()
		}
	}
}

// restoreCounts continues in e the counts stored for cam's rules; with
// add, the stored counts are added to e's (counted while they could not be
// loaded). False when NATS did not answer in time or is away: other
// cameras would only wait for it too.
func (a *Alerts) restoreCounts(ctx context.Context, cam string, e *rules.Engine, add bool) bool {
	loaded := map[string]CountsValue{}
	for _, st := range e.States() {
		v, found, err := a.counts.load(ctx, cam, st.Rule)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || !a.o.Conn.IsConnected() {
				a.log.Warn().Err(err).Str("camera", cam).Str("rule", st.Rule).Msg("alerts: stored counts not loaded")
				return false
			}
			a.log.Warn().Err(err).Str("camera", cam).Str("rule", st.Rule).Msg("alerts: counts not restored; starting from zero")
			continue
		}
		if found && v.Kind == st.Kind {
			loaded[st.Rule] = v
		}
	}
	if add {
		// Observe holds the read side for a whole frame: nothing counts
		// between reading e's counts and writing the sums.
		a.mu.Lock()
		defer a.mu.Unlock()
	}
	for _, st := range e.States() {
		v, ok := loaded[st.Rule]
		if !ok {
			continue
		}
		counts := v.Counts
		if add {
			counts = map[string]int64{}
			for k, n := range v.Counts {
				counts[k] = n + st.Counts[k]
			}
		}
		e.Restore(st.Rule, counts)
		a.log.Info().Str("camera", cam).Str("rule", st.Rule).Interface("counts", counts).Uint64("lease_epoch", v.LeaseEpoch).
			Msg("alerts: counts restored")
	}
	return true
}

// retryRestore loads a pending camera's stored counts until JetStream
// answers, the camera goes, or the alerts close.
func (a *Alerts) retryRestore(cam string, c *camera) {
	for {
		select {
		case <-a.quit:
			return
		case <-time.After(time.Second):
		}
		a.mu.RLock()
		gone := a.cams[cam] != c
		a.mu.RUnlock()
		if gone {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(a.o.RestoreWait, DefaultRestoreWait))
		ok := a.restoreCounts(ctx, cam, c.engine, true)
		cancel()
		if ok {
			c.pending.Store(false)
			c.stored.Store(0) // the next frame stores the sums
			return
		}
	}
}

// fence is Options.Fence, standalone when there is none.
func (a *Alerts) fence(camera string) (epoch uint64, ok bool) {
	if a.o.Fence == nil {
		return 0, true
	}
	return a.o.Fence(camera)
}

// storeCounts has states stored under the camera's lease epoch; false,
// storing nothing, while the camera is fenced.
func (a *Alerts) storeCounts(camera string, states []rules.State) bool {
	epoch, ok := a.fence(camera)
	if ok {
		a.storeCountsAt(camera, epoch, states)
	}
	return ok
}

func (a *Alerts) storeCountsAt(camera string, epoch uint64, states []rules.State) {
	now := a.o.Now().UTC()
	for _, st := range states {
		a.counts.set(CountsValue{Schema: CountsSchema, Camera: camera, Rule: st.Rule, Kind: st.Kind, Armed: st.Armed,
			Occupancy: st.Occupancy, Occupied: st.Occupied, Counts: st.Counts, UpdatedAt: now, LeaseEpoch: epoch})
	}
}

// held says whether Observe may run c's rules under Fence's answer, and
// logs when that changes: once per loss and per new epoch, not per frame.
func (a *Alerts) held(cam string, c *camera, epoch uint64, ok bool) bool {
	if !ok {
		if !c.fenced.Swap(true) {
			a.log.Info().Str("camera", cam).Uint64("lease_epoch", c.epoch.Load()).
				Msg("alerts: this node does not hold the camera's lease now; its rules pause (no events, no counts)")
		}
		return false
	}
	was := c.fenced.Swap(false)
	if prev := c.epoch.Swap(epoch); was || prev != epoch {
		a.log.Info().Str("camera", cam).Uint64("lease_epoch", epoch).Uint64("previous_epoch", prev).
			Msg("alerts: camera's rules run under this lease epoch")
	}
	return true
}

// Observe runs a camera's rules on one processed frame and spools the
// events, stamped with the camera's lease epoch. A camera that Fence says
// this node does not hold now is left alone: nil, and its engine does not
// see the frame. It is meant for the pipeline's sink goroutine: one
// camera's frames in order. Each event costs one synced disk write.
func (a *Alerts) Observe(camera string, seq uint64, at time.Time, width, height int, tracks []track.Track, labels []string) []Message {
	epoch, ok := a.fence(camera)
	a.mu.RLock()
	defer a.mu.RUnlock()
	c := a.cams[camera]
	if c == nil || !a.held(camera, c, epoch, ok) {
		return nil
	}
	e := c.engine
	events := e.Update(at, width, height, tracks)
	var out []Message
	for _, ev := range events {
		m := NewMessage(a.pub.NextID(), camera, seq, ev, labels)
		m.LeaseEpoch = epoch
		if a.pub.m != nil {
			a.pub.m.events.WithLabelValues(camera, ev.Rule, string(ev.Type)).Inc()
		}
		a.log.Info().Str("camera", camera).Str("rule", m.Rule).Str("type", string(m.Type)).Str("direction", m.Direction).
			Uint64("track_id", m.TrackID).Str("label", m.Label).Interface("counts", m.Counts).Str("id", m.ID).Msg("rule event")
		if err := a.pub.Accept(m); err == nil {
			out = append(out, m)
		}
	}
	if v := e.Version(); !c.pending.Load() && c.stored.Swap(v) != v {
		a.storeCountsAt(camera, epoch, e.States())
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
// what is spooled and held in memory, and stops. What is left stays in the
// spool for the next start, but for what the spool still cannot write:
// that is lost, and said so. Call it before closing the NATS connection.
func (a *Alerts) Close(flush time.Duration) error {
	var err error
	a.closeOne.Do(func() {
		close(a.quit)
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
		a.pub.restore() // the spool may take now what it could not before
		if n := a.pub.heldCount(); n > 0 {
			a.log.Error().Int("lost", n).Str("spool", a.o.Spool.Dir).
				Msgf("ALERTS LOST: %d alerts held in memory, because the spool could not write them, were not delivered before vigil stopped", n)
		}
		a.spool.Close()
	})
	return err
}

// Stats returns the publisher's counts.
func (a *Alerts) Stats() PublishStats { return a.pub.Stats() }
