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

// overlap prepares a stage to overlap its steps: true when its detector
// can (a StagedDetector) and the pipeline is not Serial.
func (p *Pipeline) overlap(g *group, st *detStage) bool {
	sd, ok := st.det.(StagedDetector)
	if !ok || p.opts.Serial {
		return false
	}
	slots, err := sd.Slots(overlapSlots)
	if err != nil {
		p.log.Warn().Err(err).Str("stage", stageName(g.name)).Msg("cannot overlap letterbox and decoding with inference; running them in turn")
		return false
	}
	st.staged, st.slots = sd, slots
	st.free = make(chan *detect.Slot, len(slots))
	for _, s := range slots {
		st.free <- s
	}
	return true
}

// overlapStage runs the model on this goroutine and the letterbox step on
// another one; postStage decodes. It returns when the letterbox step has
// no more frames to give (the run ended, the stage yields or MaxFrames).
func (p *Pipeline) overlapStage(ctx context.Context, g *group, st *detStage) {
	prepared := make(chan *Result)
	go p.prepareStage(ctx, g, st, prepared)
	for r := range prepared {
		if r.slot == nil { // a part that failed before the model
			p.results <- r
			continue
		}
		st.clock.begin()
		t0 := time.Now()
		err := st.staged.Infer(r.slot)
		st.clock.end(time.Since(t0))
		if err != nil && r.job != nil { // the tracking stage drops the frame at its last part
			st.free <- r.slot
			r.slot, r.partErr = nil, err
		} else if err != nil {
			st.free <- r.slot
			p.dropFailed(r, err)
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
func (p *Pipeline) prepareStage(ctx context.Context, g *group, st *detStage, prepared chan<- *Result) {
	defer close(prepared)
	p.lower(stageName(g.name) + "/letterbox")
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var took time.Duration // moving average of Prepare
	for {
		var s *detect.Slot
		select {
		case s = <-st.free: // slots come back from the model's errors and from postStage
		default:
			t0, idle := time.Now(), st.clock.started.Load() == 0
			s = <-st.free
			if idle {
				p.slotWait.Add(int64(time.Since(t0)))
			}
		}
		if g.live() {
			st.waitForModel(ctx, timer, took)
		}
		f, e, d := p.next(ctx, g, st)
		if f == nil {
			st.free <- s
			return
		}
		r := p.newResult(f, e, st, d)
		t0 := time.Now()
		if cropper(e, st.det, d) != nil {
			p.cropped(r, d.regions)
			took = ewma(took, p.prepareParts(st, r, s, d.regions, prepared)/time.Duration(len(d.regions)))
			continue
		}
		if err := st.staged.Prepare(s, f.Image); err != nil {
			st.free <- s
			p.dropFailed(r, err)
			continue
		}
		took = ewma(took, time.Since(t0))
		r.slot = s
		prepared <- r
	}
}

// live says whether any of the group's cameras is live (not lossless).
func (g *group) live() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, b := range g.boxes {
		if !b.isLossless() {
			return true
		}
	}
	return false
}

// waitForModel sleeps until the running inference is due to end, less
// twice the letterbox time plus a millisecond, so that the letterboxed
// frame is ready a little before the model wants it; it returns at once
// when the model is idle, ctx ends or the stage yields.
func (st *detStage) waitForModel(ctx context.Context, timer *time.Timer, prep time.Duration) {
	started := st.clock.started.Load()
	if started == 0 {
		return
	}
	due := time.Unix(0, started).Add(time.Duration(st.clock.mean.Load()) - 2*prep - time.Millisecond)
	wait := time.Until(due)
	if wait <= 0 {
		return
	}
	timer.Reset(wait)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	case <-st.yield:
		timer.Stop()
	}
}

// finish decodes a frame the model has run on and gives its slot back to
// its stage.
func (p *Pipeline) finish(r *Result, dets []detect.Detection) ([]detect.Detection, bool) {
	st := r.st
	dets, tm, err := st.staged.Finish(r.slot, dets[:0])
	if err == nil {
		// Before the slot goes back: once every slot is back, RemoveGroup
		// deletes the detector's series, and nothing may make it again.
		p.detected(r, dets, tm)
	}
	st.free <- r.slot
	r.slot = nil
	if err != nil {
		p.detectFailed(r, err)
		return dets, false
	}
	return dets, true
}
