package pipeline

import (
	"context"
	"fmt"
	"image"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigil-vision/vigil/capture"
)

// camEntry is one camera in the pipeline: its capture goroutine, its
// hand-off and its counts.
type camEntry struct {
	cam   *capture.Camera
	box   *mailbox
	group *group // p.mu held

	stop func()        // ends the capture goroutine; nil until it starts
	done chan struct{} // closed when the capture goroutine has returned

	up        atomic.Bool   // capturing
	ended     atomic.Bool   // the source ended by itself (a file without loop)
	inflight  atomic.Int64  // frames taken from the mailbox (or held) and not yet through the sinks
	detecting atomic.Int64  // of them, those the detector took (not held)
	drainedCh chan struct{} // a token when detecting falls to 0
	processed atomic.Uint64
	dropped   atomic.Uint64

	// Motion gating: the setting the capture goroutine follows, what it
	// decided, and what the tracking stage last saw.
	gate       atomic.Pointer[Gate]
	gated      gateCounters
	motionFrac atomic.Uint64 // float64 bits
	tracks     atomic.Int32
	moving     atomic.Int32
	near       atomic.Bool // the last detected frame had an object near a rule's line (Gate.Watch)
	// Regions: the last detected frame's track boxes, the input side of
	// the detector that last took a frame (0: it cannot crop), and the
	// frames looked at in crops and the crops.
	trackBoxes   atomic.Pointer[[]image.Rectangle]
	side         atomic.Int32
	regionFrames atomic.Uint64
	crops        atomic.Uint64
	// The tracking goroutine's own: the last detected result's labels,
	// detector and model, for the frames held after it.
	lastLabels              []string
	lastDetector, lastModel string

	// removed stops every metric update, so that a removed camera's series,
	// once deleted, stay deleted.
	mu      sync.RWMutex
	removed bool
}

// doneOne counts a frame through (or dropped): held, one motion gating
// sent past the detector; when the detector's frames are all through, it
// hands a token to a capture goroutine waiting for the camera to drain.
func (e *camEntry) doneOne(held bool) {
	e.inflight.Add(-1)
	if !held && e.detecting.Add(-1) == 0 {
		select {
		case e.drainedCh <- struct{}{}:
		default:
		}
	}
}

