// Command vigil-model-bench measures what `vigil model quantize` buys and
// costs on the default model: FP32 against INT8 (and FP16 where asked)
// inference speed, taken in one run in interleaved rounds, and the INT8
// model's detection agreement with FP32 on frames of vtest.avi and the
// sample images (frames other than the calibration ones).
//
// On CPU it prints int8_speedup and int8_agreement (goal: ≥ 1.5 and
// ≥ 0.95). With -providers cuda or tensorrt (a GPU build of onnxruntime,
// scripts/gpu-check.sh) it measures the GPU path: TensorRT FP16 is the FP32
// model with trt_fp16_enable, TensorRT INT8 the QDQ model with
// trt_int8_enable (TensorRT takes the scales from the Q/DQ nodes).
//
// Only "name: value" lines go to stdout; the results file adds the command,
// the flags and the machine as "#" lines.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/model"
	"gocv.io/x/gocv"
)

type config struct {
	Threads, Rounds, Runs, Warmup int
	CalibFrames, EvalFrames       int
	Precisions, Providers, Method string
	Results, Keep, Runtime        string
}

func parseFlags() config {
	var c config
	flag.IntVar(&c.Threads, "threads", 2, "onnxruntime intra-op threads, for every model")
	flag.IntVar(&c.Rounds, "rounds", 10, "speed rounds; each runs every precision once, back to back")
	flag.IntVar(&c.Runs, "runs", 10, "timed inferences per precision per round")
	flag.IntVar(&c.Warmup, "warmup", 3, "untimed inferences per precision before the first round")
	flag.IntVar(&c.CalibFrames, "calib-frames", 32, "calibration frames (vtest.avi and the sample images)")
	flag.IntVar(&c.EvalFrames, "eval-frames", 100, "vtest.avi frames the agreement is measured on, besides the sample images")
	flag.StringVar(&c.Precisions, "precisions", "fp32,int8", "models to measure: fp32, int8, fp16")
	flag.StringVar(&c.Providers, "providers", "cpu", "execution providers in order, e.g. tensorrt,cuda,cpu (no fallback: a missing one is an error)")
	flag.StringVar(&c.Method, "method", model.MethodMinMax, "activation range method: minmax or percentile")
	flag.StringVar(&c.Results, "results", "bench/results", "folder for model-<date>.txt and model-latest.txt; empty: write none")
	flag.StringVar(&c.Keep, "keep", "", "folder to keep the INT8 and FP16 models in (default: a temporary one)")
	flag.StringVar(&c.Runtime, "onnxruntime-lib", "", "libonnxruntime.so path (default: the one from make deps; a GPU build for cuda/tensorrt)")
	flag.Parse()
	return c
}

func main() {
	cfg := parseFlags()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "vigil-model-bench:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "vigil-model-bench: "+format+"\n", args...)
}

