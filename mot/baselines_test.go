package mot

import (
	"time"

	"github.com/vigil-vision/vigil/track"
)

// frameTracker is anything that turns one frame's detections into that
// frame's reported tracks (ID and box set).
type frameTracker interface {
	Update(dets []Row) []Row
}

// byteTrack is vigil's tracker fed as the pipeline feeds it: boxes pass
// through detect.Detection's float32 corners, and with a frame rate each
// frame goes in at its time, frame/fps (pipeline.Tracking cannot be
// imported here without cgo; cmd/vigil's tests check that `vigil track`,
// which uses it, gives the same IDs). Without one, frames are counted.
type byteTrack struct {
	tr    *track.Tracker
	fps   float64
	frame int
}

func newByteTrack(cfg track.Config) *byteTrack { return &byteTrack{tr: track.New(cfg)} }

// newByteTrackAt feeds the tracker frames at their times at fps.
func newByteTrackAt(cfg track.Config, fps float64) *byteTrack {
	return &byteTrack{tr: track.New(cfg), fps: fps}
}

func (b *byteTrack) Update(dets []Row) []Row {
	in := make([]track.Detection, 0, len(dets))
	for _, d := range dets {
		x1, y1 := float32(d.Box.X), float32(d.Box.Y)
		x2, y2 := float32(d.Box.X+d.Box.W), float32(d.Box.Y+d.Box.H)
		in = append(in, track.Detection{
			Box:   track.Box{X1: float64(x1), Y1: float64(y1), X2: float64(x2), Y2: float64(y2)},
			Score: float64(float32(d.Conf)),
		})
	}
	var tracks []track.Track
	if b.fps > 0 {
		b.frame++
		tracks = b.tr.UpdateAt(in, frameTime(b.frame, b.fps))
	} else {
		tracks = b.tr.Update(in)
	}
	var out []Row
	for _, t := range tracks {
		// The filter's box, as `vigil track` writes it.
		e := t.Estimate
		out = append(out, Row{ID: int(t.ID), Box: Box{X: e.X1, Y: e.Y1, W: e.X2 - e.X1, H: e.Y2 - e.Y1}, Conf: t.Score})
	}
	return out
}

// frameTime is when frame (from 1) of a stream at fps was taken.
func frameTime(frame int, fps float64) time.Time {
	return time.Unix(0, 0).Add(time.Duration(float64(frame-1) / fps * float64(time.Second)))
}

// iouMatcher is the plain frame-to-frame baseline: detections scoring at
// least minScore are matched optimally to the previous frame's reported
// boxes by IoU (at least minIoU); a matched detection inherits the ID, any
// other starts a new one, and nothing is remembered past one frame.
type iouMatcher struct {
	minScore, minIoU float64
	prev             []Row
	nextID           int
	m                matcher
}

func (t *iouMatcher) Update(dets []Row) []Row {
	var cur []Row
	for _, d := range dets {
		if d.Conf >= t.minScore {
			cur = append(cur, d)
		}
	}
	var es []edge
	for i, p := range t.prev {
		for j, d := range cur {
			if o := IoU(p.Box, d.Box); o >= t.minIoU {
				es = append(es, edge{r: i, c: j, w: o})
			}
		}
	}
	for j := range cur {
		cur[j].ID = 0
	}
	for _, e := range t.m.match(es, len(t.prev), len(cur)) {
		cur[e.c].ID = t.prev[e.r].ID
	}
	for j := range cur {
		if cur[j].ID == 0 {
			t.nextID++
			cur[j].ID = t.nextID
		}
	}
	t.prev = cur
	return cur
}
