package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// float32Only lists inputs that the ONNX spec types as float32 whatever
// the data's type: they keep float32 in an FP16 model.
var float32Only = map[string][]int{
	"Resize":   {1, 2}, // roi, scales
	"Upsample": {1},    // scales
}

// FP16Report says what ToFP16 did.
type FP16Report struct {
	Tensors int // float tensors converted (initializers and constants)
	Clamped int // values beyond ±65504, clamped
	Kept    int // float32 tensors kept for float32-only inputs
}

// ToFP16 returns a copy of m whose float weights, constants and
// computation are float16, with float32 inputs and outputs: a Cast after
// each float input and before each float output, so callers (vigil's
// detector) feed and read float32 as before. Meant for GPUs; onnxruntime's
// CPU provider runs it with casts around the ops it has no float16 kernel
// for.
func ToFP16(m *onnx.ModelProto) (*onnx.ModelProto, *FP16Report, error) {
	for _, n := range m.Graph.Node {
		if n.OpType == "QuantizeLinear" || n.OpType == "DequantizeLinear" || strings.HasPrefix(n.OpType, "QLinear") {
			return nil, nil, fmt.Errorf("the model is already quantized (%s node %q); convert the float model instead", n.OpType, n.Name)
		}
	}
	out := proto.Clone(m).(*onnx.ModelProto)
	g := out.Graph
	ix := newIndex(g)
	rep := &FP16Report{}
	keep := map[string]bool{}
	for _, n := range g.Node {
		for _, i := range float32Only[n.OpType] {
			if i < len(n.Input) && n.Input[i] != "" {
				keep[n.Input[i]] = true
			}
		}
	}
	converted := 0
	for _, t := range g.Initializer {
		if t.DataType != int32(onnx.TensorProto_FLOAT) {
			continue
		}
		if keep[t.Name] {
			rep.Kept++
			continue
		}
		if err := toHalf(t, rep); err != nil {
			return nil, nil, err
		}
		converted++
	}
	for _, n := range g.Node {
		switch n.OpType {
		case "Constant":
			if keep[n.Output[0]] {
				rep.Kept++
				continue
			}
			for _, a := range n.Attribute {
				switch {
				case a.Name == "value" && a.T != nil && a.T.DataType == int32(onnx.TensorProto_FLOAT):
					if err := toHalf(a.T, rep); err != nil {
						return nil, nil, err
					}
				case a.Name == "value_float":
					*a = onnx.AttributeProto{Name: "value", Type: onnx.AttributeProto_TENSOR, T: floatTensor("", nil, []float32{a.F})}
					toHalf(a.T, rep)
				case a.Name == "value_floats":
					*a = onnx.AttributeProto{Name: "value", Type: onnx.AttributeProto_TENSOR, T: floatTensor("", []int64{int64(len(a.Floats))}, a.Floats)}
					toHalf(a.T, rep)
				}
			}
		case "Cast":
			for _, a := range n.Attribute {
				if a.Name == "to" && a.I == int64(onnx.TensorProto_FLOAT) {
					a.I = int64(onnx.TensorProto_FLOAT16)
				}
			}
		}
	}
	if converted == 0 {
		return nil, nil, fmt.Errorf("%w: the model has no float32 initializers (already FP16 or quantized?)", ErrNoFloatWeights)
	}
	for _, v := range g.ValueInfo {
		if tt := v.GetType().GetTensorType(); tt != nil && tt.ElemType == int32(onnx.TensorProto_FLOAT) {
			tt.ElemType = int32(onnx.TensorProto_FLOAT16)
		}
	}

	// Inputs: a Cast to float16 after each float input, read by its
	// consumers instead.
	var head []*onnx.NodeProto
	for _, in := range g.Input {
		if !ix.inputs[in.Name] || elemType(in) != onnx.TensorProto_FLOAT {
			continue
		}
		half := in.Name + "_fp16"
		for _, n := range g.Node {
			for j, x := range n.Input {
				if x == in.Name {
					n.Input[j] = half
				}
			}
		}
		head = append(head, &onnx.NodeProto{Name: in.Name + "_CastToFP16", OpType: "Cast",
			Input: []string{in.Name}, Output: []string{half},
			Attribute: []*onnx.AttributeProto{attrInt("to", int64(onnx.TensorProto_FLOAT16))}})
	}
	// Outputs: the producer writes name_fp16, a Cast writes the float32
	// output under its old name.
	var tail []*onnx.NodeProto
	for _, o := range g.Output {
		if elemType(o) != onnx.TensorProto_FLOAT {
			continue
		}
		half := o.Name + "_fp16"
		for _, n := range g.Node {
			for j, x := range n.Output {
				if x == o.Name {
					n.Output[j] = half
				}
			}
			for j, x := range n.Input {
				if x == o.Name {
					n.Input[j] = half
				}
			}
		}
		tail = append(tail, &onnx.NodeProto{Name: o.Name + "_CastToFP32", OpType: "Cast",
			Input: []string{half}, Output: []string{o.Name},
			Attribute: []*onnx.AttributeProto{attrInt("to", int64(onnx.TensorProto_FLOAT))}})
	}
	g.Node = append(append(head, g.Node...), tail...)
	setMeta(out, "vigil_precision", "fp16 weights and compute, fp32 inputs and outputs")
	return out, rep, nil
}

// toHalf rewrites a float32 tensor as float16 in place.
func toHalf(t *onnx.TensorProto, rep *FP16Report) error {
	v, err := floatsOf(t)
	if err != nil {
		return err
	}
	raw := make([]byte, 2*len(v))
	for i, x := range v {
		if math.Abs(float64(x)) > 65504 {
			rep.Clamped++
		}
		binary.LittleEndian.PutUint16(raw[2*i:], Float16Bits(x))
	}
	t.DataType = int32(onnx.TensorProto_FLOAT16)
	t.FloatData, t.RawData = nil, raw
	rep.Tensors++
	return nil
}

// Float16Bits converts to IEEE 754 half precision, rounding to nearest
// even; magnitudes beyond the largest half (65504) clamp to it rather than
// become infinite, NaN stays NaN.
func Float16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff && mant != 0:
		return sign | 0x7e00 // NaN
	case exp == 0xff, exp-127 > 15:
		return sign | 0x7bff // ±Inf and overflow clamp to ±65504
	}
	e := exp - 127 + 15
	if e <= 0 { // subnormal half, or zero
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || rem == half && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // may carry into the exponent, which is still right
	}
	if h >= 0x7c00 {
		return sign | 0x7bff
	}
	return sign | uint16(h)
}

// Float16Value converts half-precision bits back to float32.
func Float16Value(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		v := float32(mant) / 1024 / 16384 // 2^-14 · m/1024
		if sign != 0 {
			return -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp-15+127)<<23 | mant<<13)
}
