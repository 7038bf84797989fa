package fleet

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/lease"
)

// Buckets of the fleet besides the cameras.
const (
	DefaultLeasesBucket = "VIGIL_CAMERA_LEASES" // key = camera id, holder = node
	DefaultNodesBucket  = "VIGIL_NODES"         // key = node name, info = NodeInfo
)

// Runner is the node's side of a Member: it runs what the fleet hands it.
// Start and Stop may take a while (a model to load, a camera to close):
// the member renews its leases meanwhile, on another goroutine.
type Runner interface {
	// Check says why this node cannot run cam (nil: it can).
	Check(cam config.Camera) error
	// Start runs cam, or applies its new block when it runs already.
	Start(cam config.Camera) error
	// Stop stops running a fleet camera.
	Stop(id string)
	// Local says whether id is one of the node's own cameras (its file's):
	// the fleet never runs a camera of that id here.
	Local(id string) bool
	// Detectors are the detector names the node can run.
	Detectors() []string
	// Busy is the detectors' inference time so far (pipeline.DetectorBusy).
	Busy() time.Duration
}

// Options configure a Member.
type Options struct {
	JS         jetstream.JetStream
	Node       string
	Labels     []string
	TTL        time.Duration // config.DefaultLeaseTTL when 0
	MaxCameras int
	MaxLoad    float64
	MinHold    time.Duration
	Replicas   int
	URL        string // this node's HTTP base URL, for the fleet view
	Version    string

	CamerasBucket, LeasesBucket, NodesBucket string // defaults when ""

	Runner     Runner
	Registerer prometheus.Registerer
	Logger     zerolog.Logger
	Now        func() time.Time // nil = time.Now
}

// Member is one node's part in the fleet: see the package documentation.
type Member struct {
	o        Options
	log      zerolog.Logger
	period   time.Duration // between renewals
	margin   time.Duration // a lease is acted on until TTL - margin after its renewal
	cameras  *Cameras
	leases   *lease.Bucket
	nodes    *lease.Bucket
	self     *lease.Lease // the node's own key
	instance string
	m        *metrics

	// fence is what Fence reads: the cameras held now, swapped whole.
	fence atomic.Pointer[map[string]*lease.Lease]
	wake  chan struct{}

	mu       sync.Mutex
	desired  map[string]Entry       // the cameras bucket as watched
	holders  map[string]lease.Entry // camera leases as watched; absent or Holder "" = free
	freeAt   map[string]time.Time   // when a camera was seen free
	peers    map[string]peer        // live nodes as watched, this one included
	held     map[string]*heldCamera // what this node holds
	load     float64
	unplaced map[string]string
	lastMove time.Time            // the last handover for balance
	handed   map[string]time.Time // cameras handed over for balance: not taken back late for min_hold
	closed   bool
}

type peer struct {
	info NodeInfo
	seen time.Time // local clock: when its last renewal was watched
}

type heldCamera struct {
	lease   *lease.Lease
	cam     config.Camera
	rev     uint64 // the cameras bucket revision it runs
	since   time.Time
	running bool // Start succeeded
}

