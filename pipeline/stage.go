package pipeline

import (
	"context"
	"time"

	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
)

// detectStage serves a group's cameras round-robin until the run ends, the
// stage yields to another detector, or MaxFrames frames were taken;
// letterbox, inference and decoding run in turn.
func (p *Pipeline) detectStage(ctx context.Context, g *group, st *detStage) {
	var dets []detect.Detection
	for {
		f, e, d := p.next(ctx, g, st)
		if f == nil {
			return
		}
		r := p.newResult(f, e, st, d)
		var tm detect.Timings
		var err error
		if rd := cropper(e, st.det, d); rd != nil {
			p.cropped(r, d.regions)
			dets, tm, err = rd.DetectRegions(f.Image, d.regions, dets[:0])
		} else {
			dets, tm, err = st.det.Detect(f.Image, dets[:0])
		}
		if err != nil {
			p.dropFailed(r, err)
			continue
		}
		p.detected(r, dets, tm)
		p.results <- r
	}
}

// next takes the next frame for a group's detector (group.pick), waiting
// until one comes. It returns nil when the stage must yield (a swap, the
// group's removal), MaxFrames frames were taken (over all groups), or ctx
// ended and nothing handed over before is left.
func (p *Pipeline) next(ctx context.Context, g *group, st *detStage) (*capture.Frame, *camEntry, decision) {
	for {
		if st.yielded() || !p.reserve() {
			return nil, nil, decision{}
		}
		g.mu.Lock()
		b := g.pick(time.Now())
		if b != nil {
			if f, d := b.take(); f != nil {
				g.mu.Unlock()
				return f, b.entry, d
			}
		}
		g.mu.Unlock()
		p.taken.Add(-1) // nothing taken: give the reservation back
		if b != nil {
			continue // its frame went meanwhile (the camera stopped): look again
		}
		select {
		case <-g.ready:
		case <-st.yield:
		case <-ctx.Done():
			// Finish what the cameras handed over before the stop, then
			// leave; cameras are told to stop by the caller.
			if g.drainedAfterStop() {
				return nil, nil, decision{}
			}
		}
	}
}

// nearWeight is how many times its wait a camera with an object near a
// line of its rules (Gate.Watch) counts in group.pick. On the motion-bench
// scenes, tracking and rules alone keep 0.943 of the line crossings on
// every third frame, and 0.990 when the frames after one with a person
// near a line are all looked at; a camera near a line waits a quarter of
// the others' gap, and one where things move elsewhere still gets a look
// at least every few of its frames.
const nearWeight = 4

// pick is the mailbox whose frame the detector takes next, nil when none
// waits; g.mu held. Frames that show motion or moving tracks come first
// (urgent: checks join them after recheckWait), then the others; in each
// of the two, the camera whose last frame the detector took longest ago,
// a camera with an object near a line (camEntry.near) counting nearWeight
// times its wait. Without objects near a line that is round-robin: each
// camera's turn comes after every other one with a frame waiting.
func (g *group) pick(now time.Time) *mailbox {
	var best *mailbox
	var bestUrgent bool
	var bestWait time.Duration
	for _, b := range g.boxes {
		waiting, urgent, wait := b.offer(now)
		if !waiting {
			continue
		}
		if urgent && b.entry.near.Load() {
			wait *= nearWeight
		}
		if best == nil || urgent && !bestUrgent || urgent == bestUrgent && wait > bestWait {
			best, bestUrgent, bestWait = b, urgent, wait
		}
	}
	return best
}

// drainedAfterStop says whether nothing is left waiting for the group once
// ctx ended.
func (g *group) drainedAfterStop() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, b := range g.boxes {
		if b.waiting() > 0 {
			return false
		}
	}
	return true
}
