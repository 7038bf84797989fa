// Package onnxtest writes tiny ONNX models for tests: a single Identity
// node with the input and output shapes a test needs, built with the ONNX
// protobuf types of github.com/advancedclimatesystems/gonnx.
package onnxtest

import (
	"os"
	"path/filepath"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// Identity returns an ONNX model with one float32 input "images" of shape
// in, one Identity node, and one float32 output "output0" of shape out
// (give the same shape twice unless the test wants a broken model), with
// optional metadata_props.
func Identity(in, out []int64, meta map[string]string) []byte {
	m := &onnx.ModelProto{
		IrVersion:    8,
		ProducerName: "vigil-onnxtest",
		OpsetImport:  []*onnx.OperatorSetIdProto{{Domain: "", Version: 13}},
		Graph: &onnx.GraphProto{
			Name:   "g",
			Node:   []*onnx.NodeProto{{Name: "id", OpType: "Identity", Input: []string{"images"}, Output: []string{"output0"}}},
			Input:  []*onnx.ValueInfoProto{ValueInfo("images", onnx.TensorProto_FLOAT, in)},
			Output: []*onnx.ValueInfoProto{ValueInfo("output0", onnx.TensorProto_FLOAT, out)},
		},
	}
	for k, v := range meta {
		m.MetadataProps = append(m.MetadataProps, &onnx.StringStringEntryProto{Key: k, Value: v})
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err) // a fixed, valid message
	}
	return b
}

// Write saves Identity(in, out, meta) as dir/name and returns the path.
func Write(dir, name string, in, out []int64, meta map[string]string) (string, error) {
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, Identity(in, out, meta), 0o644)
}

// ValueInfo declares a tensor of the given element type and shape.
func ValueInfo(name string, elem onnx.TensorProto_DataType, shape []int64) *onnx.ValueInfoProto {
	dims := make([]*onnx.TensorShapeProto_Dimension, len(shape))
	for i, d := range shape {
		dims[i] = &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}}
	}
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
		TensorType: &onnx.TypeProto_Tensor{ElemType: int32(elem), Shape: &onnx.TensorShapeProto{Dim: dims}}}}}
}