// Join opens the fleet's buckets and takes this node's name in it. A name
// held by a live node is an error; one left by a node that died frees
// within a TTL, and Join waits for it that long.
func Join(ctx context.Context, o Options) (*Member, error) {
	if o.TTL == 0 {
		o.TTL = config.DefaultLeaseTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.CamerasBucket = cmp.Or(o.CamerasBucket, DefaultCamerasBucket)
	o.LeasesBucket = cmp.Or(o.LeasesBucket, DefaultLeasesBucket)
	o.NodesBucket = cmp.Or(o.NodesBucket, DefaultNodesBucket)
	var id [4]byte
	rand.Read(id[:])
	m := &Member{
		o: o, log: o.Logger.With().Str("stage", "fleet").Str("node", o.Node).Logger(),
		period: min(o.TTL/4, 5*time.Second), margin: o.TTL / 4, instance: hex.EncodeToString(id[:]),
		wake: make(chan struct{}, 1), desired: map[string]Entry{}, holders: map[string]lease.Entry{},
		freeAt: map[string]time.Time{}, peers: map[string]peer{}, held: map[string]*heldCamera{}, unplaced: map[string]string{},
		handed: map[string]time.Time{},
	}
	m.fence.Store(&map[string]*lease.Lease{})
	var err error
	if m.m, err = newMetrics(o.Registerer); err != nil {
		return nil, err
	}
	if m.cameras, err = OpenCameras(ctx, o.JS, o.CamerasBucket, o.Replicas); err != nil {
		return nil, err
	}
	if m.leases, err = lease.Open(ctx, o.JS, lease.Options{Name: o.LeasesBucket, TTL: o.TTL, Replicas: o.Replicas, Now: o.Now}); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	if m.nodes, err = lease.Open(ctx, o.JS, lease.Options{Name: o.NodesBucket, TTL: o.TTL, Replicas: o.Replicas, Now: o.Now}); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	holder := o.Node + "@" + m.instance
	deadline := time.Now().Add(o.TTL + m.period)
	for {
		m.self, err = m.nodes.Acquire(ctx, o.Node, holder)
		if err == nil {
			break
		}
		if !errors.Is(err, lease.ErrHeld) || time.Now().After(deadline) {
			if errors.Is(err, lease.ErrHeld) {
				return nil, fmt.Errorf("fleet.node %q is already live in the fleet (%v); give this node another name with fleet.node, or stop the other one", o.Node, err)
			}
			return nil, fmt.Errorf("fleet: join as %q: %w", o.Node, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(m.period / 2):
		}
	}
	m.publishInfo()
	if err := m.self.Renew(ctx); err != nil {
		m.self.Release(context.Background())
		return nil, fmt.Errorf("fleet: join as %q: %w", o.Node, err)
	}
	m.log.Info().Str("instance", m.instance).Dur("lease_ttl", o.TTL).Int("max_cameras", o.MaxCameras).
		Strs("labels", o.Labels).Msg("fleet: joined")
	return m, nil
}

// Node is this node's name.
func (m *Member) Node() string { return m.o.Node }

// TTL is the lease TTL.
func (m *Member) TTL() time.Duration { return m.o.TTL }

// Fence says whether this node may publish for camera now, and under
// which epoch: its own cameras always (epoch 0); a fleet camera only while
// its lease is valid, which ends before the lease can expire. Cheap: it
// is meant for every frame.
func (m *Member) Fence(camera string) (epoch uint64, ok bool) {
	if l := (*m.fence.Load())[camera]; l != nil {
		return l.Epoch(), l.Valid(m.o.Now(), m.margin)
	}
	return 0, m.o.Runner.Local(camera)
}

// Held says whether this node holds a fleet camera's lease now.
func (m *Member) Held(camera string) bool {
	_, ok := (*m.fence.Load())[camera]
	return ok
}

// Run keeps the leases and follows the fleet until ctx ends, then leaves
// it: every lease is revoked (publishing stops at once) and released, so
// other nodes take the cameras without waiting for a TTL.
func (m *Member) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	// A watch can go quiet without an error while JetStream elects a
	// leader; one quiet for longer than idle starts again, and its first
	// full state replaces the old view. The nodes watch sees this node's
	// own renewals every period; the leases watch sees every holder's.
	watch := func(name string, idle time.Duration, f func(ctx context.Context, touch func()) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				wctx, cancel := context.WithCancel(ctx)
				var last atomic.Int64
				touch := func() { last.Store(time.Now().UnixNano()) }
				touch()
				go func() {
					t := time.NewTicker(m.period)
					defer t.Stop()
					for {
						select {
						case <-wctx.Done():
							return
						case <-t.C:
							if time.Since(time.Unix(0, last.Load())) > idle {
								m.log.Debug().Str("watch", name).Msg("fleet: watch quiet; starting it again")
								cancel()
								return
							}
						}
					}
				}()
				if err := f(wctx, touch); err != nil && wctx.Err() == nil {
					m.log.Warn().Err(err).Str("watch", name).Msg("fleet: watch ended; starting it again")
				}
				cancel()
				select {
				case <-ctx.Done():
				case <-time.After(m.period / 4):
				}
			}
		}()
	}
	watch("cameras", 30*time.Second, m.watchCameras)
	watch("leases", 3*m.period, m.watchLeases)
	watch("nodes", 3*m.period, m.watchNodes)
	wg.Add(1)
	go func() { defer wg.Done(); m.renewals(ctx) }()

	// Nodes started together see each other only as their first renewals
	// land: a round's wait before taking cameras spreads them at once.
	settle := time.After(min(m.period, time.Second))
	for settling := true; settling; {
		select {
		case <-ctx.Done():
			settling = false
		case <-settle:
			settling = false
		case <-m.wake:
		}
	}
	tick := time.NewTicker(m.period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			m.revokeAll() // first: publishing stops at once
			wg.Wait()
			m.leave()
			return nil
		case <-tick.C:
		case <-m.wake:
		}
		m.step(ctx)
	}
}

