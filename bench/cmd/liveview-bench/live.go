package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/liveview"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/sinks"
	"github.com/vigil-vision/vigil/track"
	"gocv.io/x/gocv"
)

const camera = "bench"

// served is a live view on an HTTP server.
type served struct {
	lv   *liveview.Server
	web  *sinks.HTTPServer
	reg  *prometheus.Registry
	base string
}

func serve(cam *capture.Camera, cfg config, log zerolog.Logger) (*served, error) {
	reg := prometheus.NewRegistry()
	lv, err := liveview.New(liveview.Options{Cameras: []*capture.Camera{cam}, Bitrate: cfg.Bitrate,
		ICE: liveview.ICE{Loopback: true}, Registry: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	web, err := sinks.StartHTTP(sinks.HTTPOptions{Listen: "127.0.0.1:0", Gatherer: reg, Logger: log})
	if err != nil {
		lv.Close()
		return nil, err
	}
	lv.Register(web.Mux)
	return &served{lv: lv, web: web, reg: reg, base: "http://" + web.Addr()}, nil
}

// close ends the live view first: its streams would hold the HTTP server.
func (s *served) close() {
	s.lv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s.web.Shutdown(ctx)
}

func (s *served) waitNoViewers(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s.lv.Viewers(camera) == 0 {
			return nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return errors.New("viewers did not leave within 30s of closing their tabs")
}

// cores runs for d and returns the CPU seconds per wall second of this
// process and of the browser.
func cores(ctx context.Context, b *browser, d time.Duration) (vigil, chromium float64, err error) {
	c0, b0, t0 := results.CPUTime(), b.cpuTime(), time.Now()
	if err := sleep(ctx, d); err != nil {
		return 0, 0, err
	}
	wall := time.Since(t0).Seconds()
	return (results.CPUTime() - c0).Seconds() / wall, (b.cpuTime() - b0).Seconds() / wall, nil
}

// recordTracks runs the real detector and tracker over the video's first n
// frames and returns each frame's tracks.
func recordTracks(cfg config, n int, log zerolog.Logger) ([][]track.Track, []string, error) {
	det, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: cfg.Threads, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	defer det.Close()
	vc, err := gocv.VideoCaptureFile(cfg.Video)
	if err != nil {
		return nil, nil, err
	}
	defer vc.Close()
	img := gocv.NewMat()
	defer img.Close()
	tracking := pipeline.NewTracking(track.DefaultConfig())
	var out [][]track.Track
	for len(out) < n && vc.Read(&img) && !img.Empty() {
		dets, _, err := det.Detect(img, nil)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, tracking.Update(camera, dets))
	}
	return out, det.Labels(), nil
}

// measureCost measures the CPU the live view itself costs, with 0, 1 and 4
// viewers, without the detector in the process: the video is captured at
// its pace and every frame is given, with tracks recorded beforehand, to
// the live view as the pipeline would (Frame, then Consume). The detector's
// CPU, which swings with the machine's load by far more than the live view
// costs, is then out of the difference; what is left is capture (the same
// in every phase) and the live view.
func measureCost(ctx context.Context, cfg config, b *browser, rep *results.Report, log zerolog.Logger) error {
	const recorded = 50
	progress("cost: recording tracks on the video's first %d frames", recorded)
	tracks, labels, err := recordTracks(cfg, recorded, log)
	if err != nil {
		return err
	}
	cam, err := capture.New(capture.Config{ID: camera, URL: cfg.Video, Loop: true, Realtime: true}, log)
	if err != nil {
		return err
	}
	s, err := serve(cam, cfg, log)
	if err != nil {
		return err
	}
	defer s.close()
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cam.Run(runCtx, func(f *capture.Frame) {
			s.lv.Frame(f)
			s.lv.Consume(&pipeline.Result{Frame: f, Tracks: tracks[int(f.Seq-1)%len(tracks)], Labels: labels})
			f.Close()
		})
	}()
	defer func() { stop(); wg.Wait() }()

	phase := func(viewers int) (float64, float64, error) {
		progress("cost: %d viewers, %s after %s settling", viewers, cfg.Phase, cfg.Warmup)
		for b.tabCount() < viewers {
			if _, err := b.open(ctx, s.base, camera); err != nil {
				return 0, 0, err
			}
		}
		if viewers == 0 {
			b.closeTabs()
			if err := s.waitNoViewers(ctx); err != nil {
				return 0, 0, err
			}
		}
		if err := sleep(ctx, cfg.Warmup); err != nil {
			return 0, 0, err
		}
		return cores(ctx, b, cfg.Phase)
	}
	var c, chromium [4]float64
	for i, v := range []int{0, 1, 4, 0} {
		if c[i], chromium[i], err = phase(v); err != nil {
			return err
		}
	}
	base := (c[0] + c[3]) / 2
	n := float64(runtime.NumCPU())
	rep.Add("liveview_cpu_cores_capture_only", "%.3f", base)
	rep.Add("liveview_cpu_cores_1_viewer", "%.3f", c[1]-base)
	rep.Add("liveview_cpu_cores_4_viewers", "%.3f", c[2]-base)
	rep.Add("liveview_cpu_share_1_viewer", "%.3f", (c[1]-base)/n)
	rep.Add("liveview_cpu_share_4_viewers", "%.3f", (c[2]-base)/n)
	rep.Add("chromium_cpu_cores_1_viewer", "%.3f", chromium[1])
	rep.Add("chromium_cpu_cores_4_viewers", "%.3f", chromium[2])
	encodeMS(rep, s.reg, "liveview_cost_run_encode_ms")
	return nil
}

// encodeMS reports the mean of the live view's encode histogram.
func encodeMS(rep *results.Report, reg *prometheus.Registry, name string) {
	mf, err := reg.Gather()
	if err != nil {
		return
	}
	for _, f := range mf {
		if f.GetName() == "vigil_liveview_encode_seconds" && len(f.GetMetric()) > 0 {
			h := f.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() > 0 {
				rep.Add(name, "%.2f", h.GetSampleSum()/float64(h.GetSampleCount())*1000)
			}
		}
	}
}

// inferSink records each processed frame's inference time.
type inferSink struct {
	mu    sync.Mutex
	infer []time.Duration
}

func (s *inferSink) Consume(r *pipeline.Result) {
	s.mu.Lock()
	s.infer = append(s.infer, r.Timings.Infer)
	s.mu.Unlock()
}

func (s *inferSink) since(i int) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.infer[i:])
}

