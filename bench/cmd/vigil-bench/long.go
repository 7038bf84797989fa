package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/pipeline"
)

// long runs the long measurements (-long): capture→publish latency per
// minute at 10 and 30 fps, 1 to 8 cameras, and memory over a long run.
func (b *bench) long(ctx context.Context, rep *report, rr rounds) error {
	for _, fps := range []float64{10, 30} {
		progress("long latency: %s at %g fps, real-time", b.cfg.LongLatency, fps)
		l, err := b.latency(ctx, fps, b.cfg.LongLatency, 1)
		if err != nil {
			return err
		}
		rep.addMinutes(fmt.Sprintf("latency%g", fps), l)
	}
	raw := mean(rr.raw, timedRun.FPS)
	for _, n := range b.cfg.Cameras {
		progress("cameras: %d × %s, real-time, %s", n, b.cfg.Video, b.cfg.CameraRun)
		l, err := b.latency(ctx, 0, b.cfg.CameraRun, n)
		if err != nil {
			return err
		}
		rep.addCameras(fmt.Sprintf("cameras%d", n), l, raw)
	}
	if err := b.splitDetectors(ctx, rep, raw); err != nil {
		return err
	}
	progress("memory: %s on %s looped, as fast as it goes", b.cfg.MemoryRun, b.cfg.Video)
	if err := b.memory(ctx, rep); err != nil {
		return err
	}
	progress("allocations per frame: go test -bench BenchmarkPipelineFrame ./pipeline")
	return goBenchmarkAllocs(rep)
}

// splitDetectors runs 2 cameras with a detector each (-threads split
// between them), against the 2-camera run with one detector for both: what
// detectors: buys, or costs, on this machine.
func (b *bench) splitDetectors(ctx context.Context, rep *report, raw float64) error {
	const n = 2
	threads := max(1, b.cfg.Threads/n)
	groups := make([]pipeline.Group, n)
	for i := range groups {
		d, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: threads, IntraOpSpinning: b.cfg.Spinning, Logger: b.log})
		if err != nil {
			return err
		}
		defer d.Close()
		groups[i] = pipeline.Group{Name: fmt.Sprintf("g%d", i+1), Detector: d, Labels: d.Labels()}
	}
	progress("detectors: %d cameras, a detector each at %d thread(s), real-time, %s", n, threads, b.cfg.CameraRun)
	l, err := b.latencyWith(ctx, 0, b.cfg.CameraRun, n, runOptions{groups: groups})
	if err != nil {
		return err
	}
	rep.addCameras(fmt.Sprintf("cameras%d_split_detectors", n), l, raw)
	return nil
}

// addMinutes reports a latency run minute by minute (by the time each result
// arrived), then as a whole.
func (r *report) addMinutes(prefix string, l latencyRun) {
	s := l.sink
	minutes := int(l.duration / time.Minute)
	var first, last time.Duration
	for m := range minutes {
		var lat []time.Duration
		for i, at := range s.arrivals {
			if int(at.Sub(l.start)/time.Minute) == m {
				lat = append(lat, s.latencies[i])
			}
		}
		p99 := percentile(lat, 99)
		r.Add(fmt.Sprintf("%s_min%d_p50_ms", prefix, m+1), "%.1f", ms(percentile(lat, 50)))
		r.Add(fmt.Sprintf("%s_min%d_p99_ms", prefix, m+1), "%.1f", ms(p99))
		r.Add(fmt.Sprintf("%s_min%d_frames", prefix, m+1), "%d", len(lat))
		if m == 0 {
			first = p99
		}
		last = p99
	}
	if first > 0 {
		r.Add(prefix+"_p99_last_vs_first_minute", "%.3f", float64(last)/float64(first))
	}
	r.Add(prefix+"_p50_ms", "%.1f", ms(percentile(s.latencies, 50)))
	r.Add(prefix+"_p99_ms", "%.1f", ms(percentile(s.latencies, 99)))
	r.Add(prefix+"_dropped_share", "%.3f", l.DroppedShare())
	r.Add(prefix+"_captured", "%d", l.captured)
	r.Add(prefix+"_processed", "%d", l.processed)
	r.Add(prefix+"_processed_fps", "%.2f", float64(l.processed)/l.duration.Seconds())
}

// addCameras reports a multi-camera run: total rate against the raw bound,
// and fairness, the slowest camera's rate over the fastest one's.
func (r *report) addCameras(prefix string, l latencyRun, raw float64) {
	lo, hi := l.cameras[0].processed, l.cameras[0].processed
	for _, c := range l.cameras {
		lo, hi = min(lo, c.processed), max(hi, c.processed)
	}
	fps := float64(l.processed) / l.duration.Seconds()
	r.Add(prefix+"_fps", "%.2f", fps)
	r.Add(prefix+"_vs_raw", "%.3f", fps/raw)
	fair := 1.0
	if hi > 0 {
		fair = float64(lo) / float64(hi)
	}
	r.Add(prefix+"_fairness", "%.3f", fair)
	r.Add(prefix+"_p50_ms", "%.1f", ms(percentile(l.sink.latencies, 50)))
	r.Add(prefix+"_p99_ms", "%.1f", ms(percentile(l.sink.latencies, 99)))
	r.Add(prefix+"_dropped_share", "%.3f", l.DroppedShare())
}