func (m *Member) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// watchCameras follows the desired cameras; a watch's first full state
// replaces the view.
func (m *Member) watchCameras(ctx context.Context, touch func()) error {
	w, err := m.cameras.kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	fresh := map[string]Entry{} // until the initial state is all in
	for {
		select {
		case <-ctx.Done():
			return nil
		case kve, ok := <-w.Updates():
			if !ok {
				return errors.New("closed")
			}
			touch()
			m.mu.Lock()
			switch {
			case kve == nil:
				m.desired, fresh = fresh, nil
			case fresh != nil:
				if kve.Operation() == jetstream.KeyValuePut {
					fresh[kve.Key()] = m.cameras.entry(kve)
				}
			case kve.Operation() == jetstream.KeyValuePut:
				m.desired[kve.Key()] = m.cameras.entry(kve)
			default:
				delete(m.desired, kve.Key())
			}
			m.mu.Unlock()
			if fresh == nil {
				m.poke()
			}
		}
	}
}

// watchLeases follows who holds each camera.
func (m *Member) watchLeases(ctx context.Context, touch func()) error {
	w, err := m.leases.Watch(ctx)
	if err != nil {
		return err
	}
	fresh := map[string]lease.Entry{}
	for e := range w {
		touch()
		m.mu.Lock()
		switch {
		case e.Key == "" && fresh != nil:
			for k, h := range m.holders { // gone while the last watch was quiet
				if _, ok := fresh[k]; !ok && h.Holder != "" {
					m.freeAt[k] = m.o.Now()
				}
			}
			m.holders, fresh = fresh, nil
		case fresh != nil:
			fresh[e.Key] = e
		default:
			if was := m.holders[e.Key]; e.Holder == "" && e.Err == nil && was.Holder != "" {
				m.freeAt[e.Key] = m.o.Now()
			}
			m.holders[e.Key] = e
		}
		if e.Holder != "" || e.Err != nil {
			delete(m.freeAt, e.Key)
		}
		m.mu.Unlock()
		if fresh == nil && e.Holder == "" {
			m.poke() // a camera to take
		}
	}
	return errors.New("closed")
}

// watchNodes follows the live nodes.
func (m *Member) watchNodes(ctx context.Context, touch func()) error {
	w, err := m.nodes.Watch(ctx)
	if err != nil {
		return err
	}
	fresh := map[string]peer{}
	for e := range w {
		touch()
		m.mu.Lock()
		info, live := nodeInfo(e)
		_, known := m.peers[e.Key]
		switch {
		case e.Key == "" && fresh != nil:
			m.peers, fresh = fresh, nil
		case fresh != nil:
			if live {
				fresh[e.Key] = peer{info: info, seen: m.o.Now()}
			}
		case live:
			m.peers[e.Key] = peer{info: info, seen: m.o.Now()}
		default:
			delete(m.peers, e.Key)
		}
		m.mu.Unlock()
		if fresh == nil && (!known || !live) {
			m.poke() // the placement changes
		}
	}
	return errors.New("closed")
}

