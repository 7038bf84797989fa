package model

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// Options configure Quantize. The zero value of each field is its default.
type Options struct {
	// Calibration frames: video files, images, folders of images.
	Calibration Frames
	// Method is the activation range: MethodMinMax (default) or
	// MethodPercentile, which clips outliers at Percentile.
	Method     string
	Percentile float64 // default 99.999
	// PerTensor gives each weight tensor one scale instead of one per
	// output channel (per channel is the default and keeps more accuracy).
	PerTensor bool
	// AsymmetricWeights quantizes weights with the min/max formula on
	// [−2^(N−1), 2^(N−1)−1] instead of symmetrically; per tensor only,
	// since onnxruntime's QLinearConv needs one weight zero point.
	AsymmetricWeights bool
	WeightBits        int // default 8; 2–8
	ActivationBits    int // default 8; only 8
	// Ops are the operator types to quantize (default DefaultOps).
	Ops []string
	// KeepFloat keeps nodes in float: each entry is an operator type
	// ("Concat"), a node name, or a node-name pattern where * is any run of
	// characters ("/model.22/*").
	KeepFloat []string
	// QuantizeHead also quantizes the detection head: the last learned
	// layer on each path to an output and the decode after it (see
	// index.head), kept in float by default.
	QuantizeHead bool
	// Only quantizes just these nodes (by exact name), for sensitivity
	// analysis; nil = every eligible node.
	Only map[string]bool
	// Threads are onnxruntime's intra-op threads during calibration.
	Threads int
	// Stats reuses earlier calibration results (Sensitivity does).
	Stats map[string]*Stats
}

// DefaultOps are the operators quantized by default: those onnxruntime's
// CPU provider fuses into integer kernels (QLinearConv, QLinearSigmoid,
// QLinearMul, QLinearAdd, QLinearConcat) or runs on uint8 directly
// (MaxPool, Resize, Split), so that a YOLO backbone and neck stay in 8 bits
// from the first convolution to the head.
var DefaultOps = []string{"Conv", "Sigmoid", "Mul", "Add", "Concat", "MaxPool", "Resize", "Split"}

// opRule says which inputs of an operator are quantized activations and
// whether its outputs must keep its input's parameters (operators that
// only move or select values, where onnxruntime drops the Q/DQ pair only
// if the parameters match).
type opRule struct {
	inputs []int // -1: all inputs
	share  bool
	weight bool // input 1 is a weight, input 2 an optional bias
}

var opRules = map[string]opRule{
	"Conv":              {inputs: []int{0}, weight: true},
	"Sigmoid":           {inputs: []int{0}},
	"Softmax":           {inputs: []int{0}},
	"LeakyRelu":         {inputs: []int{0}},
	"AveragePool":       {inputs: []int{0}},
	"GlobalAveragePool": {inputs: []int{0}},
	"Mul":               {inputs: []int{0, 1}},
	"Add":               {inputs: []int{0, 1}},
	"Concat":            {inputs: []int{-1}},
	"MaxPool":           {inputs: []int{0}, share: true},
	"Resize":            {inputs: []int{0}, share: true},
	"Split":             {inputs: []int{0}, share: true},
	"Reshape":           {inputs: []int{0}, share: true},
	"Transpose":         {inputs: []int{0}, share: true},
	"Flatten":           {inputs: []int{0}, share: true},
	"Squeeze":           {inputs: []int{0}, share: true},
	"Unsqueeze":         {inputs: []int{0}, share: true},
	"Slice":             {inputs: []int{0}, share: true},
}