func (s *inferSink) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.infer)
}

// measurePipeline runs the real pipeline with the live view as `vigil run`
// wires it, and measures capture-to-browser latency with one viewer, and
// the detector's pace and the process's CPU with 0, 1 and 4 viewers.
func measurePipeline(ctx context.Context, cfg config, b *browser, rep *results.Report, log zerolog.Logger) error {
	det, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: cfg.Threads, Logger: log})
	if err != nil {
		return err
	}
	defer det.Close()
	cam, err := capture.New(capture.Config{ID: camera, URL: cfg.Video, Loop: true, Realtime: true}, log)
	if err != nil {
		return err
	}
	s, err := serve(cam, cfg, log)
	if err != nil {
		return err
	}
	infer := &inferSink{}
	p, err := pipeline.New(pipeline.Options{
		Cameras: []*capture.Camera{cam}, Detector: det, Labels: det.Labels(), Tracker: track.DefaultConfig(),
		Sinks: []pipeline.Sink{s.lv, infer}, Taps: []pipeline.Tap{s.lv}, Registry: s.reg, Logger: log,
	})
	if err != nil {
		s.close()
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() {
		stop()
		<-done
		s.close()
	}()

	type result struct {
		viewers         int
		cores, chromium float64
		fps             float64
		inferMean       time.Duration
	}
	var results []result
	phase := func(viewers int) error {
		progress("pipeline: %d viewers, %s after %s settling", viewers, cfg.Phase, cfg.Warmup)
		if err := sleep(ctx, cfg.Warmup); err != nil {
			return err
		}
		i0 := infer.mark()
		c, chromium, err := cores(ctx, b, cfg.Phase)
		if err != nil {
			return err
		}
		inf := infer.since(i0)
		results = append(results, result{viewers, c, chromium, float64(len(inf)) / cfg.Phase.Seconds(), mean(inf)})
		return nil
	}
	b.closeTabs()
	if err := phase(0); err != nil {
		return err
	}
	tab, err := b.open(ctx, s.base, camera)
	if err != nil {
		return err
	}
	if err := phase(1); err != nil {
		return err
	}
	lat, err := collectLatency(ctx, tab, camera, cfg.LatencyFrames)
	if err != nil {
		return err
	}
	for b.tabCount() < 4 {
		if _, err := b.open(ctx, s.base, camera); err != nil {
			return err
		}
	}
	if err := phase(4); err != nil {
		return err
	}
	b.closeTabs()

	rep.Add("liveview_latency_p50_ms", "%.1f", percentileF(lat, 50))
	rep.Add("liveview_latency_p99_ms", "%.1f", percentileF(lat, 99))
	rep.Add("liveview_latency_frames", "%d", len(lat))
	for _, r := range results {
		rep.Add(fmt.Sprintf("pipeline_%d_viewers_cpu_cores", r.viewers), "%.3f", r.cores)
		rep.Add(fmt.Sprintf("pipeline_%d_viewers_chromium_cpu_cores", r.viewers), "%.3f", r.chromium)
		rep.Add(fmt.Sprintf("pipeline_%d_viewers_processed_fps", r.viewers), "%.2f", r.fps)
		rep.Add(fmt.Sprintf("pipeline_%d_viewers_infer_ms", r.viewers), "%.1f", ms(r.inferMean))
	}
	encodeMS(rep, s.reg, "liveview_pipeline_run_encode_ms")
	return nil
}

func (b *browser) tabCount() int { return len(b.tabs) }
