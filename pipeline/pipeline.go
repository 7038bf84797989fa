package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/sched"
	"github.com/vigil-vision/vigil/track"
	"gocv.io/x/gocv"
)

// Detector is what the detector stage runs; *detect.Detector is one.
type Detector interface {
	Detect(img gocv.Mat, dst []detect.Detection) ([]detect.Detection, detect.Timings, error)
}

// Timings of one frame through the stages.
type Timings struct {
	Queue       time.Duration // capture → taken by the detector
	Preprocess  time.Duration
	Infer       time.Duration
	Postprocess time.Duration // decode + NMS
	Track       time.Duration
	Total       time.Duration // capture → sinks
}

// Result is one processed frame. Sinks may read Frame.Image during Consume
// but must Clone it to keep it: the pipeline closes it afterwards.
type Result struct {
	Frame      *capture.Frame
	Detections []detect.Detection
	Tracks     []track.Track
	Labels     []string
	Detector   string // the group whose detector ran on the frame
	Timings    Timings

	slot  *detect.Slot // while the frame is in an overlapped detector's hands
	group *group
}

// Sink receives results in sequence order per camera, from one goroutine.
// Consume must not block: a slow sink drops, as the NATS publisher does.
type Sink interface {
	Consume(r *Result)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(r *Result)

// Consume calls f.
func (f SinkFunc) Consume(r *Result) { f(r) }

// Tap sees every captured frame, processed or not (the live view runs at the
// camera's rate), on that camera's goroutine just before the detector's
// hand-off. Frame must not block and must not keep f: it clones the image if
// it needs it, and should do nothing at all while nobody needs it.
type Tap interface {
	Frame(f *capture.Frame)
}

// Options configure a Pipeline.
type Options struct {
	Cameras []*capture.Camera
	// Detector serves every camera, with Labels its class names; or
	// Groups, each a detector of its own for some of the cameras.
	Detector  Detector
	Labels    []string
	Groups    []Group
	Tracker   track.Config
	Sinks     []Sink
	MaxFrames int // stop after this many processed frames; 0 = until ctx ends
	QueueSize int // lossless hand-off depth (default 4)
	Registry  prometheus.Registerer
	Logger    zerolog.Logger
	// Taps see every captured frame before the detector's hand-off.
	Taps []Tap
	// Serial runs letterbox, inference and decoding one after another on
	// one goroutine even when the detector can overlap them (a
	// StagedDetector): the plain path, kept to measure the overlap against.
	Serial bool
	// WorkerNice lowers the priority (a nice value, 1–19) of the threads
	// that do the work around the model — decoding video, letterboxing,
	// decoding the model's output, tracking, the sinks — so that they use
	// the CPU the model's threads leave idle rather than stall one of them.
	// 0 keeps them at the process's priority.
	WorkerNice int
}

// Pipeline is the running graph.
type Pipeline struct {
	opts    Options
	log     zerolog.Logger
	m       *metrics
	boxes   []*mailbox // one per camera, in Options.Cameras' order
	groups  []*group
	results chan *Result

	processed atomic.Int64
	taken     atomic.Int64
	running   sync.Map // stage name → bool
	stats     sync.Map // camera → *cameraStats
}

type cameraStats struct {
	processed, dropped atomic.Uint64
}

// New checks the options and builds the graph; Run starts it.
func New(o Options) (*Pipeline, error) {
	if len(o.Cameras) == 0 {
		return nil, errors.New("pipeline: no cameras; add one under cameras:")
	}
	seen := map[string]bool{}
	for _, c := range o.Cameras {
		if seen[c.ID()] {
			return nil, fmt.Errorf("pipeline: camera %q twice", c.ID())
		}
		seen[c.ID()] = true
	}
	groups, groupOf, err := groupsOf(o)
	if err != nil {
		return nil, err
	}
	if err := o.Tracker.Validate(); err != nil {
		return nil, err
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4
	}
	p := &Pipeline{
		opts: o, log: o.Logger, m: newMetrics(o.Registry),
		results: make(chan *Result, 8),
	}
	for _, g := range groups {
		stage := "detect"
		if len(groups) > 1 {
			stage += "/" + g.Name
		}
		p.groups = append(p.groups, &group{name: g.Name, stage: stage, det: g.Detector, labels: g.Labels, ready: make(chan struct{}, 1)})
	}
	for i, c := range o.Cameras {
		g := p.groups[groupOf[i]]
		p.stats.Store(c.ID(), &cameraStats{})
		b := newMailbox(c.ID(), c.Lossless(), o.QueueSize, g.ready, p.drop)
		p.boxes = append(p.boxes, b)
		g.boxes = append(g.boxes, b)
		p.m.cameraUp.WithLabelValues(c.ID()).Set(0)
	}
	return p, nil
}

func (p *Pipeline) drop(camera, reason string) {
	p.m.dropped.WithLabelValues(camera, "detect", reason).Inc()
	if s, ok := p.stats.Load(camera); ok {
		s.(*cameraStats).dropped.Add(1)
	}
}

// Processed is the number of frames processed so far.
func (p *Pipeline) Processed() int64 { return p.processed.Load() }

// CameraCounts are per-camera processed and dropped frame counts.
func (p *Pipeline) CameraCounts(camera string) (processed, dropped uint64) {
	if s, ok := p.stats.Load(camera); ok {
		cs := s.(*cameraStats)
		return cs.processed.Load(), cs.dropped.Load()
	}
	return 0, 0
}

// DetectorOf is the name of the group whose detector serves the camera, or
// "" for a camera the pipeline does not have.
func (p *Pipeline) DetectorOf(camera string) string {
	for _, g := range p.groups {
		for _, b := range g.boxes {
			if b.camera == camera {
				return g.name
			}
		}
	}
	return ""
}

// Stages reports which stages run now.
func (p *Pipeline) Stages() map[string]bool {
	out := map[string]bool{}
	p.running.Range(func(k, v any) bool {
		out[k.(string)] = v.(bool)
		return true
	})
	return out
}

func (p *Pipeline) stage(name string, up bool) { p.running.Store(name, up) }

// lower gives the calling goroutine's thread WorkerNice, for the rest of
// the goroutine's life.
func (p *Pipeline) lower(stage string) {
	if err := sched.Lower(p.opts.WorkerNice); err != nil {
		p.log.Warn().Err(err).Str("stage", stage).Msg("runs at normal priority")
	}
}

// Run runs until ctx ends, every camera has ended, or MaxFrames frames are
// processed; then it lets in-flight frames finish, closes every Mat and
// returns. Sinks are flushed by their owners after Run returns.
func (p *Pipeline) Run(ctx context.Context) error {
	capCtx, stopCapture := context.WithCancel(ctx)
	defer stopCapture()

	var cams sync.WaitGroup
	for i, c := range p.opts.Cameras {
		box := p.boxes[i]
		cams.Add(1)
		go func() {
			defer cams.Done()
			defer box.close()
			c.OnState = func(s capture.Status) {
				v := 0.0
				if s.State == capture.StateStreaming {
					v = 1
				}
				p.m.cameraUp.WithLabelValues(s.Camera).Set(v)
			}
			p.lower("capture/" + c.ID())
			p.stage("capture/"+c.ID(), true)
			defer p.stage("capture/"+c.ID(), false)
			c.Run(capCtx, func(f *capture.Frame) {
				p.m.captured.WithLabelValues(f.Camera).Inc()
				for _, t := range p.opts.Taps {
					t.Frame(f)
				}
				box.put(f)
			})
		}()
	}

	post := make(chan struct{})
	go func() {
		defer close(post)
		p.lower("track")
		p.stage("track", true)
		defer p.stage("track", false)
		p.postStage()
	}()

	var detectors sync.WaitGroup
	for _, g := range p.groups {
		detectors.Add(1)
		go func() {
			defer detectors.Done()
			p.stage(g.stage, true)
			defer p.stage(g.stage, false)
			if slots := p.overlapSlots(g); slots != nil {
				p.overlapStage(capCtx, g, slots)
			} else {
				p.detectStage(capCtx, g)
			}
		}()
	}
	detectors.Wait()

	// The detectors have stopped taking frames: release the cameras.
	stopCapture()
	for _, b := range p.boxes {
		b.abort()
	}
	cams.Wait()
	for _, b := range p.boxes {
		b.abort() // frames put between the first abort and the cameras' exit
	}
	close(p.results)
	<-post
	return nil
}

// overlapSlots are the slots of a group's detector that can overlap its
// steps, or nil when the pipeline runs them one after another.
func (p *Pipeline) overlapSlots(g *group) []*detect.Slot {
	sd, ok := g.det.(StagedDetector)
	if !ok || p.opts.Serial {
		return nil
	}
	slots, err := sd.Slots(overlapSlots)
	if err != nil {
		p.log.Warn().Err(err).Str("stage", g.stage).Msg("cannot overlap letterbox and decoding with inference; running them in turn")
		return nil
	}
	g.staged = sd
	return slots
}

// detectStage serves a group's cameras round-robin until they are all
// finished, ctx ends, or MaxFrames frames were taken; letterbox, inference
// and decoding run in turn.
func (p *Pipeline) detectStage(ctx context.Context, g *group) {
	var dets []detect.Detection
	for {
		f := p.next(ctx, g)
		if f == nil {
			return
		}
		r := p.newResult(f, g)
		var tm detect.Timings
		var err error
		dets, tm, err = g.det.Detect(f.Image, dets[:0])
		if err != nil {
			p.detectFailed(f, err)
			continue
		}
		p.detected(r, dets, tm)
		p.results <- r
	}
}

// next takes the next frame for a group's detector, round-robin over its
// cameras, waiting until one comes. It returns nil when every camera of the
// group has finished, MaxFrames frames were taken (over all groups), or ctx
// ended and nothing handed over before is left.
func (p *Pipeline) next(ctx context.Context, g *group) *capture.Frame {
	n := len(g.boxes)
	for {
		if !p.reserve() {
			return nil
		}
		allDone := true
		for i := range n {
			b := g.boxes[(g.rr+i)%n]
			if f := b.take(); f != nil {
				g.rr = (g.rr + i + 1) % n
				return f
			}
			if !b.finished() {
				allDone = false
			}
		}
		p.taken.Add(-1) // nothing taken: give the reservation back
		if allDone {
			return nil
		}
		select {
		case <-g.ready:
		case <-ctx.Done():
			// Finish what the cameras handed over before the stop, then
			// leave; cameras are told to stop by the caller.
			if g.drainedAfterStop() {
				return nil
			}
		}
	}
}

// reserve counts a frame about to be taken, or says that MaxFrames frames
// are taken already; groups share the count, so the total is exact.
func (p *Pipeline) reserve() bool {
	limit := int64(p.opts.MaxFrames)
	for {
		n := p.taken.Load()
		if limit > 0 && n >= limit {
			return false
		}
		if p.taken.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (p *Pipeline) newResult(f *capture.Frame, g *group) *Result {
	r := &Result{Frame: f, Labels: g.labels, Detector: g.name, group: g}
	r.Timings.Queue = time.Since(f.Time)
	return r
}

// detected fills in what the detector found and observes its timings.
func (p *Pipeline) detected(r *Result, dets []detect.Detection, tm detect.Timings) {
	r.Detections = append([]detect.Detection(nil), dets...)
	r.Timings.Preprocess, r.Timings.Infer, r.Timings.Postprocess = tm.Preprocess, tm.Infer, tm.Postprocess
	p.m.stage.WithLabelValues("queue").Observe(r.Timings.Queue.Seconds())
	p.m.stage.WithLabelValues("preprocess").Observe(tm.Preprocess.Seconds())
	p.m.stage.WithLabelValues("infer").Observe(tm.Infer.Seconds())
	p.m.stage.WithLabelValues("postprocess").Observe(tm.Postprocess.Seconds())
	p.m.inference.WithLabelValues(r.Detector).Observe(tm.Infer.Seconds())
}

// detectFailed drops a frame the detector failed on.
func (p *Pipeline) detectFailed(f *capture.Frame, err error) {
	p.m.errors.WithLabelValues(f.Camera, "detect").Inc()
	p.log.Error().Err(err).Str("camera", f.Camera).Str("stage", "detect").Uint64("seq", f.Seq).Msg("detection failed; frame dropped")
	f.Close()
	p.drop(f.Camera, "detect_error")
}

// drainedAfterStop says whether nothing is left waiting for the group once
// ctx ended.
func (g *group) drainedAfterStop() bool {
	for _, b := range g.boxes {
		b.mu.Lock()
		waiting := len(b.q)
		b.mu.Unlock()
		if waiting > 0 {
			return false
		}
	}
	return true
}

// postStage tracks and hands results to the sinks, one camera's frames in
// order; it owns each frame from here and closes it.
func (p *Pipeline) postStage() {
	tracking := NewTracking(p.opts.Tracker)
	var dets []detect.Detection
	for r := range p.results {
		f := r.Frame
		if r.slot != nil {
			var ok bool
			if dets, ok = p.finish(r, dets); !ok {
				continue
			}
		}
		t0 := time.Now()
		r.Tracks = tracking.Update(f.Camera, r.Detections)
		r.Timings.Track = time.Since(t0)
		r.Timings.Total = time.Since(f.Time)
		p.m.stage.WithLabelValues("track").Observe(r.Timings.Track.Seconds())
		for _, s := range p.opts.Sinks {
			s.Consume(r)
		}
		p.m.latency.WithLabelValues(f.Camera).Observe(time.Since(f.Time).Seconds())
		p.m.processed.WithLabelValues(f.Camera).Inc()
		if s, ok := p.stats.Load(f.Camera); ok {
			s.(*cameraStats).processed.Add(1)
		}
		p.processed.Add(1)
		f.Close()
	}
}
