package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/cvthreads"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/sinks"
	"github.com/vigil-vision/vigil/track"
)

const cameraID = "bench"

// publishSink publishes every result as `vigil run` does and remembers when
// each arrived and how old its frame was by then; a lean one only counts,
// so that the bench's own records do not show in the memory run.
type publishSink struct {
	pub       *sinks.TracksPublisher
	lean      bool
	results   atomic.Int64
	arrivals  []time.Time
	cpu       []time.Duration // the process's CPU time at each arrival
	latencies []time.Duration // capture → handed to the publisher
	timings   []pipeline.Timings
	allocs    []uint64 // the process's heap allocations so far, at each arrival
}

func (s *publishSink) Consume(r *pipeline.Result) {
	s.pub.Publish(sinks.TracksFromResult(r))
	s.results.Add(1)
	if s.lean {
		return
	}
	s.allocs = append(s.allocs, heapAllocs())
	now := time.Now()
	s.arrivals = append(s.arrivals, now)
	s.cpu = append(s.cpu, results.CPUTime())
	s.latencies = append(s.latencies, now.Sub(r.Frame.Read))
	s.timings = append(s.timings, r.Timings)
}

// pipelineRun is what one pipeline run left behind.
type pipelineRun struct {
	sink               *publishSink
	published          sinks.PublishStats
	delivered          []time.Duration // capture → received from NATS
	undecoded          int
	captured           uint64
	processed, dropped uint64
	cameras            []cameraCounts // every camera's, in order
}

// cameraCounts are one camera's frames in a run.
type cameraCounts struct {
	captured, processed, dropped uint64
}

// runOptions vary a pipeline run.
type runOptions struct {
	maxFrames int  // stop after this many processed frames; 0: no limit
	serial    bool // letterbox, inference and decoding in turn (pipeline.Options.Serial)
	lean      bool // count results, record nothing per frame
	det       *detect.Detector
	nice      *int             // pipeline.Options.WorkerNice; nil: -worker-nice
	cvThreads *int             // OpenCV's threads for this run; nil: -opencv-threads
	groups    []pipeline.Group // a detector per group of cameras instead of det for all
}

// runPipeline runs vigil's pipeline on the cameras until ctx ends, the files
// end or maxFrames are processed, publishing to b.
func (b *bench) runPipeline(ctx context.Context, cams []*capture.Camera, o runOptions) (pipelineRun, error) {
	pub, err := b.nats.publisher(b.log)
	if err != nil {
		return pipelineRun{}, err
	}
	if o.det == nil {
		o.det = b.det
	}
	var det pipeline.Detector = o.det
	labels := o.det.Labels()
	if o.groups != nil {
		det, labels = nil, nil
	}
	if o.cvThreads != nil {
		cvthreads.Set(*o.cvThreads)
		defer cvthreads.Set(b.cfg.OpenCVThreads)
	}
	sink := &publishSink{pub: pub, lean: o.lean}
	nice := b.cfg.WorkerNice
	if o.nice != nil {
		nice = *o.nice
	}
	p, err := pipeline.New(pipeline.Options{
		Cameras: cams, Detector: det, Labels: labels, Groups: o.groups,
		Tracker: track.DefaultConfig(), Sinks: []pipeline.Sink{sink}, MaxFrames: o.maxFrames,
		Serial: o.serial, WorkerNice: nice, Registry: prometheus.NewRegistry(), Logger: b.log,
	})
	if err != nil {
		pub.Close()
		return pipelineRun{}, err
	}
	runErr := p.Run(ctx)
	closeErr := pub.Close()
	if runErr != nil {
		return pipelineRun{}, fmt.Errorf("pipeline: %w", runErr)
	}
	if closeErr != nil {
		return pipelineRun{}, closeErr
	}
	r := pipelineRun{sink: sink, published: pub.Stats()}
	for _, c := range cams {
		cc := cameraCounts{captured: c.Status().Frames}
		cc.processed, cc.dropped = p.CameraCounts(c.ID())
		r.cameras = append(r.cameras, cc)
		r.captured, r.processed, r.dropped = r.captured+cc.captured, r.processed+cc.processed, r.dropped+cc.dropped
	}
	r.delivered, r.undecoded = b.nats.take(int(r.published.Published))
	return r, nil
}

// throughputRun is the pipeline on the file read losslessly.
type throughputRun struct {
	pipelineRun
	timed   int           // results after the warm-up
	elapsed time.Duration // from the first timed result's arrival to the last
	cpu     time.Duration // the process's CPU time over elapsed
	allocs  uint64        // the process's heap allocations over elapsed
}

// AllocsPerFrame is the process's heap allocations per timed frame: the
// pipeline, the embedded NATS server and the bench's subscriber together.
func (t throughputRun) AllocsPerFrame() float64 { return float64(t.allocs) / float64(t.timed) }

