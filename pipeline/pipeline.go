package pipeline

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
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

// Timings of one frame through the stages, on the wall clock from the
// frame's Read (a file's Time is media time, which a lossless run outpaces).
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
	Model      string // which model that detector ran (Group.Model)
	Timings    Timings
	// Skipped: motion gating held the frame back from the detector
	// (nothing moved); Tracks are the last detected frame's, Detections
	// none, and Detector and Model the last detected frame's.
	Skipped bool
	// Gate says why the frame went to the detector or not (GateOff …
	// GateStill); Motion is what motion detection saw, nil without gating.
	Gate   string
	Motion *MotionInfo
	// Regions are the crops the detector looked at the frame in, at full
	// resolution (Gate.Regions); none: the whole frame.
	Regions []image.Rectangle

	cam  *camEntry
	st   *detStage
	slot *detect.Slot // while the frame is in an overlapped detector's hands
	// A frame in crops goes through an overlapped detector as parts, one
	// per crop: job gathers them, part is this one's crop, partErr says
	// it failed before the model.
	job     *regionJob
	part    int
	partErr error
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
	MaxFrames int // stop after the detector took this many frames (held ones do not count); 0 = until ctx ends
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
	// Gates are cameras' motion gating, by camera id (SetGate changes
	// them while the pipeline runs); a camera without one sends every
	// frame to the detector.
	Gates map[string]*Gate
}

// Pipeline is the running graph. Its cameras and detector groups may
// change while it runs (AddCamera, RemoveCamera, MoveCamera, AddGroup,
// RemoveGroup, SwapDetector, SetTracker), with the guarantees it has at
// start: latest-wins or lossless hand-offs, each camera's frames in order,
// one owner per Mat, round-robin within a group.
type Pipeline struct {
	opts    Options
	log     zerolog.Logger
	m       *metrics
	results chan *Result
	ctl     chan func(*Tracking) // runs on the tracking goroutine, between frames

	mu       sync.Mutex
	state    runState
	cams     map[string]*camEntry
	camOrder []string
	groups   map[string]*group
	grpOrder []string
	tracking *Tracking        // the tracking goroutine's; the caller's while idle
	gates    map[string]*Gate // cameras' motion gating (SetGate), by id
	runCtx   context.Context  // cameras and detectors, while running
	endRun   context.CancelFunc
	camWG    sync.WaitGroup
	groupWG  sync.WaitGroup
	postDone chan struct{}
	postUp   atomic.Bool

	processed atomic.Int64
	busy      atomic.Int64 // ns the detectors spent in inference, all groups together
	slotWait  atomic.Int64 // ns the letterbox steps waited for a free slot while their model was idle
	taken     atomic.Int64
}

type runState int

const (
	idle runState = iota
	running
	stopping
	stopped
)

// ErrStopped is returned by changes to a pipeline that has stopped (or is
// stopping).
var ErrStopped = errors.New("pipeline: stopped")

// New checks the options and builds the graph; Run starts it. A pipeline
// with no cameras and no detector is valid: cameras and groups can be added
// later.
func New(o Options) (*Pipeline, error) {
	seen := map[string]bool{}
	for _, c := range o.Cameras {
		if seen[c.ID()] {
			return nil, fmt.Errorf("pipeline: camera %q twice", c.ID())
		}
		seen[c.ID()] = true
	}
	var groups []Group
	var groupOf []int
	if len(o.Cameras) > 0 || o.Detector != nil || len(o.Groups) > 0 {
		var err error
		if groups, groupOf, err = groupsOf(o); err != nil {
			return nil, err
		}
	}
	if err := o.Tracker.Validate(); err != nil {
		return nil, err
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4
	}
	p := &Pipeline{
		opts: o, log: o.Logger, m: newMetrics(o.Registry),
		results: make(chan *Result, 8), ctl: make(chan func(*Tracking)), postDone: make(chan struct{}),
		cams: map[string]*camEntry{}, groups: map[string]*group{}, tracking: NewTracking(o.Tracker),
		gates: map[string]*Gate{},
	}
	for id, g := range o.Gates {
		if g != nil {
			d := g.withDefaults()
			p.gates[id] = &d
		}
	}
	for _, g := range groups {
		p.addGroupLocked(g)
	}
	for i, c := range o.Cameras {
		p.addCameraLocked(c, p.groups[groups[groupOf[i]].Name])
	}
	return p, nil
}

// Processed is the number of frames processed so far.
func (p *Pipeline) Processed() int64 { return p.processed.Load() }

// CameraCounts are per-camera processed and dropped frame counts; zero for
// a camera the pipeline does not have.
func (p *Pipeline) CameraCounts(camera string) (processed, dropped uint64) {
	p.mu.Lock()
	e := p.cams[camera]
	p.mu.Unlock()
	if e == nil {
		return 0, 0
	}
	return e.processed.Load(), e.dropped.Load()
}