func run(cfg config) error {
	precisions := strings.Split(cfg.Precisions, ",")
	providers := strings.Split(cfg.Providers, ",")
	if cfg.Rounds < 1 || cfg.Runs < 1 || cfg.Threads < 0 || len(precisions) == 0 {
		return errors.New("-rounds and -runs must be at least 1")
	}
	video := assets.Media("vtest.avi")
	images := []string{assets.Media("messi5.jpg"), assets.Media("basketball1.png")}
	for _, p := range append([]string{assets.Library(), assets.Model(), video}, images...) {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("missing %s: run `make deps`", p)
		}
	}
	lib := cfg.Runtime
	if lib == "" {
		lib = assets.Library()
	}
	if err := detect.InitRuntime(lib); err != nil {
		return err
	}
	rep := results.New()
	dir := cfg.Keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "vigil-model-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	paths := map[string]string{"fp32": assets.Model()}
	fp32, err := model.Load(assets.Model())
	if err != nil {
		return err
	}
	for _, p := range precisions {
		switch p {
		case "fp32":
		case "int8":
			progress("quantizing: %d calibration frames of vtest.avi and the sample images, %s", cfg.CalibFrames, cfg.Method)
			t0 := time.Now()
			q, qr, err := model.Quantize(fp32, model.Options{Method: cfg.Method, Threads: cfg.Threads,
				Calibration: model.Frames{Paths: append([]string{video}, images...), Max: cfg.CalibFrames}})
			if err != nil {
				return err
			}
			rep.Add("int8_quantize_seconds", "%.1f", time.Since(t0).Seconds())
			rep.Add("int8_calibration_frames", "%d", qr.Frames)
			paths["int8"] = filepath.Join(dir, "yolov8n-int8.onnx")
			if err := model.Save(q, paths["int8"]); err != nil {
				return err
			}
		case "fp16":
			h, _, err := model.ToFP16(fp32)
			if err != nil {
				return err
			}
			paths["fp16"] = filepath.Join(dir, "yolov8n-fp16.onnx")
			if err := model.Save(h, paths["fp16"]); err != nil {
				return err
			}
		default:
			return fmt.Errorf("-precisions: unknown %q; use fp32, int8 or fp16", p)
		}
	}
	for _, p := range precisions {
		if st, err := os.Stat(paths[p]); err == nil {
			rep.Add(p+"_model_mib", "%.2f", float64(st.Size())/(1<<20))
		}
	}

	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel)
	dets := map[string]*detect.Detector{}
	defer func() {
		for _, d := range dets {
			d.Close()
		}
	}()
	for _, p := range precisions {
		o := detectorOptions(cfg, providers, p, paths, log)
		d, err := detect.New(o)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		dets[p] = d
		progress("%s: %s on %s", p, o.Model, strings.Join(d.Providers(), ","))
	}

	frame, err := firstFrame(video)
	if err != nil {
		return err
	}
	defer frame.Close()
	speeds, err := measureSpeed(cfg, precisions, dets, frame)
	if err != nil {
		return err
	}
	for _, p := range precisions {
		for i, s := range speeds[p] {
			rep.Add(fmt.Sprintf("%s_fps_%d", p, i+1), "%.2f", s.fps())
		}
	}
	for _, p := range precisions {
		rep.Add(p+"_fps", "%.2f", medianOf(speeds[p], speed.fps))
		rep.Add(p+"_ms_per_inference", "%.2f", 1000/medianOf(speeds[p], speed.fps))
		rep.Add(p+"_cpu_ms_per_frame", "%.1f", medianOf(speeds[p], speed.cpuMS))
	}
	for _, p := range precisions {
		if p == "fp32" {
			continue
		}
		// Each round runs both back to back: the ratio within a round is
		// what other work on the machine disturbs least, and the median
		// drops the rounds that a burst of it hit.
		ratio := make([]float64, len(speeds[p]))
		cpu := make([]float64, len(speeds[p]))
		for r := range ratio {
			ratio[r] = speeds[p][r].fps() / speeds["fp32"][r].fps()
			cpu[r] = speeds["fp32"][r].cpuMS() / speeds[p][r].cpuMS()
		}
		rep.Add(p+"_speedup", "%.3f", median(ratio))
		rep.Add(p+"_speedup_of_totals", "%.3f", totalFPS(speeds[p])/totalFPS(speeds["fp32"]))
		rep.Add(p+"_cpu_speedup", "%.3f", median(cpu))
	}

	for _, p := range precisions {
		if p == "fp32" {
			continue
		}
		progress("agreement of %s with fp32: %d frames of vtest.avi and the sample images", p, cfg.EvalFrames)
		// Phase 0.5 puts the evaluation frames between the calibration ones.
		c, err := model.Compare(paths["fp32"], paths[p], model.CompareOptions{Threads: cfg.Threads, Logger: log,
			Frames: model.Frames{Paths: append([]string{video}, images...), Max: cfg.EvalFrames + len(images), Phase: 0.5}})
		if err != nil {
			return err
		}
		person, _ := c.Class("person")
		rep.Add(p+"_agreement", "%.3f", person.Agreement())
		rep.Add(p+"_person_precision", "%.3f", person.Precision)
		rep.Add(p+"_person_recall", "%.3f", person.Recall)
		rep.Add(p+"_person_ref_cand_matched", "%s", fmt.Sprintf("%d %d %d", person.Ref, person.Cand, person.Matched))
		rep.Add(p+"_agreement_all_classes", "%.3f", c.Agreement)
		rep.Add(p+"_mean_score_change", "%+.4f", c.MeanScoreChange)
		rep.Add(p+"_mean_box_iou", "%.3f", c.MeanBoxIoU)
		rep.Add(p+"_compare_frames", "%d", c.Frames)
	}
	if cfg.Results == "" {
		return nil
	}
	at := time.Now()
	path, err := rep.Write(cfg.Results, "model-", at, header(rep, at))
	if err != nil {
		return err
	}
	progress("results written to %s", path)
	return nil
}

