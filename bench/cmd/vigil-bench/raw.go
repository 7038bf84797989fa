package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/detect"
	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// rawBench is the baseline: an onnxruntime session built as detect builds
// its own (same model, intra-op threads and optimization level), with its
// tensors allocated once and its input filled once with a real frame, so
// that a timed Run is inference and nothing else.
type rawBench struct {
	frames, warmup int
	session        *ort.AdvancedSession
	input, output  *ort.Tensor[float32]
}

// timedRun is one timed series of back-to-back calls.
type timedRun struct {
	Runs    int
	Elapsed time.Duration
	CPU     time.Duration   // the process's CPU time (user + system) over Elapsed
	Calls   []time.Duration // each timed call
}

// FPS is calls per second.
func (r timedRun) FPS() float64 { return float64(r.Runs) / r.Elapsed.Seconds() }

// MS is the mean time of one call in milliseconds.
func (r timedRun) MS() float64 { return ms(r.Elapsed) / float64(r.Runs) }

// CPUMS is the mean CPU time of one call in milliseconds, on all threads.
func (r timedRun) CPUMS() float64 { return ms(r.CPU) / float64(r.Runs) }

// sessionConfig is how a raw session is built: by default as detect builds
// its own, or as one of -ort-sweep's variants.
type sessionConfig struct {
	Threads  int    // intra-op threads
	Spinning string // "" (detect's default), on, off
	GraphOpt string // "" (all), extended, basic, disabled
	Parallel bool   // parallel execution mode, inter-op threads = Threads
}

func newRawBench(cfg config, sc sessionConfig, det *detect.Detector, frame gocv.Mat) (*rawBench, error) {
	model := assets.Model()
	ins, outs, err := ort.GetInputOutputInfo(model)
	if err != nil {
		return nil, fmt.Errorf("raw: model %s: %w", model, err)
	}
	if len(ins) != 1 || len(outs) < 1 {
		return nil, fmt.Errorf("raw: model %s has %d inputs and %d outputs; want 1 and at least 1", model, len(ins), len(outs))
	}
	outShape, err := fixedShape(outs[0].Dimensions)
	if err != nil {
		return nil, fmt.Errorf("raw: model %s output %q: %w", model, outs[0].Name, err)
	}
	w, h := det.InputSize()
	r := &rawBench{frames: cfg.Frames, warmup: cfg.Warmup}
	if r.input, err = ort.NewEmptyTensor[float32](ort.NewShape(1, 3, int64(h), int64(w))); err != nil {
		return nil, fmt.Errorf("raw: input tensor: %w", err)
	}
	if r.output, err = ort.NewEmptyTensor[float32](outShape); err != nil {
		r.Close()
		return nil, fmt.Errorf("raw: output tensor: %w", err)
	}
	if err := letterbox(frame, w, h, r.input.GetData()); err != nil {
		r.Close()
		return nil, err
	}
	if r.session, err = newSession(model, ins[0].Name, outs[0].Name, r.input, r.output, sc); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// fixedShape turns the model's output dimensions into a tensor shape; a
// dynamic batch is 1, any other dynamic size cannot be preallocated.
func fixedShape(dims ort.Shape) (ort.Shape, error) {
	s := dims.Clone()
	for i, d := range s {
		switch {
		case i == 0 && d == -1:
			s[i] = 1
		case d <= 0:
			return nil, fmt.Errorf("dynamic shape %v; the raw baseline needs a fixed output shape", dims)
		}
	}
	return s, nil
}

// newSession mirrors detect's session options (detect/detector.go).
func newSession(model, in, out string, input, output ort.Value, sc sessionConfig) (*ort.AdvancedSession, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("raw: session options: %w", err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(sc.Threads); err != nil {
		return nil, fmt.Errorf("raw: intra-op threads: %w", err)
	}
	if err := detect.SetSpinning(so, sc.Spinning); err != nil {
		return nil, fmt.Errorf("raw: %w", err)
	}
	level := map[string]ort.GraphOptimizationLevel{
		"": ort.GraphOptimizationLevelEnableAll, "extended": ort.GraphOptimizationLevelEnableExtended,
		"basic": ort.GraphOptimizationLevelEnableBasic, "disabled": ort.GraphOptimizationLevelDisableAll,
	}[sc.GraphOpt]
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		return nil, fmt.Errorf("raw: graph optimization: %w", err)
	}
	if sc.Parallel {
		if err := so.SetExecutionMode(ort.ExecutionModeParallel); err != nil {
			return nil, fmt.Errorf("raw: execution mode: %w", err)
		}
		if err := so.SetInterOpNumThreads(sc.Threads); err != nil {
			return nil, fmt.Errorf("raw: inter-op threads: %w", err)
		}
	}
	s, err := ort.NewAdvancedSession(model, []string{in}, []string{out}, []ort.Value{input}, []ort.Value{output}, so)
	if err != nil {
		return nil, fmt.Errorf("raw: model %s: session: %w", model, err)
	}
	return s, nil
}

// firstFrame is the video's first frame; the caller closes it.
func firstFrame(video string) (gocv.Mat, error) {
	vc, err := gocv.VideoCaptureFile(video)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("open %s: %w", video, err)
	}
	defer vc.Close()
	img := gocv.NewMat()
	if !vc.Read(&img) || img.Empty() {
		img.Close()
		return gocv.Mat{}, fmt.Errorf("%s: no frame to read", video)
	}
	return img, nil
}

// letterbox writes img into dst exactly as the pipeline's preprocessor does.
func letterbox(img gocv.Mat, w, h int, dst []float32) error {
	pre := detect.NewPreprocessor(w, h)
	defer pre.Close()
	if _, err := pre.Run(img, dst); err != nil {
		return fmt.Errorf("raw: letterbox: %w", err)
	}
	return nil
}

// Measure runs the warm-up, then times frames Runs back to back.
func (r *rawBench) Measure() (timedRun, error) {
	t, err := timeCalls(r.warmup, r.frames, r.session.Run)
	if err != nil {
		return t, fmt.Errorf("raw: inference: %w", err)
	}
	return t, nil
}

// Close frees the session and tensors.
func (r *rawBench) Close() error {
	var errs []error
	if r.session != nil {
		errs = append(errs, r.session.Destroy())
	}
	if r.input != nil {
		errs = append(errs, r.input.Destroy())
	}
	if r.output != nil {
		errs = append(errs, r.output.Destroy())
	}
	return errors.Join(errs...)
}

// measureDetect times the detector alone on one frame: letterbox, infer,
// decode and NMS, without capture, tracking or publishing.
func measureDetect(det *detect.Detector, frame gocv.Mat, warmup, n int) (timedRun, error) {
	var dets []detect.Detection
	t, err := timeCalls(warmup, n, func() error {
		var err error
		dets, _, err = det.Detect(frame, dets[:0])
		return err
	})
	if err != nil {
		return t, fmt.Errorf("detect: %w", err)
	}
	return t, nil
}

// timeCalls calls f warmup times, then times n calls.
func timeCalls(warmup, n int, f func() error) (timedRun, error) {
	for range warmup {
		if err := f(); err != nil {
			return timedRun{}, err
		}
	}
	calls := make([]time.Duration, 0, n)
	start, cpu := time.Now(), results.CPUTime()
	last := start
	for range n {
		if err := f(); err != nil {
			return timedRun{}, err
		}
		now := time.Now()
		calls, last = append(calls, now.Sub(last)), now
	}
	return timedRun{Runs: n, Elapsed: last.Sub(start), CPU: results.CPUTime() - cpu, Calls: calls}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