// intervals are the times between consecutive timed results.
func (t throughputRun) intervals() []time.Duration {
	arr := t.sink.arrivals[len(t.sink.arrivals)-t.timed-1:]
	out := make([]time.Duration, 0, t.timed)
	for i := 1; i < len(arr); i++ {
		out = append(out, arr[i].Sub(arr[i-1]))
	}
	return out
}

// FPS is timed results per second.
func (t throughputRun) FPS() float64 { return float64(t.timed) / t.elapsed.Seconds() }

// CPUMS is the mean CPU time of one frame in milliseconds, on all threads.
func (t throughputRun) CPUMS() float64 { return ms(t.cpu) / float64(t.timed) }

// meanStage is the mean of one stage's time over the timed results, in ms.
func (t throughputRun) meanStage(stage func(pipeline.Timings) time.Duration) float64 {
	var sum time.Duration
	timed := t.sink.timings[len(t.sink.timings)-t.timed:]
	for _, tm := range timed {
		sum += stage(tm)
	}
	return ms(sum) / float64(len(timed))
}

// throughput runs the pipeline on the file read losslessly, for -frames
// frames; serial runs letterbox, inference and decoding in turn.
func (b *bench) throughput(ctx context.Context, serial bool) (throughputRun, error) {
	return b.throughputWith(ctx, runOptions{serial: serial})
}

// throughputWith is throughput with other options (another detector).
func (b *bench) throughputWith(ctx context.Context, o runOptions) (throughputRun, error) {
	cfg := b.cfg
	cam, err := capture.New(capture.Config{ID: cameraID, URL: cfg.Video}, b.log)
	if err != nil {
		return throughputRun{}, err
	}
	o.maxFrames = cfg.Frames
	r, err := b.runPipeline(ctx, []*capture.Camera{cam}, o)
	if err != nil {
		return throughputRun{}, err
	}
	if ctx.Err() != nil {
		return throughputRun{}, errors.New("interrupted")
	}
	if err := r.check(cfg.Frames); err != nil {
		return throughputRun{}, fmt.Errorf("pipeline on %s: %w", cfg.Video, err)
	}
	// The warm-up results are ignored: timing starts when the first result
	// after them arrives, so it covers the frames that arrived after it.
	arr, cpu, first, last := r.sink.arrivals, r.sink.cpu, cfg.Warmup, len(r.sink.arrivals)-1
	return throughputRun{
		pipelineRun: r, timed: last - first,
		elapsed: arr[last].Sub(arr[first]), cpu: cpu[last] - cpu[first],
		allocs: r.sink.allocs[last] - r.sink.allocs[first],
	}, nil
}

// check says what went missing on the way from the file to NATS. Frames
// the camera read ahead when MaxFrames stopped the pipeline are dropped at
// shutdown; they were never meant to be processed.
func (r pipelineRun) check(want int) error {
	switch {
	case len(r.sink.arrivals) != want:
		return fmt.Errorf("%d results, want %d (the file is shorter than -frames?)", len(r.sink.arrivals), want)
	case int(r.published.Published) != want:
		return fmt.Errorf("%d of %d messages published (%d dropped, %d errors)", r.published.Published, want, r.published.Dropped, r.published.Errors)
	case len(r.delivered) != want:
		return fmt.Errorf("%d of %d messages received from NATS (%d undecodable)", len(r.delivered), want, r.undecoded)
	}
	return nil
}

// latencyRun is the pipeline on the file paced like a live camera.
type latencyRun struct {
	pipelineRun
	start    time.Time
	duration time.Duration
}

// DroppedShare is the share of captured frames the pipeline dropped.
func (l latencyRun) DroppedShare() float64 {
	if l.captured == 0 {
		return 0
	}
	return float64(l.dropped) / float64(l.captured)
}

// latency runs the pipeline on the file paced at fps, looping, for d, on
// n cameras.
func (b *bench) latency(ctx context.Context, fps float64, d time.Duration, n int) (latencyRun, error) {
	return b.latencyWith(ctx, fps, d, n, runOptions{})
}

// latencyWith is latency with other options (a detector per camera).
func (b *bench) latencyWith(ctx context.Context, fps float64, d time.Duration, n int, o runOptions) (latencyRun, error) {
	cfg := b.cfg
	var cams []*capture.Camera
	for i := range n {
		id := cameraID
		if n > 1 {
			id = fmt.Sprintf("%s%d", cameraID, i+1)
		}
		cam, err := capture.New(capture.Config{ID: id, URL: cfg.Video, Loop: true, Realtime: true, FPS: fps}, b.log)
		if err != nil {
			return latencyRun{}, err
		}
		cams = append(cams, cam)
	}
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	if o.groups != nil {
		for i := range o.groups {
			o.groups[i].Cameras = []string{cams[i].ID()}
		}
	}
	r, err := b.runPipeline(runCtx, cams, o)
	if err != nil {
		return latencyRun{}, err
	}
	if len(r.sink.latencies) == 0 {
		return latencyRun{}, fmt.Errorf("latency run on %s: no frame processed in %s", cfg.Video, d)
	}
	return latencyRun{pipelineRun: r, start: start, duration: time.Since(start)}, nil
}