// renewals renews the node's key, then every camera lease, each period,
// on its own so that a slow Start never delays them. A lost lease, or one
// that can no longer be acted on, stops its camera.
func (m *Member) renewals(ctx context.Context) {
	t := time.NewTicker(m.period)
	defer t.Stop()
	lastBusy, lastAt := m.o.Runner.Busy(), m.o.Now()
	selfFails := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := m.o.Now()
		busy := m.o.Runner.Busy()
		if dt := now.Sub(lastAt); dt > 0 {
			m.mu.Lock()
			m.load = float64(busy-lastBusy) / float64(dt)
			m.mu.Unlock()
		}
		lastBusy, lastAt = busy, now
		m.publishInfo()
		if err := m.renew(ctx, m.self); err != nil {
			if selfFails++; selfFails%10 == 1 {
				m.log.Warn().Err(err).Int("failures", selfFails).Msg("fleet: the node's own key not renewed (JetStream unreachable, or electing a leader)")
			}
			if errors.Is(err, lease.ErrLost) {
				m.rejoin(ctx)
			}
		} else if selfFails > 0 {
			m.log.Info().Int("failures", selfFails).Msg("fleet: the node's own key renewed again")
			selfFails = 0
		}
		m.mu.Lock()
		held := make(map[string]*heldCamera, len(m.held))
		for id, h := range m.held {
			held[id] = h
		}
		m.mu.Unlock()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for id, h := range held {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				err := m.renew(ctx, h.lease)
				switch {
				case errors.Is(err, lease.ErrLost):
					m.lost(id, h, err.Error())
				case !h.lease.Valid(m.o.Now(), m.margin):
					m.lost(id, h, fmt.Sprintf("not renewed for %s (%v)", m.o.TTL-m.margin, err))
				case err != nil:
					m.log.Warn().Err(err).Str("camera", id).Msg("fleet: lease not renewed; the camera runs on while the lease is valid")
				}
			}()
		}
		wg.Wait()
	}
}

func (m *Member) renew(ctx context.Context, l *lease.Lease) error {
	rctx, cancel := context.WithTimeout(ctx, m.period)
	defer cancel()
	t0 := time.Now()
	err := l.Renew(rctx)
	if err == nil {
		m.m.renew.Observe(time.Since(t0).Seconds())
	}
	return err
}

// rejoin takes the node's key again after it was lost (the node was
// frozen, or cut off, for longer than a TTL).
func (m *Member) rejoin(ctx context.Context) {
	l, err := m.nodes.Acquire(ctx, m.o.Node, m.o.Node+"@"+m.instance)
	if err != nil {
		m.log.Error().Err(err).Msg("fleet: the node's key was lost and cannot be taken again; is another node running under this name?")
		return
	}
	m.self = l
	m.publishInfo()
	m.log.Warn().Msg("fleet: the node's key was lost (frozen or cut off for longer than the lease TTL); taken again")
}

// lost stops a camera whose lease is gone or can no longer be acted on.
func (m *Member) lost(id string, h *heldCamera, why string) {
	h.lease.Revoke()
	m.mu.Lock()
	if m.held[id] != h {
		m.mu.Unlock()
		return
	}
	delete(m.held, id)
	m.storeFence()
	m.mu.Unlock()
	m.m.lost.Inc()
	m.log.Warn().Str("camera", id).Uint64("epoch", h.lease.Epoch()).Str("why", why).Msg("fleet: camera lease lost; camera stopped here")
	m.o.Runner.Stop(id)
	m.poke()
}

// storeFence publishes the held leases to Fence; m.mu held.
func (m *Member) storeFence() {
	f := make(map[string]*lease.Lease, len(m.held))
	for id, h := range m.held {
		f[id] = h.lease
	}
	m.fence.Store(&f)
	m.m.held.Set(float64(len(f)))
}

// publishInfo sets what the next renewal of the node's key says.
func (m *Member) publishInfo() {
	m.mu.Lock()
	info := m.infoLocked()
	m.mu.Unlock()
	data, _ := json.Marshal(info)
	m.self.SetInfo(data)
}

func (m *Member) infoLocked() NodeInfo {
	cams := make([]string, 0, len(m.held))
	for id := range m.held {
		cams = append(cams, id)
	}
	sort.Strings(cams)
	return NodeInfo{Labels: m.o.Labels, Detectors: m.o.Runner.Detectors(), MaxCameras: m.o.MaxCameras, MaxLoad: m.o.MaxLoad,
		Load: m.load, Cameras: cams, URL: m.o.URL, Version: m.o.Version}
}

