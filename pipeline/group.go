package pipeline

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigil-vision/vigil/detect"
)

// DefaultGroup is the name of the group that Options.Detector makes.
const DefaultGroup = "default"

// Group is one detector and the cameras it serves. Each group has its own
// detector stage, so groups run side by side: a model on its own execution
// providers and threads per group of cameras (an INT8 model on the CPU for
// the docks, FP32 on the GPU for the gates). Cameras are served round-robin
// within their group; tracking, rules and sinks are shared.
type Group struct {
	Name     string // [A-Za-z0-9_-]{1,64}; "" = DefaultGroup
	Detector Detector
	Labels   []string // the detector's class names, handed on in Result.Labels
	Model    string   // what the detector runs, handed on in Result.Model
	Cameras  []string // IDs of the cameras this detector serves (New only)
}

var groupNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// group is a Group at run time: its cameras' mailboxes, its scheduler
// state and the detector stage that serves them now.
type group struct {
	name  string
	ready chan struct{} // wakes the group's scheduler when a camera hands a frame over

	mu      sync.Mutex
	boxes   []*mailbox
	cur     *detStage // the stage that serves the group now, or next
	removed bool
	exited  chan struct{} // closed when the group's goroutine has returned; nil until it starts

	up atomic.Bool // a detector stage runs
}

// detStage is one detector serving a group, from a swap to the next: with
// a StagedDetector, its slots and model clock.
type detStage struct {
	group  string
	det    Detector
	labels []string
	model  string

	started bool // group.mu held: the group's goroutine has taken it up
	yield   chan struct{}
	stopped chan struct{} // closed when the stage has returned

	staged StagedDetector
	slots  []*detect.Slot
	free   chan *detect.Slot
	clock  modelClock
}

func newStage(group string, det Detector, labels []string, model string) *detStage {
	return &detStage{group: group, det: det, labels: labels, model: model, yield: make(chan struct{}), stopped: make(chan struct{})}
}

// yielded says whether the stage was told to stop taking frames.
func (st *detStage) yielded() bool {
	select {
	case <-st.yield:
		return true
	default:
		return false
	}
}

func (g *group) attach(b *mailbox) {
	g.mu.Lock()
	g.boxes = append(g.boxes, b)
	g.mu.Unlock()
	b.setReady(g.ready)
}

// detach takes a mailbox away from the group: once it returns, the group's
// scheduler takes no more frames from it.
func (g *group) detach(b *mailbox) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := slices.Index(g.boxes, b); i >= 0 {
		g.boxes = slices.Delete(g.boxes, i, i+1)
	}
}

// groupsOf checks o's groups, or makes the one group of o.Detector, and
// returns for each camera index the group it belongs to.
func groupsOf(o Options) ([]Group, []int, error) {
	gs := o.Groups
	switch {
	case len(gs) == 0 && o.Detector == nil:
		return nil, nil, errors.New("pipeline: no detector")
	case len(gs) == 0:
		ids := make([]string, len(o.Cameras))
		for i, c := range o.Cameras {
			ids[i] = c.ID()
		}
		gs = []Group{{Name: DefaultGroup, Detector: o.Detector, Labels: o.Labels, Cameras: ids}}
	case o.Detector != nil:
		return nil, nil, errors.New("pipeline: both Detector and Groups set; put the detector in a Group")
	}
	camIndex := map[string]int{}
	for i, c := range o.Cameras {
		camIndex[c.ID()] = i
	}
	of := make([]int, len(o.Cameras))
	for i := range of {
		of[i] = -1
	}
	names := map[string]bool{}
	out := make([]Group, len(gs))
	for gi, g := range gs {
		if g.Name == "" {
			g.Name = DefaultGroup
		}
		if err := checkGroup(g); err != nil {
			return nil, nil, err
		}
		switch {
		case names[g.Name]:
			return nil, nil, fmt.Errorf("pipeline: group %q twice", g.Name)
		case len(g.Cameras) == 0:
			return nil, nil, fmt.Errorf("pipeline: group %q serves no camera; leave it out", g.Name)
		}
		names[g.Name] = true
		for _, id := range g.Cameras {
			ci, ok := camIndex[id]
			switch {
			case !ok:
				return nil, nil, fmt.Errorf("pipeline: group %q names camera %q, which is not among the cameras", g.Name, id)
			case of[ci] >= 0:
				return nil, nil, fmt.Errorf("pipeline: camera %q is in groups %q and %q; a camera has one detector", id, gs[of[ci]].Name, g.Name)
			}
			of[ci] = gi
		}
		out[gi] = g
	}
	for ci, gi := range of {
		if gi < 0 {
			return nil, nil, fmt.Errorf("pipeline: camera %q is in no group; add it to one", o.Cameras[ci].ID())
		}
	}
	return out, of, nil
}

