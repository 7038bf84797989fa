package model

import (
	"github.com/advancedclimatesystems/gonnx/onnx"
)

// index answers the questions a rewrite asks of a graph: who makes a
// tensor, who reads it, which tensors are constants.
type index struct {
	g         *onnx.GraphProto
	inits     map[string]*onnx.TensorProto
	producer  map[string]*onnx.NodeProto
	consumers map[string][]*onnx.NodeProto
	outputs   map[string]bool // graph outputs
	inputs    map[string]bool // graph inputs that are not initializers
}

func newIndex(g *onnx.GraphProto) *index {
	ix := &index{g: g, inits: map[string]*onnx.TensorProto{}, producer: map[string]*onnx.NodeProto{},
		consumers: map[string][]*onnx.NodeProto{}, outputs: map[string]bool{}, inputs: map[string]bool{}}
	for _, t := range g.Initializer {
		ix.inits[t.Name] = t
	}
	for _, n := range g.Node {
		for _, o := range n.Output {
			if o != "" {
				ix.producer[o] = n
			}
		}
		for _, in := range n.Input {
			if in != "" {
				ix.consumers[in] = append(ix.consumers[in], n)
			}
		}
	}
	for _, o := range g.Output {
		ix.outputs[o.Name] = true
	}
	for _, in := range g.Input {
		if _, ok := ix.inits[in.Name]; !ok {
			ix.inputs[in.Name] = true
		}
	}
	return ix
}

// constant tells whether a tensor's value is fixed: an initializer or the
// output of a Constant node.
func (ix *index) constant(name string) bool {
	if _, ok := ix.inits[name]; ok {
		return true
	}
	p := ix.producer[name]
	return p != nil && p.OpType == "Constant"
}

// learned tells whether a node carries trained weights that shape features:
// a Conv, ConvTranspose, Gemm or MatMul with a constant weight of more than
// one output channel, or with a bias. A fixed one-channel Conv without bias
// (YOLOv8's DFL, which takes the expectation of a distribution) is decode
// arithmetic, not a learned layer.
func (ix *index) learned(n *onnx.NodeProto) bool {
	switch n.OpType {
	case "Conv", "ConvTranspose", "Gemm", "MatMul":
	default:
		return false
	}
	if len(n.Input) < 2 || !ix.constant(n.Input[1]) {
		return false
	}
	if len(n.Input) > 2 && n.Input[2] != "" {
		return true
	}
	w := ix.inits[n.Input[1]]
	return w == nil || len(w.Dims) == 0 || w.Dims[0] > 1
}

// head is the part of a detector kept in float by default: the last
// learned layer on each path to an output (it writes raw logits and box
// distributions, whose range calibration frames rarely cover: a frame
// without a confident object never shows a large class logit) and
// everything after it, the decode (reshapes, the DFL softmax, box
// arithmetic, the score sigmoid, the final concat).
func (ix *index) head() map[*onnx.NodeProto]bool {
	tail := map[*onnx.NodeProto]bool{}
	head := map[*onnx.NodeProto]bool{}
	for i := len(ix.g.Node) - 1; i >= 0; i-- {
		n := ix.g.Node[i]
		ok := true
		for _, o := range n.Output {
			for _, c := range ix.consumers[o] {
				ok = ok && tail[c]
			}
		}
		if ix.learned(n) {
			head[n] = ok
			continue
		}
		tail[n], head[n] = ok, ok
	}
	return head
}