// DetectorOf is the name of the group whose detector serves the camera, or
// "" for a camera the pipeline does not have.
func (p *Pipeline) DetectorOf(camera string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.cams[camera]; e != nil {
		return e.group.name
	}
	return ""
}

// Cameras are the pipeline's cameras, in the order they were added.
func (p *Pipeline) Cameras() []*capture.Camera {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*capture.Camera, len(p.camOrder))
	for i, id := range p.camOrder {
		out[i] = p.cams[id].cam
	}
	return out
}

// Camera is the pipeline's camera with this id, or nil.
func (p *Pipeline) Camera(id string) *capture.Camera {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.cams[id]; e != nil {
		return e.cam
	}
	return nil
}

// Stages reports which stages run now: capture/<camera> per camera, detect
// (detect/<group> with several groups) and track.
func (p *Pipeline) Stages() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]bool{"track": p.postUp.Load()}
	for id, e := range p.cams {
		out["capture/"+id] = e.up.Load()
	}
	for name, g := range p.groups {
		if len(p.groups) == 1 {
			name = ""
		}
		out[stageName(name)] = g.up.Load()
	}
	return out
}

func stageName(group string) string {
	if group == "" {
		return "detect"
	}
	return "detect/" + group
}

// lower gives the calling goroutine's thread WorkerNice, for the rest of
// the goroutine's life.
func (p *Pipeline) lower(stage string) {
	if err := sched.Lower(p.opts.WorkerNice); err != nil {
		p.log.Warn().Err(err).Str("stage", stage).Msg("runs at normal priority")
	}
}

// Run runs until ctx ends, every camera has ended (a pipeline that has
// cameras, all of them files that reached their end), or MaxFrames frames
// are processed; then it lets in-flight frames finish, closes every Mat and
// returns. Sinks are flushed by their owners after Run returns.
func (p *Pipeline) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.state != idle {
		p.mu.Unlock()
		return errors.New("pipeline: Run called twice")
	}
	p.state = running
	runCtx, finish := context.WithCancel(ctx)
	p.runCtx, p.endRun = runCtx, finish
	defer finish()
	tracking := p.tracking
	go func() {
		defer close(p.postDone)
		p.lower("track")
		p.postUp.Store(true)
		defer p.postUp.Store(false)
		p.postStage(tracking)
	}()
	for _, name := range p.grpOrder {
		p.startGroup(p.groups[name])
	}
	for _, id := range p.camOrder {
		p.startCamera(p.cams[id])
	}
	p.mu.Unlock()

	<-runCtx.Done()
	p.mu.Lock()
	p.state = stopping
	p.mu.Unlock()
	// The detectors finish what was handed over before the stop, then
	// stop taking frames: release the cameras.
	p.groupWG.Wait()
	boxes := p.boxes()
	for _, b := range boxes {
		b.abort()
	}
	p.camWG.Wait()
	for _, b := range boxes {
		b.abort() // frames put between the first abort and the cameras' exit
	}
	close(p.results)
	<-p.postDone
	p.mu.Lock()
	p.state = stopped
	p.mu.Unlock()
	return nil
}

func (p *Pipeline) boxes() []*mailbox {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*mailbox, 0, len(p.cams))
	for _, e := range p.cams {
		out = append(out, e.box)
	}
	return out
}

