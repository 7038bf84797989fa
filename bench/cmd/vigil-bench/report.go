package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/pipeline"
	"gocv.io/x/gocv"
)

// report collects the "name: value" lines, printing each as it comes.
type report struct {
	lines     []string
	loadStart string
}

// newReport starts a report; it notes the load average now, since other
// work on the machine shows in every number.
func newReport() *report { return &report{loadStart: loadAverage()} }

func (r *report) add(name, format string, v any) {
	line := fmt.Sprintf("%s: "+format, name, v)
	r.lines = append(r.lines, line)
	fmt.Println(line)
}

// addRounds reports every run, then the means and the ratios to raw.
func (r *report) addRounds(rr rounds) {
	for i, t := range rr.raw {
		r.add(fmt.Sprintf("raw_fps_%d", i+1), "%.2f", t.FPS())
	}
	for i, t := range rr.detect {
		r.add(fmt.Sprintf("detect_fps_%d", i+1), "%.2f", t.FPS())
	}
	for i, t := range rr.pipeline {
		r.add(fmt.Sprintf("pipeline_fps_%d", i+1), "%.2f", t.FPS())
	}
	raw := mean(rr.raw, timedRun.FPS)
	detect := mean(rr.detect, timedRun.FPS)
	pipe := mean(rr.pipeline, throughputRun.FPS)
	r.add("raw_fps", "%.2f", raw)
	r.add("raw_ms_per_inference", "%.2f", mean(rr.raw, timedRun.MS))
	r.add("detect_fps", "%.2f", detect)
	r.add("detect_vs_raw", "%.3f", detect/raw)
	r.add("pipeline_fps", "%.2f", pipe)
	r.add("pipeline_vs_raw", "%.3f", pipe/raw)
	r.add("raw_cpu_ms_per_inference", "%.1f", mean(rr.raw, timedRun.CPUMS))
	r.add("detect_cpu_ms_per_frame", "%.1f", mean(rr.detect, timedRun.CPUMS))
	r.add("pipeline_cpu_ms_per_frame", "%.1f", mean(rr.pipeline, throughputRun.CPUMS))
	stages := []struct {
		name string
		of   func(pipeline.Timings) time.Duration
	}{
		{"preprocess", func(t pipeline.Timings) time.Duration { return t.Preprocess }},
		{"infer", func(t pipeline.Timings) time.Duration { return t.Infer }},
		{"postprocess", func(t pipeline.Timings) time.Duration { return t.Postprocess }},
		{"track", func(t pipeline.Timings) time.Duration { return t.Track }},
	}
	for _, st := range stages {
		r.add("pipeline_"+st.name+"_ms", "%.2f", mean(rr.pipeline, func(t throughputRun) float64 { return t.meanStage(st.of) }))
	}
}

func mean[T any](xs []T, f func(T) float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += f(x)
	}
	return sum / float64(len(xs))
}

func (r *report) addLatency(l latencyRun) {
	r.add("latency_p50_ms", "%.1f", ms(percentile(l.sink.latencies, 50)))
	r.add("latency_p99_ms", "%.1f", ms(percentile(l.sink.latencies, 99)))
	r.add("dropped_share", "%.3f", l.DroppedShare())
	r.add("latency_captured", "%d", l.captured)
	r.add("latency_processed", "%d", l.processed)
	r.add("latency_dropped", "%d", l.dropped)
	r.add("latency_processed_fps", "%.2f", float64(l.processed)/l.duration.Seconds())
	r.add("nats_latency_p50_ms", "%.1f", ms(percentile(l.delivered, 50)))
	r.add("nats_latency_p99_ms", "%.1f", ms(percentile(l.delivered, 99)))
	r.add("nats_received", "%d", len(l.delivered))
}

// percentile is the nearest-rank p-th percentile; 0 for no samples.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(p/100*float64(len(s)) + 0.999999)
	return s[min(max(rank, 1), len(s))-1]
}

// write saves the results as dir/YYYY-MM-DD-HHMMSS.txt and dir/latest.txt
// and returns the dated file's path.
func (r *report) write(dir string, at time.Time) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("results folder: %w", err)
	}
	text := r.header(at) + strings.Join(r.lines, "\n") + "\n"
	path := filepath.Join(dir, at.Format("2006-01-02-150405")+".txt")
	for _, p := range []string{path, filepath.Join(dir, "latest.txt")} {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return "", fmt.Errorf("results: %w", err)
		}
	}
	return path, nil
}

// header says how the numbers were made: the command, its flags and the
// machine.
func (r *report) header(at time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# vigil-bench, %s\n", at.Format(time.RFC3339))
	fmt.Fprintf(&b, "# command: %s\n", commandLine())
	fmt.Fprintf(&b, "# flags: %s\n", effectiveFlags())
	fmt.Fprintf(&b, "# nproc: %d (GOMAXPROCS %d)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&b, "# cpu: %s\n", cpuModel())
	fmt.Fprintf(&b, "# go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "# onnxruntime: %s\n", detect.RuntimeVersion())
	fmt.Fprintf(&b, "# opencv: %s\n", gocv.OpenCVVersion())
	fmt.Fprintf(&b, "# load average (1, 5, 15 min) at start: %s; at end: %s\n", r.loadStart, loadAverage())
	return b.String()
}

// commandLine is how the program was started; `go run` builds into a
// temporary folder, which is written as the `go run` that made it.
func commandLine() string {
	name := os.Args[0]
	if strings.Contains(name, string(filepath.Separator)+"go-build") {
		name = "go run ./bench/cmd/vigil-bench"
	}
	return strings.Join(append([]string{name}, os.Args[1:]...), " ")
}

// effectiveFlags lists every flag with the value it had, defaults included.
func effectiveFlags() string {
	var fs []string
	flag.VisitAll(func(f *flag.Flag) {
		fs = append(fs, fmt.Sprintf("-%s=%s", f.Name, f.Value))
	})
	return strings.Join(fs, " ")
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
