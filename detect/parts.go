package detect

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// Metadata keys `vigil model split` writes into both parts of a split
// model (package model writes them): the source model's digest, the cut
// tensors in the order of the head's outputs and the tail's inputs, and
// which part the file is.
const (
	MetaSplitSource = "vigil_split_source"
	MetaSplitCut    = "vigil_split_cut"
	MetaSplitPart   = "vigil_split_part"
)

// TensorSpec names a tensor and gives its shape.
type TensorSpec struct {
	Name  string
	Shape []int64
}

// Len is the number of values of the tensor.
func (t TensorSpec) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= int(d)
	}
	return n
}

// splitInfo is what a split part's metadata says.
type splitInfo struct {
	part, source string
	cut          []string
}

func readSplitInfo(path string) (splitInfo, error) {
	md, err := ort.GetModelMetadata(path)
	if err != nil {
		return splitInfo{}, fmt.Errorf("model %s: metadata: %w", path, err)
	}
	defer md.Destroy()
	var s splitInfo
	get := func(key string) string {
		v, ok, err := md.LookupCustomMetadataMap(key)
		if err != nil || !ok {
			return ""
		}
		return v
	}
	s.part, s.source = get(MetaSplitPart), get(MetaSplitSource)
	if c := get(MetaSplitCut); c != "" {
		s.cut = strings.Split(c, ",")
	}
	return s, nil
}

// openPart opens a split part's metadata and checks that it is part.
func openPart(o Options, part string) (splitInfo, error) {
	s, err := readSplitInfo(o.Model)
	if err != nil {
		return s, err
	}
	if s.part != part || s.source == "" || len(s.cut) == 0 {
		got := s.part
		if got == "" {
			got = "no part: a whole model"
		}
		return s, fmt.Errorf("model %s is not the %s of a split model (%s says %s); make the two parts with `vigil model split MODEL --at TENSOR -o DIR`",
			o.Model, part, MetaSplitPart, got)
	}
	return s, nil
}

// cutSpecs checks the cut tensors a part's session shows (the head's
// outputs, the tail's inputs) against its metadata: the same names in the
// same order, float32, fixed shapes.
func cutSpecs(model string, s splitInfo, infos []ort.InputOutputInfo, what string) ([]TensorSpec, error) {
	names := make([]string, len(infos))
	for i, in := range infos {
		names[i] = in.Name
	}
	if !slices.Equal(names, s.cut) {
		return nil, fmt.Errorf("model %s: its %s are %s but its %s metadata says %s; split the model again with `vigil model split`",
			model, what, strings.Join(names, ","), MetaSplitCut, strings.Join(s.cut, ","))
	}
	specs := make([]TensorSpec, len(infos))
	for i, in := range infos {
		if in.DataType != ort.TensorElementDataTypeFloat {
			return nil, fmt.Errorf("model %s: cut tensor %q is %s; vigil sends float32 cut tensors", model, in.Name, in.DataType)
		}
		shape := slices.Clone([]int64(in.Dimensions))
		for _, d := range shape {
			if d <= 0 {
				return nil, fmt.Errorf("model %s: cut tensor %q has the dynamic shape %v; split a model exported with fixed shapes", model, in.Name, shape)
			}
		}
		specs[i] = TensorSpec{Name: in.Name, Shape: shape}
	}
	return specs, nil
}

// Head runs the head of a split model (`vigil model split`) on frames: it
// letterboxes a frame as Detector does and runs the model up to the cut,
// whose tensors a Tail, here or on another machine, takes on. Not safe for
// concurrent use.
type Head struct {
	d      *Detector // its session, image input and options; no decoder
	pre    *Preprocessor
	input  *ort.Tensor[float32]
	outs   []*ort.Tensor[float32]
	vals   []ort.Value
	cut    []TensorSpec
	source string
}

// NewHead loads a head model. InitRuntime must have succeeded first.
func NewHead(o Options) (*Head, error) {
	o = o.withDefaults()
	ins, outs, err := o.open()
	if err != nil {
		return nil, err
	}
	s, err := openPart(o, "head")
	if err != nil {
		return nil, err
	}
	h := &Head{d: &Detector{opts: o}, source: s.source}
	if err := h.d.checkInput(ins); err != nil {
		return nil, fmt.Errorf("model %s: %w", o.Model, err)
	}
	if h.cut, err = cutSpecs(o.Model, s, outs, "outputs"); err != nil {
		return nil, err
	}
	if err := h.d.openSession([]string{h.d.inName}, s.cut); err != nil {
		return nil, err
	}
	h.pre = NewPreprocessor(h.d.inW, h.d.inH)
	if h.input, err = ort.NewTensor(ort.NewShape(1, 3, int64(h.d.inH), int64(h.d.inW)), h.pre.Tensor()); err != nil {
		h.Close()
		return nil, fmt.Errorf("input tensor: %w", err)
	}
	for _, c := range h.cut {
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(c.Shape...))
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("cut tensor %q: %w", c.Name, err)
		}
		h.outs = append(h.outs, t)
		h.vals = append(h.vals, t)
	}
	return h, nil
}

// Run letterboxes img into the model's input and runs the head; the cut
// tensors are then in Outputs until the next Run. img is only read.
func (h *Head) Run(img gocv.Mat) (Letterbox, Timings, error) {
	var tm Timings
	t0 := time.Now()
	lb, err := h.pre.Run(img, h.input.GetData())
	if err != nil {
		return lb, tm, fmt.Errorf("preprocess: %w", err)
	}
	t1 := time.Now()
	tm.Preprocess = t1.Sub(t0)
	if err := h.d.session.Run([]ort.Value{h.input}, h.vals); err != nil {
		return lb, tm, fmt.Errorf("inference (head): %w", err)
	}
	tm.Infer = time.Since(t1)
	return lb, tm, nil
}