// SupportedOps lists the operator types Options.Ops may name.
func SupportedOps() []string {
	var s []string
	for k := range opRules {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Report says what Quantize did.
type Report struct {
	Frames        int            // calibration frames
	Quantized     map[string]int // op type → nodes quantized
	KeptFloat     []string       // eligible nodes left in float (head, KeepFloat)
	Weights       int            // weight tensors quantized
	Activations   int            // activation tensors with a Q/DQ pair
	BiasClamped   int            // bias values beyond int32, clamped
	Scheme        string         // one line: what was done
	FloatBytes    int64          // weight bytes before
	QuantizedSize int64          // the same weights after
}

// ErrNoFloatWeights is returned for a model without float Conv weights.
var ErrNoFloatWeights = errors.New("no float weights to quantize")

func (o *Options) defaults() error {
	if o.Method == "" {
		o.Method = MethodMinMax
	}
	if o.Method != MethodMinMax && o.Method != MethodPercentile {
		return fmt.Errorf("range method %q; use %s or %s", o.Method, MethodMinMax, MethodPercentile)
	}
	if o.Percentile == 0 {
		o.Percentile = 99.999
	}
	if !(o.Percentile > 50 && o.Percentile <= 100) {
		return fmt.Errorf("percentile %g; use a value in (50,100], e.g. 99.999", o.Percentile)
	}
	if o.WeightBits == 0 {
		o.WeightBits = 8
	}
	if o.ActivationBits == 0 {
		o.ActivationBits = ActivationBits
	}
	if err := checkBits(o.WeightBits, o.ActivationBits); err != nil {
		return err
	}
	if o.AsymmetricWeights && !o.PerTensor {
		return errors.New("asymmetric weights need per-tensor scales: onnxruntime's QLinearConv takes one weight zero point for all channels; add --per-tensor or drop --asymmetric-weights")
	}
	if o.Ops == nil {
		o.Ops = DefaultOps
	}
	for _, op := range o.Ops {
		if _, ok := opRules[op]; !ok {
			return fmt.Errorf("operator %q cannot be quantized; use some of %s", op, strings.Join(SupportedOps(), ", "))
		}
	}
	return nil
}

// globMatch reads a node-name pattern: * is any run of characters, "/"
// included (node names are paths such as /model.22/cv2.0/conv/Conv), ?
// any one character.
func globMatch(pattern, name string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	ok, _ := regexp.MatchString(re, name)
	return ok
}

func (o *Options) keptByUser(n *onnx.NodeProto) bool {
	for _, k := range o.KeepFloat {
		if k == n.OpType || k == n.Name {
			return true
		}
		if strings.ContainsAny(k, "*?") && globMatch(k, n.Name) {
			return true
		}
	}
	return false
}

// plan is what a quantization will touch.
type plan struct {
	ix      *index
	nodes   map[*onnx.NodeProto]bool // quantized nodes
	tensors map[string]bool          // activations that get a Q/DQ pair
	order   []string                 // tensors in graph order
	kept    []string
}

func (o *Options) plan(m *onnx.ModelProto) (*plan, error) {
	ix := newIndex(m.Graph)
	ops := map[string]bool{}
	for _, op := range o.Ops {
		ops[op] = true
	}
	var tail map[*onnx.NodeProto]bool
	if !o.QuantizeHead {
		tail = ix.head()
	}
	p := &plan{ix: ix, nodes: map[*onnx.NodeProto]bool{}, tensors: map[string]bool{}}
	floatWeights := 0
	for _, n := range m.Graph.Node {
		if opRules[n.OpType].weight && ix.floatWeights(n) {
			floatWeights++
		}
	}
	if floatWeights == 0 {
		return nil, fmt.Errorf("%w: the model has no Conv with float weights (is it already quantized, or not a convolutional detector?)", ErrNoFloatWeights)
	}
	for _, n := range m.Graph.Node {
		r, ok := opRules[n.OpType]
		if !ok || !ops[n.OpType] || n.Domain != "" && n.Domain != "ai.onnx" {
			continue
		}
		if r.weight && !ix.floatWeights(n) {
			continue
		}
		if o.Only != nil && !o.Only[n.Name] {
			continue
		}
		if tail[n] || o.keptByUser(n) {
			p.kept = append(p.kept, n.Name)
			continue
		}
		ins := p.activationInputs(n, r)
		if ins == nil {
			continue // a constant operand: leave the node as it is
		}
		p.nodes[n] = true
		for _, t := range ins {
			p.tensors[t] = true
		}
		outs := n.Output[:1]
		if n.OpType == "Split" {
			outs = n.Output
		}
		for _, t := range outs {
			if t != "" {
				p.tensors[t] = true
			}
		}
	}
	seen := map[string]bool{}
	add := func(t string) {
		if p.tensors[t] && !seen[t] {
			seen[t] = true
			p.order = append(p.order, t)
		}
	}
	for _, in := range m.Graph.Input {
		add(in.Name)
	}
	for _, n := range m.Graph.Node {
		for _, t := range n.Output {
			add(t)
		}
	}
	return p, nil
}

// floatWeights tells whether a Conv's weight (and bias, if any) are float
// initializers of its own: a weight shared by several nodes stays float.
func (ix *index) floatWeights(n *onnx.NodeProto) bool {
	if len(n.Input) < 2 || len(ix.consumers[n.Input[1]]) > 1 {
		return false
	}
	if w := ix.inits[n.Input[1]]; w == nil || w.DataType != int32(onnx.TensorProto_FLOAT) || len(w.Dims) == 0 {
		return false
	}
	if len(n.Input) > 2 && n.Input[2] != "" {
		if b := ix.inits[n.Input[2]]; b == nil || b.DataType != int32(onnx.TensorProto_FLOAT) {
			return false
		}
	}
	return true
}

// activationInputs are a node's inputs to quantize, or nil when one of
// them is a constant (the QLinear kernels take two activations).
func (p *plan) activationInputs(n *onnx.NodeProto, r opRule) []string {
	idx := r.inputs
	if len(idx) == 1 && idx[0] == -1 {
		idx = make([]int, len(n.Input))
		for i := range idx {
			idx[i] = i
		}
	}
	var out []string
	for _, i := range idx {
		if i >= len(n.Input) || n.Input[i] == "" || p.ix.constant(n.Input[i]) {
			return nil
		}
		out = append(out, n.Input[i])
	}
	return out
}

// Quantize returns a static INT8 copy of m in the QDQ format: a
// QuantizeLinear/DequantizeLinear pair after every quantized activation,
// int8 weights and int32 biases behind a DequantizeLinear. onnxruntime's
// graph optimizer fuses each DQ→op→Q group into an integer kernel.
func Quantize(m *onnx.ModelProto, o Options) (*onnx.ModelProto, *Report, error) {
	if err := o.defaults(); err != nil {
		return nil, nil, err
	}
	if !o.PerTensor && opset(m) < 13 {
		return nil, nil, fmt.Errorf("opset %d: per-channel weights need opset ≥ 13 (DequantizeLinear with an axis); re-export the model with opset 13 or later, or use per-tensor weights", opset(m))
	}
	if opset(m) < 10 {
		return nil, nil, fmt.Errorf("opset %d: QuantizeLinear needs opset ≥ 10; re-export the model with a newer opset", opset(m))
	}
	p, err := o.plan(m)
	if err != nil {
		return nil, nil, err
	}
	rep := &Report{Quantized: map[string]int{}, KeptFloat: p.kept}
	stats := o.Stats
	if stats == nil {
		stats, rep.Frames, err = Calibrate(m, p.order, o.Calibration, o.Method, o.Threads)
		if err != nil {
			return nil, nil, err
		}
	}
	params, err := p.activationParams(stats, &o)
	if err != nil {
		return nil, nil, err
	}
	out := proto.Clone(m).(*onnx.ModelProto)
	if err := p.rewrite(out, params, &o, rep); err != nil {
		return nil, nil, err
	}
	for n := range p.nodes {
		rep.Quantized[n.OpType]++
	}
	rep.Activations = len(params)
	rep.Scheme = o.scheme(rep.Frames)
	setMeta(out, "vigil_quantization", rep.Scheme)
	return out, rep, nil
}

func (o *Options) scheme(frames int) string {
	w := "symmetric"
	if o.AsymmetricWeights {
		w = "asymmetric"
	}
	g := "per-channel"
	if o.PerTensor {
		g = "per-tensor"
	}
	r := o.Method
	if o.Method == MethodPercentile {
		r = fmt.Sprintf("percentile %g", o.Percentile)
	}
	return fmt.Sprintf("QDQ; weights int%d %s %s (%d-bit grid); activations uint8 asymmetric, %s over %d frames; ops %s",
		8, w, g, o.WeightBits, r, frames, strings.Join(o.Ops, ","))
}

func setMeta(m *onnx.ModelProto, k, v string) {
	for _, p := range m.MetadataProps {
		if p.Key == k {
			p.Value = v
			return
		}
	}
	m.MetadataProps = append(m.MetadataProps, &onnx.StringStringEntryProto{Key: k, Value: v})
}

// activationParams applies the range formula to every planned tensor; the
// outputs of value-moving operators take their input's parameters.
func (p *plan) activationParams(stats map[string]*Stats, o *Options) (map[string]QParams, error) {
	params := map[string]QParams{}
	for _, t := range p.order {
		if prod := p.ix.producer[t]; prod != nil && p.nodes[prod] && opRules[prod.OpType].share {
			if q, ok := params[prod.Input[0]]; ok {
				params[t] = q
				continue
			}
		}
		s := stats[t]
		if s == nil || math.IsInf(float64(s.Min), 0) {
			return nil, fmt.Errorf("tensor %q: no calibration statistics", t)
		}
		rmin, rmax := s.Range(o.Method, o.Percentile)
		params[t] = Asymmetric(rmin, rmax, o.ActivationBits)
	}
	return params, nil
}

// names of what the rewrite adds for tensor t.
func qName(t string) string  { return t + "_quantized" }
func dqName(t string) string { return t + "_dequantized" }

func (p *plan) rewrite(m *onnx.ModelProto, params map[string]QParams, o *Options, rep *Report) error {
	g := m.Graph
	// The clone has its own nodes: map the plan's nodes by position.
	quantized := map[int]bool{}
	for i, n := range p.ix.g.Node {
		if p.nodes[n] {
			quantized[i] = true
		}
	}
	// A graph output keeps its name: the producer writes t_float, and the
	// DequantizeLinear writes t.
	renamed := map[string]string{}
	use := map[string]string{} // tensor → what readers read now
	for t := range params {
		if p.ix.outputs[t] {
			renamed[t] = t + "_float"
			use[t] = t
		} else {
			use[t] = dqName(t)
		}
	}
	var nodes []*onnx.NodeProto
	var inits []*onnx.TensorProto
	qdq := func(t string) {
		q := params[t]
		src := t
		if r, ok := renamed[t]; ok {
			src = r
		}
		inits = append(inits, floatTensor(t+"_scale", nil, []float32{q.Scale}),
			uint8Tensor(t+"_zero_point", nil, []uint8{uint8(q.ZeroPoint)}))
		nodes = append(nodes,
			&onnx.NodeProto{Name: t + "_QuantizeLinear", OpType: "QuantizeLinear",
				Input: []string{src, t + "_scale", t + "_zero_point"}, Output: []string{qName(t)}},
			&onnx.NodeProto{Name: t + "_DequantizeLinear", OpType: "DequantizeLinear",
				Input: []string{qName(t), t + "_scale", t + "_zero_point"}, Output: []string{use[t]}})
	}
	for _, t := range p.order {
		if p.ix.inputs[t] {
			qdq(t)
		}
	}
	replaced := map[string]bool{} // float weights now read through a DQ
	for i, n := range g.Node {
		for j, in := range n.Input {
			if u, ok := use[in]; ok {
				n.Input[j] = u
			}
		}
		if quantized[i] && opRules[n.OpType].weight {
			xq := params[p.ix.g.Node[i].Input[0]]
			wn, bn, err := p.quantizeWeights(n, xq, o, rep, &nodes, &inits)
			if err != nil {
				return err
			}
			replaced[wn] = true
			if bn != "" {
				replaced[bn] = true
			}
		}
		for j, out := range n.Output {
			if r, ok := renamed[out]; ok {
				n.Output[j] = r
			}
		}
		nodes = append(nodes, n)
		for _, out := range p.ix.g.Node[i].Output {
			if _, ok := params[out]; ok {
				qdq(out)
			}
		}
	}
	// Drop float weights no one reads any more.
	read := map[string]bool{}
	for _, n := range nodes {
		for _, in := range n.Input {
			read[in] = true
		}
	}
	var keep []*onnx.TensorProto
	for _, t := range g.Initializer {
		if replaced[t.Name] && !read[t.Name] {
			rep.FloatBytes += 4 * numElements(t.Dims)
			continue
		}
		keep = append(keep, t)
	}
	var inputs []*onnx.ValueInfoProto
	for _, in := range g.Input {
		if !replaced[in.Name] || read[in.Name] {
			inputs = append(inputs, in)
		}
	}
	g.Input = inputs
	g.Initializer = append(keep, inits...)
	g.Node = nodes
	return nil
}

// quantizeWeights adds the int8 weight and int32 bias of a Conv behind
// DequantizeLinear nodes and points the Conv at them. It returns the names
// of the float weight and bias it replaced.
func (p *plan) quantizeWeights(n *onnx.NodeProto, xq QParams, o *Options, rep *Report,
	nodes *[]*onnx.NodeProto, inits *[]*onnx.TensorProto) (string, string, error) {
	wName := n.Input[1]
	wt := p.ix.inits[wName]
	w, err := floatsOf(wt)
	if err != nil {
		return "", "", err
	}
	ch := int(wt.Dims[0])
	if o.PerTensor || len(wt.Dims) == 0 {
		ch = 1
	}
	per := len(w) / ch
	qs := make([]QParams, ch)
	for c := range qs {
		lo, hi, am := 0.0, 0.0, 0.0
		for _, v := range w[c*per : (c+1)*per] {
			f := float64(v)
			lo, hi, am = min(lo, f), max(hi, f), max(am, math.Abs(f))
		}
		if o.AsymmetricWeights {
			qs[c] = AsymmetricSigned(lo, hi, o.WeightBits)
		} else {
			qs[c] = Symmetric(am, o.WeightBits)
		}
	}
	qw := make([]int8, len(w))
	for i, v := range w {
		qw[i] = int8(qs[i/per].Quantize(v))
	}
	scales := make([]float32, ch)
	zps := make([]int8, ch)
	for c, q := range qs {
		scales[c], zps[c] = q.Scale, int8(q.ZeroPoint)
	}
	var dims []int64 // per tensor: scalar parameters
	var axis []*onnx.AttributeProto
	if ch > 1 {
		dims = []int64{int64(ch)}
		axis = []*onnx.AttributeProto{attrInt("axis", 0)}
	}
	*inits = append(*inits, int8Tensor(qName(wName), wt.Dims, qw),
		floatTensor(wName+"_scale", dims, scales), int8Tensor(wName+"_zero_point", dims, zps))
	*nodes = append(*nodes, &onnx.NodeProto{Name: wName + "_DequantizeLinear", OpType: "DequantizeLinear",
		Input: []string{qName(wName), wName + "_scale", wName + "_zero_point"}, Output: []string{dqName(wName)}, Attribute: axis})
	n.Input[1] = dqName(wName)
	rep.Weights++
	rep.QuantizedSize += int64(len(qw))

	if len(n.Input) < 3 || n.Input[2] == "" {
		return wName, "", nil
	}
	bName := n.Input[2]
	bt := p.ix.inits[bName]
	b, err := floatsOf(bt)
	if err != nil {
		return "", "", err
	}
	// Bias: int32 with scale x_scale·w_scale[c] and zero point 0, which
	// is what QLinearConv adds to its int32 accumulator.
	bs := make([]float32, len(b))
	qb := make([]int32, len(b))
	for c, v := range b {
		s := xq.Scale * scales[min(c, ch-1)]
		if s == 0 {
			s = 1
		}
		bs[c] = s
		q := math.RoundToEven(float64(v) / float64(s))
		if q > math.MaxInt32 || q < math.MinInt32 {
			rep.BiasClamped++
			q = min(max(q, math.MinInt32), math.MaxInt32)
		}
		qb[c] = int32(q)
	}
	bdims := []int64{int64(len(b))}
	if ch == 1 { // one weight scale, so one bias scale
		bs, bdims = bs[:1], nil
	}
	*inits = append(*inits, int32Tensor(qName(bName), bt.Dims, qb),
		floatTensor(bName+"_scale", bdims, bs), int32Tensor(bName+"_zero_point", bdims, make([]int32, len(bs))))
	*nodes = append(*nodes, &onnx.NodeProto{Name: bName + "_DequantizeLinear", OpType: "DequantizeLinear",
		Input: []string{qName(bName), bName + "_scale", bName + "_zero_point"}, Output: []string{dqName(bName)}, Attribute: axis})
	n.Input[2] = dqName(bName)
	rep.QuantizedSize += int64(4 * len(qb))
	return wName, bName, nil
}
