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

// report collects the "name: value" lines, printing each as it comes, and
// the files that go beside them (profiles).
type report struct {
	lines     []string
	loadStart string
	files     []attachment
}

// attachment is a file written beside the results as <stamp>-<name> and
// latest-<name>.
type attachment struct {
	name string
	data []byte
}

func (r *report) attach(name string, data []byte) { r.files = append(r.files, attachment{name, data}) }

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
	for i, t := range rr.serial {
		r.add(fmt.Sprintf("pipeline_serial_fps_%d", i+1), "%.2f", t.FPS())
	}
	for i, t := range rr.gocv {
		r.add(fmt.Sprintf("gocv_dnn_fps_%d", i+1), "%.2f", t.FPS())
	}
	for i, t := range rr.python {
		r.add(fmt.Sprintf("python_cv2dnn_fps_%d", i+1), "%.2f", t.FPS())
	}
	raw := mean(rr.raw, timedRun.FPS)
	detect := mean(rr.detect, timedRun.FPS)
	pipe := mean(rr.pipeline, throughputRun.FPS)
	serial := mean(rr.serial, throughputRun.FPS)
	r.add("raw_fps", "%.2f", raw)
	r.add("raw_ms_per_inference", "%.2f", mean(rr.raw, timedRun.MS))
	r.add("detect_fps", "%.2f", detect)
	r.add("detect_vs_raw", "%.3f", detect/raw)
	r.add("pipeline_fps", "%.2f", pipe)
	r.add("pipeline_vs_raw", "%.3f", pipe/raw)
	r.add("pipeline_serial_fps", "%.2f", serial)
	r.add("pipeline_serial_vs_raw", "%.3f", serial/raw)
	r.add("overlap_gain", "%.3f", pipe/serial)
	// The machine's speed drifts (a shared VM: whole rounds run 30% slower
	// than their neighbours), so each pipeline run is also set against the
	// raw runs on either side of it; the median of those is the steadier
	// ratio.
	var pr, sr []float64
	for i, p := range rr.pipeline {
		around := (rr.raw[i].FPS() + rr.raw[i+1].FPS()) / 2
		pr, sr = append(pr, p.FPS()/around), append(sr, rr.serial[i].FPS()/around)
		r.add(fmt.Sprintf("pipeline_vs_raw_%d", i+1), "%.3f", pr[i])
	}
	r.add("pipeline_vs_raw_median", "%.3f", median(pr))
	// Steady state: the median time of one inference (raw) and between two
	// results (pipeline), over every round. Bursts when another tenant of
	// the VM takes the CPU leave it alone — and so would a cost of vigil's
	// own that hits fewer than half the frames (a GC cycle); the means
	// above include both.
	var rawCalls, pipeGaps []time.Duration
	for _, t := range rr.raw {
		rawCalls = append(rawCalls, t.Calls...)
	}
	for _, t := range rr.pipeline {
		pipeGaps = append(pipeGaps, t.intervals()...)
	}
	rawMed, pipeMed := percentile(rawCalls, 50), percentile(pipeGaps, 50)
	r.add("raw_steady_ms_per_inference", "%.2f", ms(rawMed))
	r.add("pipeline_steady_ms_per_frame", "%.2f", ms(pipeMed))
	r.add("pipeline_vs_raw_steady", "%.3f", float64(rawMed)/float64(pipeMed))
	r.add("pipeline_serial_vs_raw_median", "%.3f", median(sr))
	if len(rr.gocv) > 0 {
		gocv := mean(rr.gocv, timedRun.FPS)
		py := mean(rr.python, pythonRun.FPS)
		r.add("gocv_dnn_fps", "%.2f", gocv)
		r.add("gocv_dnn_ms_per_frame", "%.1f", mean(rr.gocv, timedRun.MS))
		r.add("python_cv2dnn_fps", "%.2f", py)
		r.add("python_cv2dnn_ms_per_frame", "%.1f", 1000/py)
		r.add("vigil_vs_gocv_dnn", "%.3f", pipe/gocv)
		r.add("vigil_vs_python_cv2dnn", "%.3f", pipe/py)
		var g, p []float64 // per round, as for pipeline_vs_raw
		for i := range rr.gocv {
			g, p = append(g, rr.pipeline[i].FPS()/rr.gocv[i].FPS()), append(p, rr.pipeline[i].FPS()/rr.python[i].FPS())
		}
		r.add("vigil_vs_gocv_dnn_median", "%.3f", median(g))
		r.add("vigil_vs_python_cv2dnn_median", "%.3f", median(p))
		r.add("python_cv2dnn_max_abs_diff", "%s", rr.python[0]["max_abs_diff"])
		r.add("opencv_reads_stock_model", "%s", rr.python[0]["stock_model_loads"])
		if e := rr.python[0]["stock_model_error"]; e != "" {
			r.add("opencv_stock_model_error", "%s", e)
		}
	}
	r.add("raw_cpu_ms_per_inference", "%.1f", mean(rr.raw, timedRun.CPUMS))
	r.add("detect_cpu_ms_per_frame", "%.1f", mean(rr.detect, timedRun.CPUMS))
	r.add("pipeline_cpu_ms_per_frame", "%.1f", mean(rr.pipeline, throughputRun.CPUMS))
	r.add("pipeline_serial_cpu_ms_per_frame", "%.1f", mean(rr.serial, throughputRun.CPUMS))
	if len(rr.gocv) > 0 {
		r.add("gocv_dnn_cpu_ms_per_frame", "%.1f", mean(rr.gocv, timedRun.CPUMS))
		r.add("python_cv2dnn_cpu_ms_per_frame", "%.1f", mean(rr.python, pythonRun.CPUMS))
	}
	r.add("pipeline_process_allocs_per_frame", "%.1f", mean(rr.pipeline, throughputRun.AllocsPerFrame))
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

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
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
	stamp := at.Format("2006-01-02-150405")
	path := filepath.Join(dir, stamp+".txt")
	for _, p := range []string{path, filepath.Join(dir, "latest.txt")} {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return "", fmt.Errorf("results: %w", err)
		}
	}
	for _, f := range r.files {
		for _, p := range []string{stamp + "-" + f.name, "latest-" + f.name} {
			if err := os.WriteFile(filepath.Join(dir, p), f.data, 0o644); err != nil {
				return "", fmt.Errorf("results: %w", err)
			}
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
	if matprofileBuild {
		fmt.Fprintf(&b, "# built with -tags matprofile (make bench-long)\n")
	}
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