func checkGroup(g Group) error {
	switch {
	case !groupNamePattern.MatchString(g.Name):
		return fmt.Errorf("pipeline: group name %q; use 1-64 letters, digits, _ or -", g.Name)
	case g.Detector == nil:
		return fmt.Errorf("pipeline: group %q has no detector", g.Name)
	}
	return nil
}

// addGroupLocked makes a group's run-time state; p.mu held.
func (p *Pipeline) addGroupLocked(g Group) *group {
	rg := &group{name: g.Name, ready: make(chan struct{}, 1), cur: newStage(g.Name, g.Detector, g.Labels, g.Model)}
	p.groups[g.Name] = rg
	p.grpOrder = append(p.grpOrder, g.Name)
	return rg
}

// AddGroup adds a detector with no cameras yet (g.Cameras must be empty:
// AddCamera or MoveCamera gives it some) and, when the pipeline runs,
// starts its stage.
func (p *Pipeline) AddGroup(g Group) error {
	if g.Name == "" {
		g.Name = DefaultGroup
	}
	if err := checkGroup(g); err != nil {
		return err
	}
	if len(g.Cameras) > 0 {
		return fmt.Errorf("pipeline: group %q: add its cameras with AddCamera or MoveCamera", g.Name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state >= stopping {
		return ErrStopped
	}
	if p.groups[g.Name] != nil {
		return fmt.Errorf("pipeline: group %q twice", g.Name)
	}
	rg := p.addGroupLocked(g)
	if p.state == running {
		p.startGroup(rg)
	}
	return nil
}

// RemoveGroup stops a group that serves no camera any more and returns its
// detector once the pipeline is done with it (every frame it worked on has
// been decoded): the caller closes it.
func (p *Pipeline) RemoveGroup(name string) (Detector, error) {
	p.mu.Lock()
	g := p.groups[name]
	if g == nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("pipeline: no group %q", name)
	}
	g.mu.Lock()
	if n := len(g.boxes); n > 0 {
		g.mu.Unlock()
		p.mu.Unlock()
		return nil, fmt.Errorf("pipeline: group %q still serves %d cameras; move or remove them first", name, n)
	}
	g.removed = true
	st, exited := g.cur, g.exited
	g.mu.Unlock()
	delete(p.groups, name)
	p.grpOrder = slices.DeleteFunc(p.grpOrder, func(s string) bool { return s == name })
	p.mu.Unlock()

	close(st.yield)
	g.wake()
	if exited != nil {
		<-exited
	}
	st.release()
	p.m.inference.DeletePartialMatch(prometheus.Labels{"detector": name})
	return st.det, nil
}

// SwapDetector puts det in place of a group's detector between two frames:
// the old one finishes the frames it has taken (its cameras' next frames
// wait in their hand-offs meanwhile, as they would for a busy detector),
// then det takes the next ones. It returns the old detector once the
// pipeline is done with it: the caller closes it. Load det before: the
// swap itself costs about one inference (a frame looked at in crops,
// Gate.Regions, one per crop).
func (p *Pipeline) SwapDetector(group string, det Detector, labels []string, model string) (Detector, error) {
	if det == nil {
		return nil, fmt.Errorf("pipeline: group %q: no detector", group)
	}
	p.mu.Lock()
	g := p.groups[group]
	if g == nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("pipeline: no group %q", group)
	}
	g.mu.Lock()
	old := g.cur
	g.cur = newStage(group, det, labels, model)
	started := old.started
	g.mu.Unlock()
	p.mu.Unlock()

	if started {
		close(old.yield)
		g.wake()
		<-old.stopped
		old.release()
	}
	return old.det, nil
}

// release waits until every slot of a stage that ran has come back from
// the tracking stage: then nothing uses its detector any more.
func (st *detStage) release() {
	if !st.started {
		return
	}
	for range st.slots {
		<-st.free
	}
}

func (g *group) wake() {
	select {
	case g.ready <- struct{}{}:
	default:
	}
}

// startGroup runs a group's goroutine: its current stage, then after each
// swap the next one, until the run ends or the group is removed; p.mu
// held, running.
func (p *Pipeline) startGroup(g *group) {
	g.exited = make(chan struct{})
	ctx := p.runCtx
	p.groupWG.Add(1)
	go func() {
		defer p.groupWG.Done()
		defer close(g.exited)
		for {
			g.mu.Lock()
			st := g.cur
			if g.removed || st.started {
				g.mu.Unlock()
				return
			}
			st.started = true
			g.mu.Unlock()

			g.up.Store(true)
			if p.overlap(g, st) {
				p.overlapStage(ctx, g, st)
			} else {
				p.detectStage(ctx, g, st)
			}
			g.up.Store(false)
			close(st.stopped)
			if !st.yielded() {
				return // the run ended
			}
		}
	}()
}
