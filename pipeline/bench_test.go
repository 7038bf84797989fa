package pipeline_test

import (
	"context"
	"runtime/metrics"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/sinks"
	"github.com/vigil-vision/vigil/track"
)

// BenchmarkPipelineFrame is vigil run's steady state, one op a processed
// frame: vtest.avi looped and read losslessly → letterbox → infer → NMS →
// ByteTrack → a tracks message published to an embedded NATS. Besides
// allocs/op (which includes starting and stopping the pipeline once per
// run), it reports allocs/frame and B/frame counted from the 10th result to
// the last, where the start-up no longer weighs.
func BenchmarkPipelineFrame(b *testing.B) {
	for _, mode := range []struct {
		name   string
		serial bool
	}{{"overlap", false}, {"serial", true}} {
		b.Run(mode.name, func(b *testing.B) { benchmarkPipelineFrame(b, mode.serial) })
	}
}

func benchmarkPipelineFrame(b *testing.B, serial bool) {
	if err := detect.InitRuntime(assets.Library()); err != nil {
		b.Fatal(err)
	}
	det, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer det.Close()
	srv, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Port: -1, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := sinks.Connect(sinks.ConnOptions{URL: srv.ClientURL(), Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	pub, err := sinks.NewTracksPublisher(nc, sinks.PublisherOptions{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	go pub.Run(context.Background())
	defer pub.Close()

	const warmup = 10
	sink := &allocCounter{pub: pub, from: warmup}
	cam, err := capture.New(capture.Config{ID: "bench", URL: assets.Media("vtest.avi"), Loop: true}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	p, err := pipeline.New(pipeline.Options{
		Cameras: []*capture.Camera{cam}, Detector: det, Labels: det.Labels(),
		Tracker: track.DefaultConfig(), Sinks: []pipeline.Sink{sink},
		MaxFrames: warmup + b.N, Serial: serial,
		Registry: prometheus.NewRegistry(), Logger: zerolog.Nop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if got := p.Processed(); got != int64(warmup+b.N) {
		b.Fatalf("processed %d frames, want %d", got, warmup+b.N)
	}
	if frames := sink.n.Load() - sink.from; frames > 0 {
		b.ReportMetric(float64(sink.objects[1]-sink.objects[0])/float64(frames), "allocs/frame")
		b.ReportMetric(float64(sink.bytes[1]-sink.bytes[0])/float64(frames), "B/frame")
	}
}

// allocCounter publishes every result as vigil run does and reads the
// process's allocation counters at the from-th result and at the last.
type allocCounter struct {
	pub           *sinks.TracksPublisher
	from          int64
	n             atomic.Int64
	objects       [2]uint64
	bytes         [2]uint64
	samples       [2]metrics.Sample
	samplesLoaded bool
}

func (c *allocCounter) Consume(r *pipeline.Result) {
	c.pub.Publish(sinks.TracksFromResult(r))
	n := c.n.Add(1)
	if n < c.from {
		return
	}
	if !c.samplesLoaded {
		c.samples[0].Name, c.samples[1].Name = "/gc/heap/allocs:objects", "/gc/heap/allocs:bytes"
		c.samplesLoaded = true
	}
	metrics.Read(c.samples[:])
	i := 1
	if n == c.from {
		i = 0
	}
	c.objects[i], c.bytes[i] = c.samples[0].Value.Uint64(), c.samples[1].Value.Uint64()
}
