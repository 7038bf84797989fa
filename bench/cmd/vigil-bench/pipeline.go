package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/sinks"
	"github.com/vigil-vision/vigil/track"
)

const cameraID = "bench"

// publishSink publishes every result as `vigil run` does and remembers when
// each arrived and how old its frame was by then.
type publishSink struct {
	pub       *sinks.TracksPublisher
	arrivals  []time.Time
	cpu       []time.Duration // the process's CPU time at each arrival
	latencies []time.Duration // capture → handed to the publisher
	timings   []pipeline.Timings
}

func (s *publishSink) Consume(r *pipeline.Result) {
	s.pub.Publish(sinks.TracksFromResult(r))
	now := time.Now()
	s.arrivals = append(s.arrivals, now)
	s.cpu = append(s.cpu, cpuTime())
	s.latencies = append(s.latencies, now.Sub(r.Frame.Time))
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
}

// runPipeline runs vigil's pipeline on one camera until ctx ends, the file
// ends or maxFrames are processed (0: no limit), publishing to b.
func (b *bench) runPipeline(ctx context.Context, cam *capture.Camera, maxFrames int) (pipelineRun, error) {
	pub, err := b.nats.publisher(b.log)
	if err != nil {
		return pipelineRun{}, err
	}
	sink := &publishSink{pub: pub}
	p, err := pipeline.New(pipeline.Options{
		Cameras: []*capture.Camera{cam}, Detector: b.det, Labels: b.det.Labels(),
		Tracker: track.DefaultConfig(), Sinks: []pipeline.Sink{sink}, MaxFrames: maxFrames,
		Registry: prometheus.NewRegistry(), Logger: b.log,
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
	r := pipelineRun{sink: sink, published: pub.Stats(), captured: cam.Status().Frames}
	r.processed, r.dropped = p.CameraCounts(cam.ID())
	r.delivered, r.undecoded = b.nats.take(int(r.published.Published))
	return r, nil
}

// throughputRun is the pipeline on the file read losslessly.
type throughputRun struct {
	pipelineRun
	timed   int           // results after the warm-up
	elapsed time.Duration // from the first timed result's arrival to the last
	cpu     time.Duration // the process's CPU time over elapsed
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
// frames.
func (b *bench) throughput(ctx context.Context) (throughputRun, error) {
	cfg := b.cfg
	cam, err := capture.New(capture.Config{ID: cameraID, URL: cfg.Video}, b.log)
	if err != nil {
		return throughputRun{}, err
	}
	r, err := b.runPipeline(ctx, cam, cfg.Frames)
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
	duration time.Duration
}

// DroppedShare is the share of captured frames the pipeline dropped.
func (l latencyRun) DroppedShare() float64 {
	if l.captured == 0 {
		return 0
	}
	return float64(l.dropped) / float64(l.captured)
}

// latency runs the pipeline on the file paced at -fps, looping, for
// -latency-duration.
func (b *bench) latency(ctx context.Context) (latencyRun, error) {
	cfg := b.cfg
	cam, err := capture.New(capture.Config{ID: cameraID, URL: cfg.Video, Loop: true, Realtime: true, FPS: cfg.FPS}, b.log)
	if err != nil {
		return latencyRun{}, err
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Latency)
	defer cancel()
	start := time.Now()
	r, err := b.runPipeline(runCtx, cam, 0)
	if err != nil {
		return latencyRun{}, err
	}
	if len(r.sink.latencies) == 0 {
		return latencyRun{}, fmt.Errorf("latency run on %s: no frame processed in %s", cfg.Video, cfg.Latency)
	}
	return latencyRun{pipelineRun: r, duration: time.Since(start)}, nil
}
