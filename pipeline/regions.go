package pipeline

import (
	"context"
	"image"
	"math"
	"time"

	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// Regions sets a gated camera's detector on crops at full resolution: on a
// frame the letterbox would shrink by at least MinScale (a 1080p or 4K
// camera on a 640 model), a frame that goes to the detector for its motion
// or its moving tracks is looked at in up to Max square crops of the model
// input's size around the motion blobs and the camera's tracks
// (detect.PlanRegions), so that a person a few dozen pixels tall keeps
// their pixels instead of shrinking to a dozen. Detections of overlapping
// crops are merged (detect.Detector.MergeRegions). Rechecks, the settling
// frames and, at least every FullInterval of frame time, one frame are
// looked at whole, so that nothing outside the crops goes unseen for long.
//
// It needs a detector that can crop (*detect.Detector); with another one,
// frames go whole.
type Regions struct {
	// Max is the most crops per frame (3 when 0): each is one inference.
	Max int
	// MinScale: frames the letterbox would shrink by less than this go
	// whole (1.5 when 0).
	MinScale float64
	// FullInterval: a camera looked at in crops gets a whole frame at
	// least this often (2s when 0).
	FullInterval time.Duration
}

func (r Regions) withDefaults() Regions {
	if r.Max <= 0 {
		r.Max = 3
	}
	if r.MinScale <= 0 {
		r.MinScale = 1.5
	}
	if r.FullInterval <= 0 {
		r.FullInterval = 2 * time.Second
	}
	return r
}

// regionDetector is a detector that can look at crops of a frame.
type regionDetector interface {
	InputSize() (int, int)
	DetectRegions(img gocv.Mat, regions []image.Rectangle, dst []detect.Detection) ([]detect.Detection, detect.Timings, error)
	MergeRegions(dets []detect.Detection, cropOf []int, regions []image.Rectangle, frame image.Point) []detect.Detection
}

// regions plans the crops the detector is to look at a frame in, on the
// camera's goroutine, after decide sent the frame to the detector; nil:
// the whole frame. The crops hold the frame's motion blobs and the tracks
// of the camera's last detected frame; for a lossless camera it first
// waits until the frames before are through tracking, so that the crops
// are the same in every run. It returns false when ctx ended meanwhile.
func (g *gater) regions(ctx context.Context, f *capture.Frame, d decision) ([]image.Rectangle, bool) {
	e := g.e
	if g.cfg == nil || g.cfg.Regions == nil || d.motion == nil {
		return nil, true
	}
	r := g.cfg.Regions
	side := int(e.side.Load())
	if side <= 0 && f.Lossless {
		// The detector notes its input side when it takes a frame: wait
		// until it has taken this camera's earlier ones, so that every run
		// knows the side from the same frame on.
		if !e.waitDrained(ctx) {
			return nil, false
		}
		side = int(e.side.Load())
	}
	size := image.Pt(f.Image.Cols(), f.Image.Rows())
	if side <= 0 || math.Max(float64(size.X), float64(size.Y))/float64(side) < r.MinScale {
		g.whole = f.Time
		return nil, true // no detector that crops yet, or a frame small enough
	}
	if d.reason != GateMotion && d.reason != GateTracks ||
		g.whole.IsZero() || f.Time.Sub(g.whole) >= r.FullInterval || f.Time.Before(g.whole) {
		g.whole = f.Time
		return nil, true
	}
	if f.Lossless && !e.waitDrained(ctx) {
		return nil, false
	}
	boxes := d.motion.Boxes
	if tb := e.trackBoxes.Load(); tb != nil {
		boxes = append(boxes[:len(boxes):len(boxes)], *tb...)
	}
	regions := detect.PlanRegions(size, boxes, side, r.Max)
	if regions == nil {
		g.whole = f.Time
	}
	return regions, true
}

// cropper is the stage's detector when it can look at crops and the
// frame's regions are for it; nil otherwise (the frame goes whole). It
// notes the detector's input side for the camera's next plans.
func cropper(e *camEntry, det Detector, d decision) regionDetector {
	rd, ok := det.(regionDetector)
	if !ok {
		e.side.Store(0)
		return nil
	}
	w, h := rd.InputSize()
	e.side.Store(int32(min(w, h)))
	if len(d.regions) == 0 {
		return nil
	}
	return rd
}

// cropped notes that the detector looks at r's frame in regions.
func (p *Pipeline) cropped(r *Result, regions []image.Rectangle) {
	r.Regions = regions
	e := r.cam
	e.count(func() {
		e.regionFrames.Add(1)
		e.crops.Add(uint64(len(regions)))
		p.m.crops.WithLabelValues(r.Frame.Camera).Add(float64(len(regions)))
	})
}

// regionJob is one frame's crops on their way through an overlapped
// detector: each crop is a part (a Result of its own, sharing the frame)
// that is letterboxed, run and decoded like a frame; the tracking stage
// gathers the parts' detections and, at the last one, merges them and
// carries on with the frame.
type regionJob struct {
	regions []image.Rectangle
	left    int   // parts not yet through Finish; the tracking stage's
	err     error // the first part that failed: the frame is dropped
	dets    []detect.Detection
	cropOf  []int
	tm      detect.Timings
}

// finishPart takes a part of a frame in crops through Finish into its job,
// on the tracking stage, and gives its slot back. It returns whether this
// was the frame's last part; then r.Detections hold the merged detections,
// unless r.job.err says the frame failed or its camera was removed.
func (p *Pipeline) finishPart(r *Result, dets []detect.Detection) ([]detect.Detection, bool) {
	job, st := r.job, r.st
	if r.slot != nil && !r.cam.isRemoved() && job.err == nil {
		var tm detect.Timings
		var err error
		dets, tm, err = st.staged.Finish(r.slot, dets[:0])
		if err != nil {
			job.err = err
		}
		off := job.regions[r.part].Min
		for _, d := range dets {
			d.Box.X1, d.Box.Y1 = d.Box.X1+float32(off.X), d.Box.Y1+float32(off.Y)
			d.Box.X2, d.Box.Y2 = d.Box.X2+float32(off.X), d.Box.Y2+float32(off.Y)
			job.dets = append(job.dets, d)
			job.cropOf = append(job.cropOf, r.part)
		}
		job.tm.Preprocess += tm.Preprocess
		job.tm.Infer += tm.Infer
		job.tm.Postprocess += tm.Postprocess
	}
	if r.partErr != nil && job.err == nil {
		job.err = r.partErr
	}
	job.left--
	last := job.left == 0
	if last && job.err == nil && !r.cam.isRemoved() {
		t0 := time.Now()
		size := image.Pt(r.Frame.Image.Cols(), r.Frame.Image.Rows())
		merged := st.det.(regionDetector).MergeRegions(job.dets, job.cropOf, job.regions, size)
		job.tm.Postprocess += time.Since(t0)
		// Before the slot goes back, as in finish.
		p.detected(r, merged, job.tm)
	}
	if r.slot != nil {
		st.free <- r.slot
		r.slot = nil
	}
	return dets, last
}

// prepareParts letterboxes a frame's crops into slots, one part each, and
// hands them to the model in turn; s is the first part's slot. A crop that
// fails, and those after it, go on without a slot, so that the tracking
// stage still counts every part and drops the frame at the last. It
// returns the time spent letterboxing, not waiting for slots or the model.
func (p *Pipeline) prepareParts(st *detStage, r *Result, s *detect.Slot, regions []image.Rectangle, prepared chan<- *Result) time.Duration {
	var took time.Duration
	job := &regionJob{regions: regions, left: len(regions)}
	r.job = job
	var failed error
	for k, reg := range regions {
		part := r
		if k < len(regions)-1 {
			c := *r
			part = &c
		}
		part.part = k
		if k > 0 {
			s = nil
			if failed == nil {
				s = <-st.free
			}
		}
		if failed == nil {
			t0 := time.Now()
			crop := r.Frame.Image.Region(reg)
			failed = st.staged.Prepare(s, crop)
			crop.Close()
			took += time.Since(t0)
			if failed != nil {
				st.free <- s
				s = nil
			}
		}
		part.slot, part.partErr = s, failed
		prepared <- part
	}
	return took
}