// detectorOptions: on TensorRT, FP16 is the FP32 model built with
// trt_fp16_enable, INT8 the QDQ model built with trt_int8_enable.
func detectorOptions(cfg config, providers []string, p string, paths map[string]string, log zerolog.Logger) detect.Options {
	o := detect.Options{Model: paths[p], IntraOpThreads: cfg.Threads, Providers: providers, Logger: log}
	if providers[0] == "tensorrt" {
		o.TensorRT.EngineCacheDir = filepath.Join(os.TempDir(), "vigil-trt-cache")
		switch p {
		case "fp16":
			o.Model, o.TensorRT.FP16 = paths["fp32"], true
		case "int8":
			o.TensorRT.INT8, o.TensorRT.FP16 = true, true // layers TensorRT keeps in float run in FP16
		}
	}
	return o
}

func firstFrame(video string) (gocv.Mat, error) {
	vc, err := gocv.VideoCaptureFileWithAPI(video, gocv.VideoCaptureFFmpeg)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%s: %w", video, err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	if !vc.Read(&m) || m.Empty() {
		m.Close()
		return gocv.Mat{}, fmt.Errorf("%s: no frame", video)
	}
	return m, nil
}

type speed struct {
	runs       int
	infer, cpu time.Duration // inference wall time; the process's CPU time over the whole Detect calls
}

func (s speed) fps() float64   { return float64(s.runs) / s.infer.Seconds() }
func (s speed) cpuMS() float64 { return float64(s.cpu) / 1e6 / float64(s.runs) }

// totalFPS is all inferences over all their time: a round that other work
// slowed down weighs more here than in the median.
func totalFPS(s []speed) float64 {
	var runs int
	var t time.Duration
	for _, x := range s {
		runs += x.runs
		t += x.infer
	}
	return float64(runs) / t.Seconds()
}

func medianOf(s []speed, f func(speed) float64) float64 {
	v := make([]float64, len(s))
	for i, x := range s {
		v[i] = f(x)
	}
	return median(v)
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// measureSpeed runs the precisions in turn, rotating who goes first each
// round, so that a machine that slows down or speeds up weighs on all.
func measureSpeed(cfg config, precisions []string, dets map[string]*detect.Detector, frame gocv.Mat) (map[string][]speed, error) {
	out := map[string][]speed{}
	var buf []detect.Detection
	for _, p := range precisions {
		for range cfg.Warmup {
			if _, _, err := dets[p].Detect(frame, buf[:0]); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
		}
	}
	for r := range cfg.Rounds {
		progress("speed round %d/%d: %d inferences of %s, %d threads", r+1, cfg.Rounds, cfg.Runs, strings.Join(precisions, ", "), cfg.Threads)
		for i := range precisions {
			p := precisions[(i+r)%len(precisions)]
			s := speed{runs: cfg.Runs}
			c0 := results.CPUTime()
			for range cfg.Runs {
				var tm detect.Timings
				var err error
				if buf, tm, err = dets[p].Detect(frame, buf[:0]); err != nil {
					return nil, fmt.Errorf("%s: %w", p, err)
				}
				s.infer += tm.Infer
			}
			s.cpu = results.CPUTime() - c0
			out[p] = append(out[p], s)
		}
	}
	return out, nil
}

// header says how the numbers were made: the command, its flags and the
// machine.
func header(rep *results.Report, at time.Time) []string {
	return []string{
		"vigil-model-bench, " + at.Format(time.RFC3339),
		"command: " + results.CommandLine("go run ./bench/cmd/vigil-model-bench"),
		"flags: " + results.Flags(),
		"nproc: " + results.NProc(),
		"cpu: " + results.CPUInfo("model name") + " (" + simd() + ")",
		"go: " + results.GoVersion(),
		"onnxruntime: " + detect.RuntimeVersion(),
		rep.Load(),
	}
}

// simd names the vector extensions that decide onnxruntime's int8 kernels.
func simd() string {
	flags := " " + results.CPUInfo("flags") + " "
	var have []string
	for _, f := range []string{"avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"} {
		if strings.Contains(flags, " "+f+" ") {
			have = append(have, f)
		}
	}
	return strings.Join(have, " ")
}