// memory runs the pipeline on the video looped as fast as it goes, with a
// lean sink, sampling the process's resident memory and Go heap; it reports
// their per-minute means and slopes, and the Mats left open after the run.
func (b *bench) memory(ctx context.Context, rep *report) error {
	cam, err := capture.New(capture.Config{ID: cameraID, URL: b.cfg.Video, Loop: true}, b.log)
	if err != nil {
		return err
	}
	matsBefore, counted := matsAlive()
	runCtx, cancel := context.WithTimeout(ctx, b.cfg.MemoryRun)
	defer cancel()
	const every = 5 * time.Second
	type sample struct {
		at        time.Duration
		rss, heap float64 // MiB
	}
	var samples []sample
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				samples = append(samples, sample{time.Since(start), rssMiB(), heapMiB()})
			}
		}
	}()
	b.nats.countOnly.Store(true)
	allocs0 := heapAllocs()
	r, err := b.runPipeline(runCtx, []*capture.Camera{cam}, runOptions{lean: true})
	allocs := heapAllocs() - allocs0
	b.nats.countOnly.Store(false)
	<-done
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	minutes := int(elapsed / time.Minute)
	for m := range minutes {
		var rss, heap, n float64
		for _, s := range samples {
			if int(s.at/time.Minute) == m {
				rss, heap, n = rss+s.rss, heap+s.heap, n+1
			}
		}
		if n > 0 {
			rep.Add(fmt.Sprintf("memory_rss_mib_min%d", m+1), "%.1f", rss/n)
			rep.Add(fmt.Sprintf("memory_heap_mib_min%d", m+1), "%.1f", heap/n)
		}
	}
	// Slopes leave the first minute out: buffers, pools and the arena
	// fill up then.
	var xs, rss, heap []float64
	for _, s := range samples {
		if s.at >= time.Minute {
			xs, rss, heap = append(xs, s.at.Minutes()), append(rss, s.rss), append(heap, s.heap)
		}
	}
	rep.Add("memory_rss_slope_mib_per_min", "%.3f", slope(xs, rss))
	rep.Add("memory_heap_slope_mib_per_min", "%.3f", slope(xs, heap))
	rep.Add("memory_frames", "%d", r.processed)
	rep.Add("memory_fps", "%.2f", float64(r.processed)/elapsed.Seconds())
	rep.Add("memory_process_allocs_per_frame", "%.1f", float64(allocs)/float64(max(r.processed, 1)))
	rep.Add("memory_nats_received", "%d", b.nats.counted.Swap(0))
	if counted {
		after, _ := matsAlive()
		rep.Add("mats_alive_after_run", "%d", after-matsBefore)
	} else {
		rep.Add("mats_alive_after_run", "%s", "not counted (build with -tags matprofile: make bench-long)")
	}
	return nil
}

// slope is the least-squares slope of ys over xs; 0 for fewer than 2 points.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// rssMiB is the process's resident set size.
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize()) / (1 << 20)
}

// heapMiB is the Go heap's live and not yet swept objects.
func heapMiB() float64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return float64(s[0].Value.Uint64()) / (1 << 20)
}

// heapAllocs counts the heap allocations the process has made so far.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// goBenchmarkAllocs runs the pipeline's Go benchmark and reports its
// allocations per frame in steady state, overlapped and serial.
func goBenchmarkAllocs(rep *report) error {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "BenchmarkPipelineFrame", "-benchtime", "100x", "./pipeline")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go test -bench BenchmarkPipelineFrame ./pipeline: %w\n%s%s", err, out, stderr.String())
	}
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], "BenchmarkPipelineFrame/") {
			continue
		}
		mode, _, _ := strings.Cut(strings.TrimPrefix(f[0], "BenchmarkPipelineFrame/"), "-")
		for i := 1; i+1 < len(f); i++ {
			switch f[i+1] {
			case "allocs/frame":
				rep.Add("benchmark_allocs_per_frame_"+mode, "%s", f[i])
			case "B/frame":
				rep.Add("benchmark_bytes_per_frame_"+mode, "%s", f[i])
			case "ns/op":
				v, _ := strconv.ParseFloat(f[i], 64)
				rep.Add("benchmark_ms_per_frame_"+mode, "%.1f", v/1e6)
			}
		}
	}
	return nil
}
