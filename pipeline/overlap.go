package pipeline

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// StagedDetector is a Detector whose work on a frame splits in three steps
// that may run at the same time on different frames; *detect.Detector is
// one. With it the pipeline letterboxes the next frame and decodes the last
// one while the model runs, so that the model never waits for either.
type StagedDetector interface {
	Detector
	Slots(n int) ([]*detect.Slot, error)
	Prepare(s *detect.Slot, img gocv.Mat) error
	Infer(s *detect.Slot) error
	Finish(s *detect.Slot, dst []detect.Detection) ([]detect.Detection, detect.Timings, error)
}

// overlapSlots are the frames in flight: one being letterboxed, one in the
// model, one being decoded, tracked and published.
const overlapSlots = 3

// modelClock tells the letterbox step when the model will want its next
// frame: when the running inference started, and how long one takes.
type modelClock struct {
	started atomic.Int64 // UnixNano of the running inference's start; 0 while idle
	mean    atomic.Int64 // moving average of inference time, ns
}

func (c *modelClock) begin() { c.started.Store(time.Now().UnixNano()) }

func (c *modelClock) end(took time.Duration) {
	c.started.Store(0)
	c.mean.Store(int64(ewma(time.Duration(c.mean.Load()), took)))
}

// ewma moves avg a fifth of the way towards x; the first x sets it.
func ewma(avg, x time.Duration) time.Duration {
	if avg == 0 {
		return x
	}
	return avg + (x-avg)/5
}

// overlapStage runs the model on this goroutine and the letterbox step on
// another one; postStage decodes. It returns when the letterbox step has
// no more frames to give (the cameras finished, ctx ended or MaxFrames).
func (p *Pipeline) overlapStage(ctx context.Context, g *group, slots []*detect.Slot) {
	g.free = make(chan *detect.Slot, len(slots))
	for _, s := range slots {
		g.free <- s
	}
	prepared := make(chan *Result)
	go p.prepareStage(ctx, g, prepared)
	for r := range prepared {
		g.clock.begin()
		t0 := time.Now()
		err := g.staged.Infer(r.slot)
		g.clock.end(time.Since(t0))
		if err != nil {
			g.free <- r.slot
			p.detectFailed(r.Frame, err)
			continue
		}
		p.results <- r
	}
}

// prepareStage takes frames as the detector stage would and letterboxes
// each into a free slot. For live cameras it takes the frame just in time:
// when the model is expected to finish the frame it runs on, less the time
// letterboxing takes, so the frame it hands over is the freshest one. Files
// read losslessly have no freshness to keep and go as soon as a slot is free.
func (p *Pipeline) prepareStage(ctx context.Context, g *group, prepared chan<- *Result) {
	defer close(prepared)
	p.lower(g.stage + "/letterbox")
	live := false
	for _, b := range g.boxes {
		live = live || !b.lossless
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var took time.Duration // moving average of Prepare
	for {
		s := <-g.free // slots come back from the model's errors and from postStage
		if live {
			g.waitForModel(ctx, timer, took)
		}
		f := p.next(ctx, g)
		if f == nil {
			g.free <- s
			return
		}
		r := p.newResult(f, g)
		t0 := time.Now()
		if err := g.staged.Prepare(s, f.Image); err != nil {
			g.free <- s
			p.detectFailed(f, err)
			continue
		}
		took = ewma(took, time.Since(t0))
		r.slot = s
		prepared <- r
	}
}

// waitForModel sleeps until the running inference is due to end, less
// twice the letterbox time plus a millisecond, so that the letterboxed
// frame is ready a little before the model wants it; it returns at once
// when the model is idle or ctx ends.
func (g *group) waitForModel(ctx context.Context, timer *time.Timer, prep time.Duration) {
	started := g.clock.started.Load()
	if started == 0 {
		return
	}
	due := time.Unix(0, started).Add(time.Duration(g.clock.mean.Load()) - 2*prep - time.Millisecond)
	wait := time.Until(due)
	if wait <= 0 {
		return
	}
	timer.Reset(wait)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
}

// finish decodes a frame the model has run on and gives its slot back to
// its group.
func (p *Pipeline) finish(r *Result, dets []detect.Detection) ([]detect.Detection, bool) {
	g := r.group
	dets, tm, err := g.staged.Finish(r.slot, dets[:0])
	g.free <- r.slot
	r.slot = nil
	if err != nil {
		p.detectFailed(r.Frame, err)
		return dets, false
	}
	p.detected(r, dets, tm)
	return dets, true
}
