package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// Load reads an ONNX model file.
func Load(path string) (*onnx.ModelProto, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return m, nil
}

// Parse decodes an ONNX model from its protobuf bytes.
func Parse(b []byte) (*onnx.ModelProto, error) {
	m := &onnx.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("not an ONNX model (protobuf: %v); give a .onnx file exported from PyTorch, Ultralytics or another ONNX exporter", err)
	}
	// Protobuf accepts many byte strings; a model has a graph with nodes.
	if m.Graph == nil || len(m.Graph.Node) == 0 || m.IrVersion <= 0 {
		return nil, errors.New("not an ONNX model (no graph); give a .onnx file exported from PyTorch, Ultralytics or another ONNX exporter")
	}
	for _, n := range m.Graph.Node {
		// Every reader here takes a node's first output: ONNX exporters
		// never write a node without one.
		if len(n.Output) == 0 {
			return nil, fmt.Errorf("node %q (%s) has no outputs; the file is damaged, or not written by an ONNX exporter", n.Name, n.OpType)
		}
	}
	for _, t := range m.Graph.Initializer {
		if t.DataLocation == onnx.TensorProto_EXTERNAL {
			return nil, fmt.Errorf("initializer %q keeps its data in an external file, which vigil does not read; save the model with its weights inside (onnx.save(model, path, save_as_external_data=False))", t.Name)
		}
		if !sizeable(t.Dims) {
			return nil, fmt.Errorf("initializer %q has shape %v, not the shape of a tensor a model file can hold (sizes of 0 or more, at most 2^31 elements); the file is damaged", t.Name, t.Dims)
		}
	}
	return m, nil
}

// Marshal encodes a model. Deterministic, so that the same input and
// options give the same bytes.
func Marshal(m *onnx.ModelProto) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// Save writes a model to path.
func Save(m *onnx.ModelProto, path string) error {
	b, err := Marshal(m)
	if err != nil {
		return fmt.Errorf("encode model: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	return nil
}

// opset is the model's default-domain ("" or "ai.onnx") opset version.
func opset(m *onnx.ModelProto) int64 {
	for _, o := range m.OpsetImport {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			return o.Version
		}
	}
	return 0
}

// maxElements bounds an initializer's size: a protobuf message, and so
// an ONNX file with its weights inside, holds at most 2 GiB. Within it,
// numElements and the byte counts made from it cannot overflow.
const maxElements = 1 << 31

// sizeable says whether dims is the shape of a tensor of at most
// maxElements elements.
func sizeable(dims []int64) bool {
	n := int64(1)
	for _, d := range dims {
		if d < 0 || d > maxElements {
			return false
		}
		if n *= d; n > maxElements {
			return false
		}
	}
	return true
}

func numElements(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// floatsOf returns a float32 tensor's values.
func floatsOf(t *onnx.TensorProto) ([]float32, error) {
	if t.DataType != int32(onnx.TensorProto_FLOAT) {
		return nil, fmt.Errorf("tensor %q is %s, not float", t.Name, onnx.TensorProto_DataType(t.DataType))
	}
	if !sizeable(t.Dims) {
		return nil, fmt.Errorf("tensor %q: shape %v is not the shape of a tensor a model file can hold", t.Name, t.Dims)
	}
	n := numElements(t.Dims)
	if len(t.RawData) > 0 {
		if int64(len(t.RawData)) != 4*n {
			return nil, fmt.Errorf("tensor %q: %d bytes of data for %d floats", t.Name, len(t.RawData), n)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
		}
		return out, nil
	}
	if int64(len(t.FloatData)) != n {
		return nil, fmt.Errorf("tensor %q: %d values for shape %v", t.Name, len(t.FloatData), t.Dims)
	}
	return append([]float32(nil), t.FloatData...), nil
}

func floatTensor(name string, dims []int64, v []float32) *onnx.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_FLOAT), RawData: raw}
}

func int8Tensor(name string, dims []int64, v []int8) *onnx.TensorProto {
	raw := make([]byte, len(v))
	for i, x := range v {
		raw[i] = byte(x)
	}
	return &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_INT8), RawData: raw}
}

func uint8Tensor(name string, dims []int64, v []uint8) *onnx.TensorProto {
	return &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_UINT8), RawData: append([]byte(nil), v...)}
}

func int32Tensor(name string, dims []int64, v []int32) *onnx.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_INT32), RawData: raw}
}

// int8sOf and uint8sOf read quantized tensors back (tests, Inspect).
func int8sOf(t *onnx.TensorProto) []int8 {
	if len(t.RawData) > 0 {
		out := make([]int8, len(t.RawData))
		for i, b := range t.RawData {
			out[i] = int8(b)
		}
		return out
	}
	out := make([]int8, len(t.Int32Data))
	for i, v := range t.Int32Data {
		out[i] = int8(v)
	}
	return out
}

func uint8sOf(t *onnx.TensorProto) []uint8 {
	if len(t.RawData) > 0 {
		return append([]uint8(nil), t.RawData...)
	}
	out := make([]uint8, len(t.Int32Data))
	for i, v := range t.Int32Data {
		out[i] = uint8(v)
	}
	return out
}

func int32sOf(t *onnx.TensorProto) []int32 {
	if len(t.RawData) > 0 {
		out := make([]int32, len(t.RawData)/4)
		for i := range out {
			out[i] = int32(binary.LittleEndian.Uint32(t.RawData[4*i:]))
		}
		return out
	}
	return append([]int32(nil), t.Int32Data...)
}

func attrInt(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: v}
}

func tensorValueInfo(name string, elem onnx.TensorProto_DataType) *onnx.ValueInfoProto {
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
		TensorType: &onnx.TypeProto_Tensor{ElemType: int32(elem)}}}}
}

// elemType is a value's tensor element type, or UNDEFINED.
func elemType(v *onnx.ValueInfoProto) onnx.TensorProto_DataType {
	if tt := v.GetType().GetTensorType(); tt != nil {
		return onnx.TensorProto_DataType(tt.ElemType)
	}
	return onnx.TensorProto_UNDEFINED
}

// shapeOf is a value's shape, -1 for a dynamic dimension; nil when unknown.
func shapeOf(v *onnx.ValueInfoProto) []int64 {
	tt := v.GetType().GetTensorType()
	if tt == nil || tt.Shape == nil {
		return nil
	}
	out := make([]int64, len(tt.Shape.Dim))
	for i, d := range tt.Shape.Dim {
		if _, ok := d.Value.(*onnx.TensorShapeProto_Dimension_DimValue); ok {
			out[i] = d.GetDimValue()
		} else {
			out[i] = -1
		}
	}
	return out
}
