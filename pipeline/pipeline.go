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
	Timings    Timings
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

// Options configure a Pipeline.
type Options struct {
	Cameras   []*capture.Camera
	Detector  Detector
	Labels    []string
	Tracker   track.Config
	Sinks     []Sink
	MaxFrames int // stop after this many processed frames; 0 = until ctx ends
	QueueSize int // lossless hand-off depth (default 4)
	Registry  prometheus.Registerer
	Logger    zerolog.Logger
}

// Pipeline is the running graph.
type Pipeline struct {
	opts    Options
	log     zerolog.Logger
	m       *metrics
	boxes   []*mailbox
	ready   chan struct{}
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
	if o.Detector == nil {
		return nil, errors.New("pipeline: no detector")
	}
	if err := o.Tracker.Validate(); err != nil {
		return nil, err
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4
	}
	p := &Pipeline{
		opts: o, log: o.Logger, m: newMetrics(o.Registry),
		ready:   make(chan struct{}, 1),
		results: make(chan *Result, 8),
	}
	seen := map[string]bool{}
	for _, c := range o.Cameras {
		if seen[c.ID()] {
			return nil, fmt.Errorf("pipeline: camera %q twice", c.ID())
		}
		seen[c.ID()] = true
		p.stats.Store(c.ID(), &cameraStats{})
		p.boxes = append(p.boxes, newMailbox(c.ID(), c.Lossless(), o.QueueSize, p.ready, p.drop))
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
			p.stage("capture/"+c.ID(), true)
			defer p.stage("capture/"+c.ID(), false)
			c.Run(capCtx, func(f *capture.Frame) {
				p.m.captured.WithLabelValues(f.Camera).Inc()
				box.put(f)
			})
		}()
	}

	post := make(chan struct{})
	go func() {
		defer close(post)
		p.stage("track", true)
		defer p.stage("track", false)
		p.postStage()
	}()

	p.stage("detect", true)
	p.detectStage(capCtx, stopCapture)
	p.stage("detect", false)

	// The detector has stopped taking frames: release the cameras.
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

// detectStage serves the cameras round-robin until they are all finished,
// ctx ends, or MaxFrames frames were taken.
func (p *Pipeline) detectStage(ctx context.Context, stop func()) {
	var dets []detect.Detection
	next := 0
	n := len(p.boxes)
	for {
		if p.opts.MaxFrames > 0 && p.taken.Load() >= int64(p.opts.MaxFrames) {
			return
		}
		var f *capture.Frame
		allDone := true
		for i := 0; i < n && f == nil; i++ {
			b := p.boxes[(next+i)%n]
			if f = b.take(); f != nil {
				next = (next + i + 1) % n
			} else if !b.finished() {
				allDone = false
			}
		}
		if f == nil {
			if allDone {
				return
			}
			select {
			case <-p.ready:
			case <-ctx.Done():
				// Finish what the cameras handed over before the stop,
				// then leave; cameras are told to stop by the caller.
				if p.drainedAfterStop() {
					return
				}
			}
			continue
		}
		p.taken.Add(1)
		r := &Result{Frame: f, Labels: p.opts.Labels}
		r.Timings.Queue = time.Since(f.Time)
		var tm detect.Timings
		var err error
		dets, tm, err = p.opts.Detector.Detect(f.Image, dets[:0])
		if err != nil {
			p.m.errors.WithLabelValues(f.Camera, "detect").Inc()
			p.log.Error().Err(err).Str("camera", f.Camera).Str("stage", "detect").Uint64("seq", f.Seq).Msg("detection failed; frame dropped")
			f.Close()
			p.drop(f.Camera, "detect_error")
			continue
		}
		r.Detections = append([]detect.Detection(nil), dets...)
		r.Timings.Preprocess, r.Timings.Infer, r.Timings.Postprocess = tm.Preprocess, tm.Infer, tm.Postprocess
		p.m.stage.WithLabelValues("queue").Observe(r.Timings.Queue.Seconds())
		p.m.stage.WithLabelValues("preprocess").Observe(tm.Preprocess.Seconds())
		p.m.stage.WithLabelValues("infer").Observe(tm.Infer.Seconds())
		p.m.stage.WithLabelValues("postprocess").Observe(tm.Postprocess.Seconds())
		p.results <- r
	}
}

// drainedAfterStop says whether nothing is left waiting once ctx ended.
func (p *Pipeline) drainedAfterStop() bool {
	for _, b := range p.boxes {
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
	for r := range p.results {
		f := r.Frame
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
