package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/pipeline"
	"gocv.io/x/gocv"
)

// report is the run's results.Report, with the ways this program adds its
// numbers to it.
type report struct{ *results.Report }

func newReport() *report { return &report{results.New()} }

// addRounds reports every run, then the means and the ratios to raw.
func (r *report) addRounds(rr rounds) {
	for i, t := range rr.raw {
		r.Add(fmt.Sprintf("raw_fps_%d", i+1), "%.2f", t.FPS())
	}
	for i, t := range rr.detect {
		r.Add(fmt.Sprintf("detect_fps_%d", i+1), "%.2f", t.FPS())
	}
	for i, t := range rr.pipeline {
		r.Add(fmt.Sprintf("pipeline_fps_%d", i+1), "%.2f", t.FPS())
	}
	for i, t := range rr.serial {
		r.Add(fmt.Sprintf("pipeline_serial_fps_%d", i+1), "%.2f", t.FPS())
	}
	for i, t := range rr.gocv {
		r.Add(fmt.Sprintf("gocv_dnn_fps_%d", i+1), "%.2f", t.FPS())
	}
	for i, t := range rr.python {
		r.Add(fmt.Sprintf("python_cv2dnn_fps_%d", i+1), "%.2f", t.FPS())
	}
	raw := mean(rr.raw, timedRun.FPS)
	detect := mean(rr.detect, timedRun.FPS)
	pipe := mean(rr.pipeline, throughputRun.FPS)
	serial := mean(rr.serial, throughputRun.FPS)
	r.Add("raw_fps", "%.2f", raw)
	r.Add("raw_ms_per_inference", "%.2f", mean(rr.raw, timedRun.MS))
	r.Add("detect_fps", "%.2f", detect)
	r.Add("detect_vs_raw", "%.3f", detect/raw)
	r.Add("pipeline_fps", "%.2f", pipe)
	r.Add("pipeline_vs_raw", "%.3f", pipe/raw)
	r.Add("pipeline_serial_fps", "%.2f", serial)
	r.Add("pipeline_serial_vs_raw", "%.3f", serial/raw)
	r.Add("overlap_gain", "%.3f", pipe/serial)
	// The machine's speed drifts (a shared VM: whole rounds run 30% slower
	// than their neighbours), so each pipeline run is also set against the
	// raw runs on either side of it; the median of those is the steadier
	// ratio.
	var pr, sr []float64
	for i, p := range rr.pipeline {
		around := (rr.raw[i].FPS() + rr.raw[i+1].FPS()) / 2
		pr, sr = append(pr, p.FPS()/around), append(sr, rr.serial[i].FPS()/around)
		r.Add(fmt.Sprintf("pipeline_vs_raw_%d", i+1), "%.3f", pr[i])
	}
	r.Add("pipeline_vs_raw_median", "%.3f", median(pr))
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
	r.Add("raw_steady_ms_per_inference", "%.2f", ms(rawMed))
	r.Add("pipeline_steady_ms_per_frame", "%.2f", ms(pipeMed))
	r.Add("pipeline_vs_raw_steady", "%.3f", float64(rawMed)/float64(pipeMed))
	r.Add("pipeline_serial_vs_raw_median", "%.3f", median(sr))
	if len(rr.gocv) > 0 {
		gocv := mean(rr.gocv, timedRun.FPS)
		py := mean(rr.python, pythonRun.FPS)
		r.Add("gocv_dnn_fps", "%.2f", gocv)
		r.Add("gocv_dnn_ms_per_frame", "%.1f", mean(rr.gocv, timedRun.MS))
		r.Add("python_cv2dnn_fps", "%.2f", py)
		r.Add("python_cv2dnn_ms_per_frame", "%.1f", 1000/py)
		r.Add("vigil_vs_gocv_dnn", "%.3f", pipe/gocv)
		r.Add("vigil_vs_python_cv2dnn", "%.3f", pipe/py)
		var g, p []float64 // per round, as for pipeline_vs_raw
		for i := range rr.gocv {
			g, p = append(g, rr.pipeline[i].FPS()/rr.gocv[i].FPS()), append(p, rr.pipeline[i].FPS()/rr.python[i].FPS())
		}
		r.Add("vigil_vs_gocv_dnn_median", "%.3f", median(g))
		r.Add("vigil_vs_python_cv2dnn_median", "%.3f", median(p))
		r.Add("python_cv2dnn_max_abs_diff", "%s", rr.python[0]["max_abs_diff"])
		r.Add("opencv_reads_stock_model", "%s", rr.python[0]["stock_model_loads"])
		if e := rr.python[0]["stock_model_error"]; e != "" {
			r.Add("opencv_stock_model_error", "%s", e)
		}
	}
	r.Add("raw_cpu_ms_per_inference", "%.1f", mean(rr.raw, timedRun.CPUMS))
	r.Add("detect_cpu_ms_per_frame", "%.1f", mean(rr.detect, timedRun.CPUMS))
	r.Add("pipeline_cpu_ms_per_frame", "%.1f", mean(rr.pipeline, throughputRun.CPUMS))
	r.Add("pipeline_serial_cpu_ms_per_frame", "%.1f", mean(rr.serial, throughputRun.CPUMS))
	if len(rr.gocv) > 0 {
		r.Add("gocv_dnn_cpu_ms_per_frame", "%.1f", mean(rr.gocv, timedRun.CPUMS))
		r.Add("python_cv2dnn_cpu_ms_per_frame", "%.1f", mean(rr.python, pythonRun.CPUMS))
	}
	r.Add("pipeline_process_allocs_per_frame", "%.1f", mean(rr.pipeline, throughputRun.AllocsPerFrame))
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
		r.Add("pipeline_"+st.name+"_ms", "%.2f", mean(rr.pipeline, func(t throughputRun) float64 { return t.meanStage(st.of) }))
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
	r.Add("latency_p50_ms", "%.1f", ms(percentile(l.sink.latencies, 50)))
	r.Add("latency_p99_ms", "%.1f", ms(percentile(l.sink.latencies, 99)))
	r.Add("dropped_share", "%.3f", l.DroppedShare())
	r.Add("latency_captured", "%d", l.captured)
	r.Add("latency_processed", "%d", l.processed)
	r.Add("latency_dropped", "%d", l.dropped)
	r.Add("latency_processed_fps", "%.2f", float64(l.processed)/l.duration.Seconds())
	r.Add("nats_latency_p50_ms", "%.1f", ms(percentile(l.delivered, 50)))
	r.Add("nats_latency_p99_ms", "%.1f", ms(percentile(l.delivered, 99)))
	r.Add("nats_received", "%d", len(l.delivered))
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

// goRun is how `go run` starts this program, for the results' header.
const goRun = "go run ./bench/cmd/vigil-bench"

// header says how the numbers were made: the command, its flags and the
// machine.
func (r *report) header(at time.Time) []string {
	h := []string{"vigil-bench, " + at.Format(time.RFC3339), "command: " + results.CommandLine(goRun)}
	if matprofileBuild {
		h = append(h, "built with -tags matprofile (make bench-long)")
	}
	return append(h,
		"flags: "+results.Flags(),
		"nproc: "+results.NProc(),
		"cpu: "+results.CPUInfo("model name"),
		"go: "+results.GoVersion(),
		"onnxruntime: "+detect.RuntimeVersion(),
		"opencv: "+gocv.OpenCVVersion(),
		r.Load(),
	)
}
