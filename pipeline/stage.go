package pipeline

import (
	"context"

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

// next takes the next frame for a group's detector, round-robin over its
// cameras, waiting until one comes: first among the cameras whose frame
// shows motion or moving tracks, then those due a periodic recheck (motion
// gating). It returns nil when the stage must yield (a swap, the group's
// removal), MaxFrames frames were taken (over all groups), or ctx ended
// and nothing handed over before is left.
func (p *Pipeline) next(ctx context.Context, g *group, st *detStage) (*capture.Frame, *camEntry, decision) {
	for {
		if st.yielded() || !p.reserve() {
			return nil, nil, decision{}
		}
		g.mu.Lock()
		n := len(g.boxes)
		for pass := range 2 {
			for i := range n {
				b := g.boxes[(g.rr+i)%n]
				if pass == 0 && !b.urgent() {
					continue
				}
				if f, d := b.take(); f != nil {
					g.rr = (g.rr + i + 1) % n
					g.mu.Unlock()
					return f, b.entry, d
				}
			}
		}
		g.mu.Unlock()
		p.taken.Add(-1) // nothing taken: give the reservation back
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