// waitDrained waits until the camera has no frame waiting for the
// detector or in its hands, so that the tracks of every earlier frame are
// known; false when ctx ended first.
func (e *camEntry) waitDrained(ctx context.Context) bool {
	for !e.box.drained() {
		select {
		case <-e.drainedCh:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func (e *camEntry) isRemoved() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.removed
}

// count runs a metric update unless the camera was removed.
func (e *camEntry) count(update func()) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if !e.removed {
		update()
	}
}

func (p *Pipeline) drop(e *camEntry, reason string) { p.dropAt(e, "detect", reason) }

// dropAt counts a frame of e's dropped at a stage.
func (p *Pipeline) dropAt(e *camEntry, stage, reason string) {
	e.count(func() {
		p.m.dropped.WithLabelValues(e.cam.ID(), stage, reason).Inc()
		e.dropped.Add(1)
	})
}

// addCameraLocked makes a camera's entry and hands its mailbox to g; p.mu
// held.
func (p *Pipeline) addCameraLocked(c *capture.Camera, g *group) *camEntry {
	e := &camEntry{cam: c, group: g, done: make(chan struct{}), drainedCh: make(chan struct{}, 1)}
	e.gate.Store(p.gates[c.ID()])
	e.box = newMailbox(e, c.Lossless(), p.opts.QueueSize, func(reason string) { p.drop(e, reason) })
	p.cams[c.ID()] = e
	p.camOrder = append(p.camOrder, c.ID())
	p.m.cameraUp.WithLabelValues(c.ID()).Set(0)
	g.attach(e.box)
	return e
}

// AddCamera adds a camera to the group named group and, when the pipeline
// runs, starts it: the other cameras are not touched. The camera must be
// new to the pipeline and not running elsewhere.
func (p *Pipeline) AddCamera(c *capture.Camera, group string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state >= stopping {
		return ErrStopped
	}
	if p.cams[c.ID()] != nil {
		return fmt.Errorf("pipeline: camera %q is there already; remove it first", c.ID())
	}
	g := p.groups[group]
	if g == nil {
		return fmt.Errorf("pipeline: camera %q: no group %q; add the group first", c.ID(), group)
	}
	e := p.addCameraLocked(c, g)
	if p.state == running {
		p.startCamera(e)
	}
	return nil
}

// startCamera runs a camera's capture goroutine; p.mu held, running.
func (p *Pipeline) startCamera(e *camEntry) {
	ctx, stop := context.WithCancel(p.runCtx)
	e.stop = stop
	c, box, done := e.cam, e.box, e.done
	c.OnState = func(s capture.Status) {
		v := 0.0
		if s.State == capture.StateStreaming {
			v = 1
		}
		e.count(func() { p.m.cameraUp.WithLabelValues(s.Camera).Set(v) })
	}
	p.camWG.Add(1)
	go func() {
		defer p.camWG.Done()
		p.lower("capture/" + c.ID())
		e.up.Store(true)
		g := &gater{p: p, e: e}
		defer g.close()
		c.Run(ctx, func(f *capture.Frame) {
			p.m.captured.WithLabelValues(f.Camera).Inc()
			for _, t := range p.opts.Taps {
				t.Frame(f)
			}
			d, ok := g.decide(ctx, f)
			if ok {
				e.count(func() {
					e.gated[gateIndex(d.reason)].Add(1)
					p.m.gated.WithLabelValues(f.Camera, d.reason).Inc()
					if d.motion != nil {
						p.m.motion.WithLabelValues(f.Camera).Set(d.motion.Fraction)
					}
				})
			}
			switch {
			case !ok:
				f.Close()
				p.dropAt(e, "gate", "shutdown")
			case d.reason == GateDropped:
				// Held while a detected frame is pending: that frame's
				// result comes next, with fresher tracks. If it still
				// waits for the detector, this frame takes its place, and
				// the older one is dropped instead.
				if old := box.replace(f, d.motion); old != nil {
					f = old
				}
				f.Close()
				p.dropAt(e, "gate", "detector_busy")
			case d.detect:
				box.put(f, d)
			default:
				p.hold(e, f, d)
			}
		})
		e.up.Store(false)
		ended := ctx.Err() == nil // by itself: not stopped
		e.ended.Store(ended)
		close(done) // before taking p.mu: ReconfigureCamera waits for it holding it
		if ended {
			p.cameraEnded()
		}
	}()
}

// cameraEnded ends the run once every camera has ended by itself.
func (p *Pipeline) cameraEnded() {
	p.mu.Lock()
	all := len(p.cams) > 0
	for _, e := range p.cams {
		all = all && e.ended.Load()
	}
	p.mu.Unlock()
	if all {
		p.finishRun()
	}
}

// RemoveCamera stops a camera and releases everything the pipeline holds
// for it: its capture goroutine, the frames waiting in its hand-off or in
// flight (closed, not counted as drops), its tracker and its metric
// series. When it returns, no sink or tap sees the camera again. The other
// cameras are not touched.
func (p *Pipeline) RemoveCamera(id string) error {
	p.mu.Lock()
	e := p.cams[id]
	if e == nil {
		p.mu.Unlock()
		return fmt.Errorf("pipeline: no camera %q", id)
	}
	delete(p.cams, id)
	delete(p.gates, id)
	p.camOrder = slices.DeleteFunc(p.camOrder, func(s string) bool { return s == id })
	e.group.detach(e.box)
	e.mu.Lock()
	e.removed = true
	e.mu.Unlock()
	stop, done := e.stop, e.done
	p.mu.Unlock()

	if stop != nil {
		stop()
		e.box.abort()
		<-done
	}
	e.box.abort() // what it put meanwhile
	waitIdle(e)
	p.control(func(t *Tracking) { t.Forget(id) })
	for _, v := range p.m.perCamera() {
		v.DeletePartialMatch(prometheus.Labels{"camera": id})
	}
	return nil
}

// ReconfigureCamera changes a camera's source while it runs
// (capture.Camera.Reconfigure): it reconnects at once, its seq going on. A
// camera whose source had ended (a file without loop) starts again.
func (p *Pipeline) ReconfigureCamera(id string, cfg capture.Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.cams[id]
	if e == nil {
		return fmt.Errorf("pipeline: no camera %q", id)
	}
	if err := e.cam.Reconfigure(cfg); err != nil {
		return err
	}
	if p.state == running && e.ended.Load() {
		<-e.done // closed: the capture goroutine returned when the file ended
		e.ended.Store(false)
		e.done = make(chan struct{})
		p.startCamera(e)
	}
	return nil
}

// waitIdle waits until none of a camera's frames is in a detector's or the
// tracking stage's hands: at most one inference (one per crop of a frame
// looked at in crops).
func waitIdle(e *camEntry) {
	for e.inflight.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
}

// MoveCamera hands a camera over to another group (detector). Its frames
// in flight in the old group finish first, so its frames stay in order;
// meanwhile a live camera's hand-off keeps its latest frame and a lossless
// one waits.
func (p *Pipeline) MoveCamera(id, group string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state >= stopping {
		return ErrStopped
	}
	e := p.cams[id]
	if e == nil {
		return fmt.Errorf("pipeline: no camera %q", id)
	}
	g := p.groups[group]
	if g == nil {
		return fmt.Errorf("pipeline: camera %q: no group %q; add the group first", id, group)
	}
	if e.group == g {
		return nil
	}
	e.group.detach(e.box)
	waitIdle(e) // holding p.mu: no other change meanwhile
	e.group = g
	g.attach(e.box)
	return nil
}
