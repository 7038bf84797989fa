package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/internal/natstest"
)

// runner is a node's side that runs nothing: it records what the member
// asks of it.
type runner struct {
	mu      sync.Mutex
	running map[string]config.Camera
	starts  map[string]int
	dets    []string
	local   []string
}

func newRunner(dets ...string) *runner {
	if len(dets) == 0 {
		dets = []string{config.DefaultDetector}
	}
	return &runner{running: map[string]config.Camera{}, starts: map[string]int{}, dets: dets}
}

func (r *runner) Check(cam config.Camera) error { return nil }
func (r *runner) Start(cam config.Camera) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running[cam.ID] = cam
	r.starts[cam.ID]++
	return nil
}
func (r *runner) Stop(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.running, id)
}
func (r *runner) Local(id string) bool { return slices.Contains(r.local, id) }
func (r *runner) Detectors() []string  { return r.dets }
func (r *runner) Busy() time.Duration  { return 0 }
func (r *runner) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id := range r.running {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// node is a member with its own connection, running until stopped.
type node struct {
	m      *Member
	r      *runner
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

type nodeOpts struct {
	ttl, minHold time.Duration
	max          int
	labels       []string
	reg          *prometheus.Registry
}

func startNode(t *testing.T, url, name string, r *runner, o nodeOpts) *node {
	t.Helper()
	js, nc := natstest.Connect(t, url)
	if o.max == 0 {
		o.max = 8
	}
	if o.minHold == 0 {
		o.minHold = time.Hour // no balancing unless a test asks
	}
	opts := Options{JS: js, Node: name, Labels: o.labels, TTL: o.ttl, MaxCameras: o.max, MaxLoad: 0.9,
		MinHold: o.minHold, Runner: r, Logger: zerolog.Nop()}
	if o.reg != nil { // a nil *Registry is not a nil Registerer
		opts.Registerer = o.reg
	}
	m, err := Join(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{m: m, r: r, nc: nc, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(n.done); m.Run(ctx) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.done
}

func putCameras(t *testing.T, js jetstream.JetStream, text string) *Cameras {
	t.Helper()
	store, err := OpenCameras(context.Background(), js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fixture(t, text)
	if err := store.Put(context.Background(), cfg, cfg.Cameras); err != nil {
		t.Fatal(err)
	}
	return store
}

func sixCameras() string {
	var b strings.Builder
	b.WriteString("cameras:\n")
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "  - {id: cam-%d, url: testsrc}\n", i)
	}
	return b.String()
}

// noDoubleOwner polls every node's Fence while the test runs and fails it
// if two nodes may publish one camera at the same instant.
func noDoubleOwner(t *testing.T, nodes []*node, ids []string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			for _, id := range ids {
				var owners []string
				for _, n := range nodes {
					if _, ok := n.m.Fence(id); ok {
						owners = append(owners, n.m.Node())
					}
				}
				if len(owners) > 1 {
					t.Errorf("camera %s may be published by %v at once", id, owners)
					return
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func TestNodesShareTheCamerasAndTakeOverADeadOnesCameras(t *testing.T) {
	url := natstest.Server(t)
	js, _ := natstest.Connect(t, url)
	const ttl = time.Second
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry(), prometheus.NewRegistry()}
	nodes := []*node{
		startNode(t, url, "a", newRunner(), nodeOpts{ttl: ttl, reg: regs[0]}),
		startNode(t, url, "b", newRunner(), nodeOpts{ttl: ttl, reg: regs[1]}),
		startNode(t, url, "c", newRunner(), nodeOpts{ttl: ttl, reg: regs[2]}),
	}
	seeEachOther(t, nodes)
	putCameras(t, js, sixCameras())
	ids := []string{"cam-1", "cam-2", "cam-3", "cam-4", "cam-5", "cam-6"}
	defer noDoubleOwner(t, nodes, ids)()

	eventually(t, "six cameras spread two by two", func() bool {
		for _, n := range nodes {
			if len(n.r.ids()) != 2 || len(n.m.Status().Cameras) != 6 {
				return false
			}
		}
		return true
	})
	epochs := map[string]uint64{}
	for _, n := range nodes {
		for _, id := range n.r.ids() {
			epochs[id], _ = n.m.Fence(id)
		}
	}

	// b is cut off from NATS: it stops its cameras before the leases can
	// expire, and a and c take them with greater epochs.
	b := nodes[1]
	lostOnB := b.r.ids()
	b.nc.Close()
	eventually(t, "b stopping its cameras", func() bool { return len(b.r.ids()) == 0 })
	eventually(t, "a and c running all six", func() bool {
		return len(nodes[0].r.ids())+len(nodes[2].r.ids()) == 6 && len(nodes[0].r.ids()) == 3
	})
	for _, id := range lostOnB {
		owner := nodes[0]
		if !owner.m.Held(id) {
			owner = nodes[2]
		}
		if e, ok := owner.m.Fence(id); !ok || e <= epochs[id] {
			t.Errorf("%s on %s: epoch %d (ok %v) after %d", id, owner.m.Node(), e, ok, epochs[id])
		}
	}
	takeovers := metric(t, regs[0], "vigil_fleet_takeovers_total") + metric(t, regs[2], "vigil_fleet_takeovers_total")
	if int(takeovers) != len(lostOnB) || metric(t, regs[0], "vigil_fleet_leases_held") != 3 || metric(t, regs[1], "vigil_fleet_leases_lost_total") != 2 {
		t.Errorf("metrics: takeovers %v (b had %d), a holds %v, b lost %v", takeovers, len(lostOnB),
			metric(t, regs[0], "vigil_fleet_leases_held"), metric(t, regs[1], "vigil_fleet_leases_lost_total"))
	}
	eventually(t, "a's view: six running, none on b, b gone", func() bool {
		st := nodes[0].m.Status()
		for _, c := range st.Cameras {
			if c.State != StateRunning || c.Owner == "b" {
				return false
			}
		}
		return slices.Equal(nodeNames(st), []string{"a", "c"})
	})
}

// seeEachOther waits until every node sees them all: a node that joins
// an empty fleet takes every free camera there is.
func seeEachOther(t *testing.T, nodes []*node) {
	eventually(t, "the nodes seeing each other", func() bool {
		for _, n := range nodes {
			if len(n.m.Status().Nodes) != len(nodes) {
				return false
			}
		}
		return true
	})
}

func nodeNames(st Status) []string {
	var out []string
	for _, n := range st.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// TestLeavingHandsOverAtOnce: with an hour's TTL, a camera that moves can
// only have been released.
func TestLeavingHandsOverAtOnce(t *testing.T) {
	url := natstest.Server(t)
	js, _ := natstest.Connect(t, url)
	a := startNode(t, url, "a", newRunner(), nodeOpts{ttl: time.Hour})
	b := startNode(t, url, "b", newRunner(), nodeOpts{ttl: time.Hour})
	seeEachOther(t, []*node{a, b})
	putCameras(t, js, sixCameras())
	defer noDoubleOwner(t, []*node{a, b}, []string{"cam-1", "cam-2", "cam-3", "cam-4", "cam-5", "cam-6"})()
	eventually(t, "three cameras each", func() bool { return len(a.r.ids()) == 3 && len(b.r.ids()) == 3 })
	a.stop()
	eventually(t, "b taking a's cameras", func() bool { return len(b.r.ids()) == 6 })
	if st := b.m.Status(); !slices.Equal(nodeNames(st), []string{"b"}) {
		t.Errorf("a still listed: %v", nodeNames(st))
	}
}

func TestPlacementRespectsLabelsDetectorsAndHeadroom(t *testing.T) {
	url := natstest.Server(t)
	js, _ := natstest.Connect(t, url)
	store := putCameras(t, js, `
detectors: [{name: docks}]
cameras:
  - {id: plain-1, url: testsrc}
  - {id: plain-2, url: testsrc}
  - {id: plain-3, url: testsrc}
  - {id: gpu-cam, url: testsrc, require: [gpu]}
  - {id: dock-cam, url: testsrc, detector: docks}
`)
	small := startNode(t, url, "small", newRunner(), nodeOpts{ttl: 2 * time.Second, max: 1})
	eventually(t, "small full, the rest unplaced", func() bool {
		st := small.m.Status()
		n := 0
		for _, c := range st.Cameras {
			if c.State == StateUnplaced {
				n++
			}
		}
		return len(small.r.ids()) == 1 && n == 4
	})
	reasons := map[string]string{}
	for _, c := range small.m.Status().Cameras {
		reasons[c.ID] = c.Reason
	}
	if !strings.Contains(reasons["gpu-cam"], "label gpu") || !strings.Contains(reasons["dock-cam"], "detector docks") {
		t.Errorf("reasons %v", reasons)
	}
	if got := small.r.ids(); got[0] == "gpu-cam" || got[0] == "dock-cam" {
		t.Errorf("small runs %v", got)
	}

	big := startNode(t, url, "big", newRunner("default", "docks"), nodeOpts{ttl: 2 * time.Second, labels: []string{"gpu"}})
	eventually(t, "big taking the rest", func() bool { return len(big.r.ids()) == 4 })
	if got := big.r.ids(); !slices.Contains(got, "gpu-cam") || !slices.Contains(got, "dock-cam") {
		t.Errorf("big runs %v", got)
	}

	// A changed block is applied where the camera runs; a deleted camera
	// stops and its lease goes.
	cfg := fixture(t, "detectors: [{name: docks}]\ncameras: [{id: gpu-cam, url: testsrc, fps: 3, require: [gpu]}]\n")
	if err := store.Put(context.Background(), cfg, cfg.Cameras); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new block applied", func() bool {
		big.r.mu.Lock()
		defer big.r.mu.Unlock()
		return big.r.running["gpu-cam"].FPS == 3 && big.r.starts["gpu-cam"] == 2
	})
	if err := store.Delete(context.Background(), "dock-cam"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "dock-cam stopped", func() bool { return !slices.Contains(big.r.ids(), "dock-cam") })
	eventually(t, "its lease gone", func() bool {
		h, _, err := big.m.leases.Holder(context.Background(), "dock-cam")
		return err == nil && h == ""
	})
}

func TestNodeNameAlreadyLive(t *testing.T) {
	url := natstest.Server(t)
	startNode(t, url, "a", newRunner(), nodeOpts{ttl: time.Second})
	js, _ := natstest.Connect(t, url)
	_, err := Join(context.Background(), Options{JS: js, Node: "a", TTL: time.Second, MaxCameras: 1, MaxLoad: 1, Runner: newRunner(), Logger: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), `fleet.node "a" is already live`) {
		t.Errorf("a second node a: %v", err)
	}
}

// TestCorruptLeaseIsNotTaken: a camera whose lease key holds garbage is
// not taken while the garbage lasts, and is once it expires.
func TestCorruptLeaseIsNotTaken(t *testing.T) {
	url := natstest.Server(t)
	js, _ := natstest.Connect(t, url)
	putCameras(t, js, "cameras: [{id: cam-1, url: testsrc}]\n")
	a := startNode(t, url, "a", newRunner(), nodeOpts{ttl: 2 * time.Second})
	eventually(t, "cam-1 running", func() bool { return len(a.r.ids()) == 1 })
	a.stop()
	kv, err := js.KeyValue(context.Background(), DefaultLeasesBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), "cam-1", []byte("{not a lease")); err != nil {
		t.Fatal(err)
	}
	b := startNode(t, url, "b", newRunner(), nodeOpts{ttl: 2 * time.Second})
	time.Sleep(500 * time.Millisecond) // several placement rounds
	if got := b.r.ids(); len(got) != 0 {
		t.Errorf("took a camera whose lease holds garbage: %v", got)
	}
	eventually(t, "cam-1 taken once the garbage expired", func() bool { return len(b.r.ids()) == 1 })
}

// metric is a counter's or gauge's value in reg.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0
}

// eventually polls cond; the bound guards against a hang only.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