// step brings what this node runs in line with the fleet: drops cameras
// gone from the bucket, applies changed ones, takes the free cameras the
// placement gives it, and hands one over when it holds too many.
func (m *Member) step(ctx context.Context) {
	now := m.o.Now()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	var drop []string
	var update []*heldCamera
	for id, h := range m.held {
		e, ok := m.desired[id]
		switch {
		case !ok || e.Err != nil || !enabled(e.Camera) || m.o.Runner.Local(id):
			drop = append(drop, id)
		case e.Revision != h.rev || !h.running:
			update = append(update, h)
			h.rev, h.cam = e.Revision, e.Camera
		}
	}
	m.mu.Unlock()
	for _, id := range drop {
		m.release(ctx, id, "removed from the fleet's cameras, disabled, or run by this node's own file")
	}
	for _, h := range update {
		if err := m.o.Runner.Start(h.cam); err != nil {
			m.log.Error().Err(err).Str("camera", h.cam.ID).Msg("fleet: camera block not applied")
			continue
		}
		m.mu.Lock()
		h.running = true
		m.mu.Unlock()
	}

	m.mu.Lock()
	mine := m.planLocked(now)
	m.mu.Unlock()
	for _, e := range mine {
		if ctx.Err() != nil {
			return
		}
		m.take(ctx, e)
	}
	m.balance(ctx, now)
}

func enabled(c config.Camera) bool { return c.Enabled == nil || *c.Enabled }

// liveLocked is the nodes placement counts on: those whose renewals are
// seen (a frozen node drops out after two missed ones), this one as it is
// now.
func (m *Member) liveLocked(now time.Time) map[string]NodeInfo {
	live := map[string]NodeInfo{}
	for name, p := range m.peers {
		if name != m.o.Node && now.Sub(p.seen) <= 2*m.period+m.period/2 {
			live[name] = p.info
		}
	}
	live[m.o.Node] = m.infoLocked()
	return live
}

// planLocked is the free cameras this node takes now: those the placement
// gives it, and those given to another node that has not taken them within
// two renewal periods.
func (m *Member) planLocked(now time.Time) []Entry {
	var free []config.Camera
	for id, e := range m.desired {
		if e.Err != nil || !enabled(e.Camera) || m.o.Runner.Local(id) {
			continue
		}
		if h := m.holders[id]; h.Holder != "" || h.Err != nil {
			continue
		}
		if _, mine := m.held[id]; mine {
			continue
		}
		free = append(free, e.Camera)
	}
	live := m.liveLocked(now)
	pl := place(free, live, heldCounts(m.holders))
	var mine []Entry
	me := live[m.o.Node]
	for _, cam := range free {
		to := pl.to[cam.ID]
		late := to != m.o.Node && to != "" && now.Sub(m.freeSince(cam.ID, now)) > 2*m.period &&
			me.eligible(cam) == "" && me.headroom(len(m.held)+len(mine)) && now.Sub(m.handed[cam.ID]) > m.o.MinHold
		if to == m.o.Node || late {
			mine = append(mine, m.desired[cam.ID])
		}
	}
	m.unplaced = pl.unplaced
	m.m.unplaced.Set(float64(len(pl.unplaced)))
	return mine
}

func (m *Member) freeSince(id string, now time.Time) time.Time {
	if t, ok := m.freeAt[id]; ok {
		return t
	}
	m.freeAt[id] = now
	return now
}

