package model

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/onnxtest"
)

// requireRuntime loads the real onnxruntime from `make deps`.
func requireRuntime(t testing.TB) {
	t.Helper()
	if err := detect.InitRuntime(assets.Library()); err != nil {
		t.Fatal(err)
	}
}

// Known weights of the tiny model: 4 output channels of a 1×1 convolution
// over RGB, each channel with its own magnitude so that per-channel and
// per-tensor scales differ.
var (
	tinyW = []float32{
		0.50, -0.25, 0.125, // channel 0: max |w| 0.5
		-2.0, 1.5, 0.3, // channel 1: max |w| 2.0
		0.01, 0.02, -0.03, // channel 2: max |w| 0.03
		1.0, 1.0, 1.0, // channel 3: only positive
	}
	tinyB = []float32{0.1, -0.5, 0.0, 0.25}
)

const tinySize = 16

// tinyConv is images [1,3,16,16] → Conv 1×1 (tinyW, tinyB) → Sigmoid →
// output0 [1,4,16,16]: a learned layer and an activation, built with the
// gonnx ONNX types.
func tinyConv() *onnx.ModelProto {
	shape := []int64{1, 3, tinySize, tinySize}
	return &onnx.ModelProto{
		IrVersion:    8,
		ProducerName: "vigil-test",
		OpsetImport:  []*onnx.OperatorSetIdProto{{Version: 17}},
		Graph: &onnx.GraphProto{
			Name: "tiny",
			Node: []*onnx.NodeProto{
				{Name: "conv", OpType: "Conv", Input: []string{"images", "w", "b"}, Output: []string{"y"}},
				{Name: "act", OpType: "Sigmoid", Input: []string{"y"}, Output: []string{"output0"}},
			},
			Initializer: []*onnx.TensorProto{floatTensor("w", []int64{4, 3, 1, 1}, tinyW), floatTensor("b", []int64{4}, tinyB)},
			Input:       []*onnx.ValueInfoProto{onnxtest.ValueInfo("images", onnx.TensorProto_FLOAT, shape)},
			Output:      []*onnx.ValueInfoProto{onnxtest.ValueInfo("output0", onnx.TensorProto_FLOAT, []int64{1, 4, tinySize, tinySize})},
		},
	}
}

func saveModel(t testing.TB, m *onnx.ModelProto, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := Save(m, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func initializer(m *onnx.ModelProto, name string) *onnx.TensorProto {
	for _, t := range m.Graph.Initializer {
		if t.Name == name {
			return t
		}
	}
	return nil
}

func scalarFloat(t testing.TB, m *onnx.ModelProto, name string) float32 {
	t.Helper()
	tp := initializer(m, name)
	if tp == nil {
		t.Fatalf("no initializer %q", name)
	}
	v, err := floatsOf(tp)
	if err != nil || len(v) != 1 {
		t.Fatalf("%s: %v %v", name, v, err)
	}
	return v[0]
}