// Outputs are the cut tensors of the last Run, in Cut's order. The head
// owns them.
func (h *Head) Outputs() [][]float32 {
	out := make([][]float32, len(h.outs))
	for i, t := range h.outs {
		out[i] = t.GetData()
	}
	return out
}

// Cut is the tensors the head ends at, in the order of its outputs.
func (h *Head) Cut() []TensorSpec { return h.cut }

// Source is the digest of the model the head was split from.
func (h *Head) Source() string { return h.source }

// InputSize is the model's image input width and height.
func (h *Head) InputSize() (int, int) { return h.d.inW, h.d.inH }

// Providers are the head session's execution providers (Detector.Providers).
func (h *Head) Providers() []string { return h.d.providers }

// Close frees the session and tensors; safe to call more than once.
func (h *Head) Close() error {
	var errs []error
	for _, t := range h.outs {
		errs = append(errs, t.Destroy())
	}
	h.outs, h.vals = nil, nil
	if h.input != nil {
		errs = append(errs, h.input.Destroy())
		h.input = nil
	}
	if h.pre != nil {
		errs = append(errs, h.pre.Close()) // after the input: it lies in its memory
		h.pre = nil
	}
	errs = append(errs, h.d.Close())
	return errors.Join(errs...)
}

// Tail runs the tail of a split model (`vigil model split`): it takes the
// cut tensors a Head made and decodes the model's output as Detector does,
// with the same options (thresholds, NMS, labels from the model's
// metadata, which a split keeps). Not safe for concurrent use.
type Tail struct {
	d      *Detector // its session, decoder, labels and thresholds
	ins    []*ort.Tensor[float32]
	vals   []ort.Value
	out    *ort.Tensor[float32]
	cut    []TensorSpec
	source string
}

// NewTail loads a tail model. InitRuntime must have succeeded first.
func NewTail(o Options) (*Tail, error) {
	o = o.withDefaults()
	ins, outs, err := o.open()
	if err != nil {
		return nil, err
	}
	s, err := openPart(o, "tail")
	if err != nil {
		return nil, err
	}
	t := &Tail{d: &Detector{opts: o}, source: s.source}
	if len(outs) < 1 {
		return nil, fmt.Errorf("model %s: has no outputs", o.Model)
	}
	if err := t.d.checkOutput(outs[0]); err != nil {
		return nil, fmt.Errorf("model %s: %w", o.Model, err)
	}
	if t.cut, err = cutSpecs(o.Model, s, ins, "inputs"); err != nil {
		return nil, err
	}
	if err := t.d.loadLabels(); err != nil {
		return nil, fmt.Errorf("model %s: %w", o.Model, err)
	}
	if err := t.d.setThresholds(); err != nil {
		return nil, err
	}
	if err := t.d.openSession(s.cut, []string{t.d.outName}); err != nil {
		return nil, err
	}
	for _, c := range t.cut {
		x, err := ort.NewEmptyTensor[float32](ort.NewShape(c.Shape...))
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("cut tensor %q: %w", c.Name, err)
		}
		t.ins = append(t.ins, x)
		t.vals = append(t.vals, x)
	}
	sh := t.d.decoder.Shape
	if t.out, err = ort.NewEmptyTensor[float32](ort.NewShape(sh[0], sh[1], sh[2])); err != nil {
		t.Close()
		return nil, fmt.Errorf("output tensor: %w", err)
	}
	return t, nil
}

// Inputs are where the cut tensors go before Run, in Cut's order. The tail
// owns them.
func (t *Tail) Inputs() [][]float32 {
	in := make([][]float32, len(t.ins))
	for i, x := range t.ins {
		in[i] = x.GetData()
	}
	return in
}

// Run runs the tail on Inputs and appends the detections to dst, in the
// coordinates of the model's image input (the head's letterbox maps them
// to the frame).
func (t *Tail) Run(dst []Detection) ([]Detection, Timings, error) {
	var tm Timings
	t0 := time.Now()
	if err := t.d.session.Run(t.vals, []ort.Value{t.out}); err != nil {
		return dst, tm, fmt.Errorf("inference (tail): %w", err)
	}
	t1 := time.Now()
	tm.Infer = t1.Sub(t0)
	dst, err := t.d.decodeInto(t.out.GetData(), nil, dst)
	tm.Postprocess = time.Since(t1)
	return dst, tm, err
}

// Cut is the tensors the tail starts from, in the order of its inputs.
func (t *Tail) Cut() []TensorSpec { return t.cut }

// Source is the digest of the model the tail was split from.
func (t *Tail) Source() string { return t.source }

// Labels are the class names, indexed by class id.
func (t *Tail) Labels() []string { return t.d.labels }

// Providers are the tail session's execution providers.
func (t *Tail) Providers() []string { return t.d.providers }

// Close frees the session and tensors; safe to call more than once.
func (t *Tail) Close() error {
	var errs []error
	for _, x := range t.ins {
		errs = append(errs, x.Destroy())
	}
	t.ins, t.vals = nil, nil
	if t.out != nil {
		errs = append(errs, t.out.Destroy())
		t.out = nil
	}
	errs = append(errs, t.d.Close())
	return errors.Join(errs...)
}

// PartOf says which part of a split model the file at path is: "head",
// "tail", or "" for a whole model.
func PartOf(path string) (string, error) {
	s, err := readSplitInfo(path)
	return s.part, err
}