// take acquires a camera's lease and starts it; a camera this node cannot
// start is released at once.
func (m *Member) take(ctx context.Context, e Entry) {
	id := e.ID
	if err := m.o.Runner.Check(e.Camera); err != nil {
		m.log.Debug().Err(err).Str("camera", id).Msg("fleet: cannot run this camera here")
		return
	}
	m.mu.Lock()
	prev := m.holders[id]
	m.mu.Unlock()
	l, err := m.leases.Acquire(ctx, id, m.o.Node)
	if err != nil {
		m.log.Debug().Err(err).Str("camera", id).Msg("fleet: camera not taken")
		return
	}
	h := &heldCamera{lease: l, cam: e.Camera, rev: e.Revision, since: m.o.Now()}
	m.mu.Lock()
	m.held[id] = h
	m.holders[id] = lease.Entry{Key: id, Holder: m.o.Node, Epoch: l.Epoch()}
	m.storeFence()
	m.mu.Unlock()
	if prev.Expired {
		m.m.takeovers.Inc()
	}
	if err := m.o.Runner.Start(e.Camera); err != nil {
		m.log.Error().Err(err).Str("camera", id).Msg("fleet: camera taken but not started here; handing it back")
		m.release(ctx, id, "failed to start")
		return
	}
	m.mu.Lock()
	h.running = true
	m.mu.Unlock()
	m.log.Info().Str("camera", id).Uint64("epoch", l.Epoch()).Bool("takeover", prev.Expired).Msg("fleet: camera taken")
}

// release stops a held camera and gives its lease up.
func (m *Member) release(ctx context.Context, id, why string) {
	m.mu.Lock()
	h := m.held[id]
	if h == nil {
		m.mu.Unlock()
		return
	}
	h.lease.Revoke() // nothing more is published for it from here
	delete(m.held, id)
	m.storeFence()
	m.mu.Unlock()
	m.o.Runner.Stop(id)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.period)
	defer cancel()
	if err := h.lease.Release(rctx); err != nil {
		m.log.Warn().Err(err).Str("camera", id).Msg("fleet: lease not released; it expires within its TTL")
	}
	m.log.Info().Str("camera", id).Str("why", why).Msg("fleet: camera released")
}

// balance hands one camera over when another live node that can run it
// holds at least two fewer, or this node is loaded past max_load and
// another is at most half as loaded. Nothing flaps: a handover narrows the
// gap that caused it by two, each camera stays at least min_hold, and a
// node hands over at most one camera per three renewal periods, time for
// the others' counts to show the last one.
func (m *Member) balance(ctx context.Context, now time.Time) {
	m.mu.Lock()
	if now.Sub(m.lastMove) < 3*m.period || len(m.held) == 0 {
		m.mu.Unlock()
		return
	}
	live := m.liveLocked(now)
	me := live[m.o.Node]
	counts := heldCounts(m.holders)
	overloaded := me.Load >= m.o.MaxLoad
	var pick string
	var pickSince time.Time
	for id, h := range m.held {
		if now.Sub(h.since) < m.o.MinHold {
			continue
		}
		for name, n := range live {
			if name == m.o.Node || n.eligible(h.cam) != "" || !n.headroom(counts[name]) {
				continue
			}
			if counts[name]+2 <= len(m.held) || overloaded && n.Load < n.MaxLoad/2 {
				if pick == "" || h.since.After(pickSince) {
					pick, pickSince = id, h.since
				}
			}
		}
	}
	if pick != "" {
		m.lastMove = now
		m.handed[pick] = now
		for id, at := range m.handed {
			if now.Sub(at) > m.o.MinHold {
				delete(m.handed, id)
			}
		}
	}
	m.mu.Unlock()
	if pick != "" {
		m.m.handovers.Inc()
		m.release(ctx, pick, "handed over for balance")
	}
}

// revokeAll stops acting on every lease, and taking new ones.
func (m *Member) revokeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, h := range m.held {
		h.lease.Revoke()
	}
	m.fence.Store(&map[string]*lease.Lease{})
}

// leave releases every lease and the node's key, for a prompt handover.
func (m *Member) leave() {
	m.mu.Lock()
	held := m.held
	m.held = map[string]*heldCamera{}
	m.storeFence()
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for id, h := range held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.lease.Release(ctx); err != nil {
				m.log.Warn().Err(err).Str("camera", id).Msg("fleet: lease not released; it expires within its TTL")
				return
			}
			m.m.handovers.Inc()
		}()
	}
	wg.Wait()
	if err := m.self.Release(ctx); err != nil {
		m.log.Warn().Err(err).Msg("fleet: node key not released; it expires within its TTL")
	}
	ids := make([]string, 0, len(held))
	for id := range held {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	m.log.Info().Str("released", strings.Join(ids, ",")).Msg("fleet: left")
}