// reserve counts a frame about to be taken, or says that MaxFrames frames
// are taken already (and ends the run); groups share the count, so the
// total is exact.
func (p *Pipeline) reserve() bool {
	limit := int64(p.opts.MaxFrames)
	for {
		n := p.taken.Load()
		if limit > 0 && n >= limit {
			p.finishRun()
			return false
		}
		if p.taken.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// finishRun ends the run: the cameras ended or MaxFrames were taken.
func (p *Pipeline) finishRun() {
	p.mu.Lock()
	finish := p.endRun
	p.mu.Unlock()
	if finish != nil {
		finish()
	}
}

func (p *Pipeline) newResult(f *capture.Frame, e *camEntry, st *detStage, d decision) *Result {
	r := &Result{Frame: f, Labels: st.labels, Detector: st.group, Model: st.model, Gate: d.reason, Motion: d.motion, cam: e, st: st}
	r.Timings.Queue = time.Since(f.Read)
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
	p.busy.Add(int64(tm.Infer))
}

// DetectorBusy is the time the detectors have spent in inference since
// the start, all groups together: its growth over a window, divided by the
// window, is how busy they are (1 = one detector never idle).
func (p *Pipeline) DetectorBusy() time.Duration { return time.Duration(p.busy.Load()) }

// SlotWait is the time the letterbox steps waited for a slot to come back
// from the tracking stage while their model had nothing to run, all groups
// together: when it grows, frames wait for the detector because tracking
// and the sinks are behind, not because the model is busy.
func (p *Pipeline) SlotWait() time.Duration { return time.Duration(p.slotWait.Load()) }

// detectFailed drops a frame the detector failed on.
func (p *Pipeline) detectFailed(r *Result, err error) {
	f := r.Frame
	r.cam.count(func() { p.m.errors.WithLabelValues(f.Camera, "detect").Inc() })
	p.log.Error().Err(err).Str("camera", f.Camera).Str("stage", "detect").Uint64("seq", f.Seq).Msg("detection failed; frame dropped")
	f.Close()
	p.drop(r.cam, "detect_error")
}

// dropFailed drops a frame the detector failed on before it reached the
// tracking stage.
func (p *Pipeline) dropFailed(r *Result, err error) {
	p.detectFailed(r, err)
	r.cam.doneOne(false)
}

// postStage tracks and hands results to the sinks, one camera's frames in
// order; it owns each frame from here and closes it. Between frames it runs
// what control sends it.
func (p *Pipeline) postStage(tracking *Tracking) {
	var dets []detect.Detection
	for {
		select {
		case r, ok := <-p.results:
			if !ok {
				return
			}
			dets = p.post(tracking, r, dets)
		case f := <-p.ctl:
			f(tracking)
		}
	}
}

func (p *Pipeline) post(tracking *Tracking, r *Result, dets []detect.Detection) []detect.Detection {
	f, e := r.Frame, r.cam
	if r.job != nil {
		var last bool
		if dets, last = p.finishPart(r, dets); !last {
			return dets // the frame goes on with its last part
		}
	}
	defer e.doneOne(r.Skipped)
	if e.isRemoved() {
		// Its camera was removed while the frame was in flight.
		if r.slot != nil {
			r.st.free <- r.slot
		}
		f.Close()
		return dets
	}
	switch {
	case r.job != nil && r.job.err != nil:
		p.detectFailed(r, r.job.err)
		return dets
	case r.slot != nil:
		var ok bool
		if dets, ok = p.finish(r, dets); !ok {
			return dets
		}
	}
	t0 := time.Now()
	if r.Skipped {
		r.Tracks = tracking.Hold(f.Camera, f.Time)
		r.Labels, r.Detector, r.Model = e.lastLabels, e.lastDetector, e.lastModel
	} else {
		r.Tracks = tracking.UpdateFrame(f.Camera, r.Detections, f.Time, f.Seq)
		e.lastLabels, e.lastDetector, e.lastModel = r.Labels, r.Detector, r.Model
		g := e.gate.Load()
		e.near.Store(g != nil && NearLine(g.Watch, r.Detections, f.Image.Cols(), f.Image.Rows()))
		if g != nil {
			tracks, moving := tracking.Activity(f.Camera, g.MinSpeed)
			e.tracks.Store(int32(tracks))
			e.moving.Store(int32(moving))
			if g.Regions != nil {
				// The crops of the next frames hold the tracks, and where
				// the ones just lost were last seen.
				var at []track.Box
				for _, t := range r.Tracks {
					at = append(at, t.Box)
				}
				at = tracking.Looking(at, f.Camera, g.MinSpeed)
				boxes := make([]image.Rectangle, len(at))
				for i, b := range at {
					boxes[i] = image.Rect(int(b.X1), int(b.Y1), int(math.Ceil(b.X2)), int(math.Ceil(b.Y2)))
				}
				e.trackBoxes.Store(&boxes)
			}
		}
	}
	r.Timings.Track = time.Since(t0)
	r.Timings.Total = time.Since(f.Read)
	if !r.Skipped {
		p.m.stage.WithLabelValues("track").Observe(r.Timings.Track.Seconds())
	}
	for _, s := range p.opts.Sinks {
		s.Consume(r)
	}
	e.count(func() {
		if !r.Skipped { // a held frame's latency is not the detector's: it would hide it
			p.m.latency.WithLabelValues(f.Camera).Observe(time.Since(f.Read).Seconds())
		}
		p.m.processed.WithLabelValues(f.Camera).Inc()
	})
	e.processed.Add(1)
	p.processed.Add(1)
	f.Close()
	return dets
}

// control runs f on the tracking goroutine between two frames and waits
// for it; before Run it runs f here, after Run not at all.
func (p *Pipeline) control(f func(*Tracking)) {
	p.mu.Lock()
	if p.state == idle {
		f(p.tracking)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	done := make(chan struct{})
	select {
	case p.ctl <- func(t *Tracking) { f(t); close(done) }:
		<-done
	case <-p.postDone:
	}
}

// SetTracker changes the tracker's settings for every camera from the next
// frame; tracks and their ids are kept.
func (p *Pipeline) SetTracker(cfg track.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.control(func(t *Tracking) { t.SetConfig(cfg) })
	return nil
}
