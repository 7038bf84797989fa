package model

import (
	"fmt"
	"math"
	"sort"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/vigil-vision/vigil/detect"
	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
	"google.golang.org/protobuf/proto"
)

// Range methods for activations.
const (
	MethodMinMax     = "minmax"
	MethodPercentile = "percentile"
)

// histBins is the resolution of a percentile histogram: per tensor and
// sign, fixed, so memory does not grow with the number of frames.
const histBins = 2048

// magHist counts magnitudes |x| in histBins bins over [0, hi). When a value
// reaches hi, hi doubles and pairs of bins merge, so the range follows the
// data without a first pass.
type magHist struct {
	bins  [histBins]uint64
	hi    float64
	count uint64
}

func (h *magHist) add(v float64) {
	if h.hi == 0 {
		h.hi = max(v*2, 1e-6)
	}
	for v >= h.hi {
		for i := 0; i < histBins/2; i++ {
			h.bins[i] = h.bins[2*i] + h.bins[2*i+1]
		}
		clear(h.bins[histBins/2:])
		h.hi *= 2
	}
	h.bins[int(v/h.hi*histBins)]++
	h.count++
}

// upper is the magnitude below which a share q of the counted values lie
// (the upper edge of the bin where the share is reached).
func (h *magHist) upper(q float64) float64 {
	if h.count == 0 {
		return 0
	}
	target := q * float64(h.count)
	var acc float64
	for i, c := range h.bins {
		acc += float64(c)
		if acc >= target {
			return float64(i+1) * h.hi / histBins
		}
	}
	return h.hi
}

// Stats are what calibration saw of one tensor.
type Stats struct {
	Min, Max float32
	neg, pos *magHist // percentile only
}

func (s *Stats) update(v []float32, hist bool) {
	lo, hi := s.Min, s.Max
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	s.Min, s.Max = lo, hi
	if !hist {
		return
	}
	if s.neg == nil {
		s.neg, s.pos = &magHist{}, &magHist{}
	}
	for _, x := range v {
		if x < 0 {
			s.neg.add(float64(-x))
		} else {
			s.pos.add(float64(x))
		}
	}
}

// Range is the real range to quantize: min and max, or with percentile p
// (e.g. 99.999) the values below which p% (and above which (100−p)%) of the
// samples lie, clipping outliers.
func (s *Stats) Range(method string, p float64) (float64, float64) {
	if method != MethodPercentile || s.neg == nil {
		return float64(s.Min), float64(s.Max)
	}
	n := float64(s.neg.count + s.pos.count)
	tail := (100 - p) / 100 * n // samples to clip on each side
	rmin, rmax := float64(s.Min), float64(s.Max)
	if s.neg.count > 0 {
		// The lowest values are the largest negative magnitudes.
		keep := max(float64(s.neg.count)-tail, 0) / float64(s.neg.count)
		rmin = max(-s.neg.upper(keep), rmin)
	}
	if s.pos.count > 0 {
		keep := max(float64(s.pos.count)-tail, 0) / float64(s.pos.count)
		rmax = min(s.pos.upper(keep), rmax)
	}
	return rmin, rmax
}

// imageInput is the model's one float image input [1,3,H,W].
type imageInput struct {
	name string
	w, h int
}

func findImageInput(m *onnx.ModelProto) (imageInput, error) {
	ix := newIndex(m.Graph)
	var ins []*onnx.ValueInfoProto
	for _, in := range m.Graph.Input {
		if ix.inputs[in.Name] {
			ins = append(ins, in)
		}
	}
	if len(ins) != 1 {
		return imageInput{}, fmt.Errorf("has %d inputs; calibration feeds one image input [1,3,H,W]", len(ins))
	}
	s := shapeOf(ins[0])
	if elemType(ins[0]) != onnx.TensorProto_FLOAT || len(s) != 4 || s[1] != 3 {
		return imageInput{}, fmt.Errorf("input %q is %s %v; calibration needs float32 [1,3,H,W]", ins[0].Name, elemType(ins[0]), s)
	}
	in := imageInput{name: ins[0].Name, w: int(s[3]), h: int(s[2])}
	if in.w <= 0 || in.h <= 0 {
		in.w, in.h = 640, 640 // dynamic size: the YOLO default, as detect does
	}
	return in, nil
}

// Calibrate runs the model over frames, letterboxed as the pipeline does,
// and returns the range statistics of the named float tensors. Tensors are
// read by making them extra outputs of a copy of the model; memory holds
// one frame's activations and, for percentile, 2×2048 counters per tensor.
func Calibrate(m *onnx.ModelProto, tensors []string, frames Frames, method string, threads int) (map[string]*Stats, int, error) {
	in, err := findImageInput(m)
	if err != nil {
		return nil, 0, err
	}
	c := proto.Clone(m).(*onnx.ModelProto)
	have := map[string]bool{}
	for _, o := range c.Graph.Output {
		have[o.Name] = true
	}
	names := append([]string(nil), tensors...)
	sort.Strings(names)
	for _, t := range names {
		if !have[t] {
			c.Graph.Output = append(c.Graph.Output, tensorValueInfo(t, onnx.TensorProto_FLOAT))
		}
	}
	b, err := Marshal(c)
	if err != nil {
		return nil, 0, fmt.Errorf("calibration model: %w", err)
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, 0, fmt.Errorf("onnxruntime session options: %w", err)
	}
	defer so.Destroy()
	if threads > 0 {
		so.SetIntraOpNumThreads(threads)
	}
	// Basic optimizations only: the extra outputs must stay as they are.
	so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableBasic)
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(b, []string{in.name}, names, so)
	if err != nil {
		return nil, 0, fmt.Errorf("calibration session: %w", err)
	}
	defer sess.Destroy()
	input, err := ort.NewTensor(ort.NewShape(1, 3, int64(in.h), int64(in.w)), make([]float32, 3*in.w*in.h))
	if err != nil {
		return nil, 0, err
	}
	defer input.Destroy()
	pre := detect.NewPreprocessor(in.w, in.h)
	defer pre.Close()

	stats := make(map[string]*Stats, len(names))
	for _, t := range names {
		stats[t] = &Stats{Min: float32(math.Inf(1)), Max: float32(math.Inf(-1))}
	}
	outs := make([]ort.Value, len(names))
	n, err := frames.Each(func(name string, img gocv.Mat) error {
		if _, err := pre.Run(img, input.GetData()); err != nil {
			return fmt.Errorf("frame %s: %w", name, err)
		}
		clear(outs)
		if err := sess.Run([]ort.Value{input}, outs); err != nil {
			return fmt.Errorf("calibration run on %s: %w", name, err)
		}
		defer func() {
			for _, v := range outs {
				if v != nil {
					v.Destroy()
				}
			}
		}()
		for i, v := range outs {
			t, ok := v.(*ort.Tensor[float32])
			if !ok {
				return fmt.Errorf("tensor %q is not float32; it cannot be quantized as an activation", names[i])
			}
			stats[names[i]].update(t.GetData(), method == MethodPercentile)
		}
		return nil
	})
	if err != nil {
		return nil, n, fmt.Errorf("calibration: %w", err)
	}
	return stats, n, nil
}
