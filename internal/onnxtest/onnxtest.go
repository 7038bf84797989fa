// Package onnxtest writes tiny ONNX models for tests: a single Identity
// node with the input and output shapes a test needs, encoded by hand in
// the protobuf wire format (the handful of ModelProto fields used here).
package onnxtest

import (
	"encoding/binary"
	"os"
	"path/filepath"
)

// Identity returns an ONNX model with one float32 input "images" of shape
// in, one Identity node, and one float32 output "output0" of shape out
// (give the same shape twice unless the test wants a broken model), with
// optional metadata_props.
func Identity(in, out []int64, meta map[string]string) []byte {
	node := cat(str(1, "images"), str(2, "output0"), str(3, "id"), str(4, "Identity"))
	graph := cat(msg(1, node), str(2, "g"), msg(11, valueInfo("images", in)), msg(12, valueInfo("output0", out)))
	model := cat(varintField(1, 8), str(2, "vigil-onnxtest"), msg(7, graph), msg(8, cat(str(1, ""), varintField(2, 13))))
	for k, v := range meta {
		model = append(model, msg(14, cat(str(1, k), str(2, v)))...)
	}
	return model
}

// Write saves Identity(in, out, meta) as dir/name and returns the path.
func Write(dir, name string, in, out []int64, meta map[string]string) (string, error) {
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, Identity(in, out, meta), 0o644)
}

func valueInfo(name string, shape []int64) []byte {
	var dims []byte
	for _, d := range shape {
		dims = append(dims, msg(1, varintField(1, uint64(d)))...)
	}
	tensor := cat(varintField(1, 1), msg(2, dims)) // elem_type FLOAT
	return cat(str(1, name), msg(2, msg(1, tensor)))
}

func tag(field int, wire int) []byte { return binary.AppendUvarint(nil, uint64(field<<3|wire)) }

func varintField(field int, v uint64) []byte { return binary.AppendUvarint(tag(field, 0), v) }

func str(field int, s string) []byte { return msg(field, []byte(s)) }

func msg(field int, b []byte) []byte {
	out := binary.AppendUvarint(tag(field, 2), uint64(len(b)))
	return append(out, b...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
