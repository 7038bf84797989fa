package model

import (
	"fmt"
	"math"
	"sort"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/vigil-vision/vigil/detect"
	ort "github.com/yalue/onnxruntime_go"
)

// LayerError is how far the model's output moves when only one layer is
// quantized.
type LayerError struct {
	Node   string `json:"node"`
	OpType string `json:"op_type"`
	// ScoreError is the mean |Δ| of the class score (the reference's best
	// class) over the anchors where the reference scores ≥ 0.1, BoxError
	// the mean |Δ| of the box coordinates there, in input pixels; for
	// outputs of other layouts both are 0 and only RelError counts.
	ScoreError float64 `json:"score_error"`
	BoxError   float64 `json:"box_error"`
	// RelError is ‖Δ‖/‖reference‖ over the whole output.
	RelError float64 `json:"rel_error"`
}

// SensitivityOptions configure Sensitivity; Quantize's options say how each
// layer is quantized (Ops, KeepFloat and QuantizeHead choose the layers).
type SensitivityOptions struct {
	Options
	Eval   Frames   // frames the output error is measured on
	Layers []string // node names; nil = every quantizable learned layer
}

// Sensitivity quantizes one learned layer (Conv) at a time, with its input
// and output activations, and measures the output error against the float
// model on Eval frames: the layers with the largest error are the ones to
// keep in float (Options.KeepFloat). Calibration runs once for all.
// Sorted by ScoreError (RelError for other layouts), largest first.
func Sensitivity(m *onnx.ModelProto, so SensitivityOptions) ([]LayerError, error) {
	o := so.Options
	if err := o.defaults(); err != nil {
		return nil, err
	}
	p, err := o.plan(m)
	if err != nil {
		return nil, err
	}
	if o.Stats == nil {
		if o.Stats, _, err = Calibrate(m, p.order, o.Calibration, o.Method, o.Threads); err != nil {
			return nil, err
		}
	}
	layers := so.Layers
	if layers == nil {
		for _, n := range m.Graph.Node {
			if p.nodes[n] && opRules[n.OpType].weight {
				layers = append(layers, n.Name)
			}
		}
	}
	byName := map[string]*onnx.NodeProto{}
	for _, n := range m.Graph.Node {
		byName[n.Name] = n
	}
	for _, l := range layers {
		if n := byName[l]; n == nil || !p.nodes[n] {
			return nil, fmt.Errorf("layer %q: no such quantizable node in the model", l)
		}
	}

	in, inputs, err := letterboxed(m, so.Eval)
	if err != nil {
		return nil, fmt.Errorf("sensitivity frames: %w", err)
	}
	b, err := Marshal(m)
	if err != nil {
		return nil, err
	}
	ref, shape, err := runOutputs(b, in, inputs, o.Threads)
	if err != nil {
		return nil, fmt.Errorf("float model: %w", err)
	}
	layout, _, lerr := detect.ChooseLayout(shape, 0)

	var out []LayerError
	for _, l := range layers {
		lo := o
		lo.Only = map[string]bool{l: true}
		q, _, err := Quantize(m, lo)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l, err)
		}
		qb, err := Marshal(q)
		if err != nil {
			return nil, err
		}
		got, _, err := runOutputs(qb, in, inputs, o.Threads)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l, err)
		}
		e := LayerError{Node: l, OpType: byName[l].OpType}
		for i := range ref {
			e.RelError += relError(ref[i], got[i]) / float64(len(ref))
			if lerr == nil && layout == detect.LayoutYOLOv8 {
				s, bx := yoloV8Error(ref[i], got[i], shape)
				e.ScoreError += s / float64(len(ref))
				e.BoxError += bx / float64(len(ref))
			}
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].ScoreError != out[j].ScoreError {
			return out[i].ScoreError > out[j].ScoreError
		}
		return out[i].RelError > out[j].RelError
	})
	return out, nil
}

// runOutputs runs a model on prepared inputs and returns its first output
// for each.
func runOutputs(model []byte, in imageInput, inputs [][]float32, threads int) ([][]float32, []int64, error) {
	m, err := Parse(model)
	if err != nil {
		return nil, nil, err
	}
	outName := m.Graph.Output[0].Name
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, nil, err
	}
	defer so.Destroy()
	if threads > 0 {
		so.SetIntraOpNumThreads(threads)
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{in.name}, []string{outName}, so)
	if err != nil {
		return nil, nil, err
	}
	defer sess.Destroy()
	t, err := ort.NewTensor(ort.NewShape(1, 3, int64(in.h), int64(in.w)), make([]float32, 3*in.w*in.h))
	if err != nil {
		return nil, nil, err
	}
	defer t.Destroy()
	var outs [][]float32
	var shape []int64
	for _, x := range inputs {
		copy(t.GetData(), x)
		res := []ort.Value{nil}
		if err := sess.Run([]ort.Value{t}, res); err != nil {
			return nil, nil, err
		}
		ft, ok := res[0].(*ort.Tensor[float32])
		if !ok {
			res[0].Destroy()
			return nil, nil, fmt.Errorf("output %q is not float32", outName)
		}
		outs = append(outs, append([]float32(nil), ft.GetData()...))
		shape = ft.GetShape()
		res[0].Destroy()
	}
	return outs, shape, nil
}

func relError(ref, got []float32) float64 {
	var d, r float64
	for i := range ref {
		x := float64(got[i] - ref[i])
		d += x * x
		r += float64(ref[i]) * float64(ref[i])
	}
	if r == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / r)
}

// yoloV8Error compares [1,4+C,N] outputs on the anchors that matter: where
// the reference's best class scores at least 0.1.
func yoloV8Error(ref, got []float32, shape []int64) (score, box float64) {
	rows, n := int(shape[1]), int(shape[2])
	var cnt int
	for a := 0; a < n; a++ {
		best, bc := float32(0), 4
		for c := 4; c < rows; c++ {
			if v := ref[c*n+a]; v > best {
				best, bc = v, c
			}
		}
		if best < 0.1 {
			continue
		}
		cnt++
		score += math.Abs(float64(got[bc*n+a] - best))
		for c := 0; c < 4; c++ {
			box += math.Abs(float64(got[c*n+a]-ref[c*n+a])) / 4
		}
	}
	if cnt == 0 {
		return 0, 0
	}
	return score / float64(cnt), box / float64(cnt)
}
