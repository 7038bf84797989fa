package model

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/internal/fuzztest"
	"github.com/vigil-vision/vigil/internal/onnxtest"
	"google.golang.org/protobuf/proto"
)

// shrunk is m with every initializer cut to at most 4 elements along each
// axis: the graph of a real detector in a few kilobytes.
func shrunk(m *onnx.ModelProto) *onnx.ModelProto {
	out := proto.Clone(m).(*onnx.ModelProto)
	for i, t := range out.Graph.Initializer {
		if t.DataType != int32(onnx.TensorProto_FLOAT) {
			continue
		}
		dims := make([]int64, len(t.Dims))
		for j, d := range t.Dims {
			dims[j] = min(d, 4)
		}
		v := make([]float32, numElements(dims))
		for j := range v {
			v[j] = float32(j%7-3) / 4
		}
		out.Graph.Initializer[i] = floatTensor(t.Name, dims, v)
	}
	return out
}

// FuzzModel feeds the ONNX reader any bytes, as `vigil model inspect`,
// `quantize` and `fp16` get them from a file: it must not panic; a model
// it accepts has a graph, reads back equal once written, can be described,
// and converting or quantizing it either fails with an error or gives a
// model that reads back too.
func FuzzModel(f *testing.F) {
	add := func(m *onnx.ModelProto) {
		b, err := Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	add(tinyConv())
	named := tinyConv()
	named.MetadataProps = []*onnx.StringStringEntryProto{{Key: "names", Value: "{0: 'person', 1: 'bicycle', 2: 'car', 3: \"it's\"}"}, {Key: "stride", Value: "32"}}
	named.Graph.Output[0] = onnxtest.ValueInfo("output0", onnx.TensorProto_FLOAT, []int64{1, 8, 8400})
	add(named)
	qdq := tinyConv()
	qdq.Graph.Node = append(qdq.Graph.Node, &onnx.NodeProto{Name: "dq", OpType: "DequantizeLinear", Input: []string{"wq", "s"}, Output: []string{"w2"}})
	qdq.Graph.Initializer = append(qdq.Graph.Initializer, int8Tensor("wq", []int64{2}, []int8{-3, 4}), uint8Tensor("u", []int64{1}, []uint8{9}), int32Tensor("i", []int64{1}, []int32{-7}))
	add(qdq)
	constant := tinyConv()
	constant.Graph.Node = append([]*onnx.NodeProto{{Name: "c", OpType: "Constant", Output: []string{"k"},
		Attribute: []*onnx.AttributeProto{{Name: "value_floats", Type: onnx.AttributeProto_FLOATS, Floats: []float32{1, 70000}}}}}, constant.Graph.Node...)
	add(constant)
	f.Add(onnxtest.Identity([]int64{1, 3, 640, 640}, []int64{1, 300, 6}, map[string]string{"names": "{0: 'a'}"}))
	f.Add(onnxtest.Identity([]int64{1, 3, 640, 640}, []int64{-1, 84, 8400}, nil))
	if b, err := os.ReadFile(assets.Model()); err == nil {
		if m, err := Parse(b); err == nil {
			add(shrunk(m))
		}
	}
	f.Add([]byte{})
	f.Add([]byte("not a model"))
	f.Fuzz(checkModel)
}

// FuzzModelWeight is FuzzModel with the bytes mutated where a byte-level
// mutation of a protobuf seldom lands: the tiny model's weight tensor gets
// any shape, element type and data.
func FuzzModelWeight(f *testing.F) {
	raw := floatTensor("w", nil, tinyW).RawData
	f.Add(dimBytes(4, 3, 1, 1), int32(onnx.TensorProto_FLOAT), raw, uint16(0), true)
	f.Add(dimBytes(4, 3, 1, 1), int32(onnx.TensorProto_FLOAT), []byte(nil), uint16(12), true)
	f.Add(dimBytes(4, 3), int32(onnx.TensorProto_FLOAT), raw, uint16(0), false)
	f.Add(dimBytes(), int32(onnx.TensorProto_FLOAT), raw[:4], uint16(0), true)
	f.Add(dimBytes(-1, -12), int32(onnx.TensorProto_FLOAT), raw, uint16(0), true)
	f.Add(dimBytes(1<<62, 4, 1, 1), int32(onnx.TensorProto_FLOAT), raw, uint16(0), true)
	f.Add(dimBytes(12), int32(onnx.TensorProto_INT8), raw[:12], uint16(0), true)
	f.Add(dimBytes(4, 3, 1, 1), int32(onnx.TensorProto_FLOAT16), raw[:24], uint16(0), true)
	f.Fuzz(func(t *testing.T, dims []byte, dtype int32, data []byte, floats uint16, conv bool) {
		m := tinyConv()
		w := &onnx.TensorProto{Name: "w", DataType: dtype, RawData: data, FloatData: make([]float32, floats%1024)}
		for ; len(dims) >= 8 && len(w.Dims) < 8; dims = dims[8:] {
			w.Dims = append(w.Dims, int64(binary.LittleEndian.Uint64(dims)))
		}
		m.Graph.Initializer[0] = w
		if !conv {
			m.Graph.Node[0].OpType = "Mul"
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		checkModel(t, b)
	})
}

func dimBytes(dims ...int64) []byte {
	var b []byte
	for _, d := range dims {
		b = binary.LittleEndian.AppendUint64(b, uint64(d))
	}
	return b
}

// checkModel is what FuzzModel and FuzzModelWeight assert.
func checkModel(t *testing.T, b []byte) {
	fuzztest.Watchdog(t)
	m, err := Parse(b)
	if err != nil {
		return
	}
	if m.Graph == nil || len(m.Graph.Node) == 0 {
		t.Fatalf("accepted a model without a graph: %v", m)
	}
	out, err := Marshal(m)
	if err != nil {
		t.Fatalf("accepted, but does not encode: %v", err)
	}
	back, err := Parse(out)
	if err != nil || !proto.Equal(back, m) {
		t.Fatalf("written out, reads back as %v, %v", back, err)
	}
	info := describeModel(m)
	if info.Nodes != len(m.Graph.Node) || info.Params < 0 || info.ParamBytes < 0 || info.Decoder == "" || info.Quantized == "" {
		t.Fatalf("described as %+v", info)
	}
	for _, init := range m.Graph.Initializer {
		if init.DataType != int32(onnx.TensorProto_FLOAT) {
			continue
		}
		if v, err := floatsOf(init); err == nil && int64(len(v)) != numElements(init.Dims) {
			t.Fatalf("tensor %q of shape %v: %d values", init.Name, init.Dims, len(v))
		}
	}
	if half, _, err := ToFP16(m); err == nil {
		if _, err := Parse(mustMarshal(t, half)); err != nil {
			t.Fatalf("converted to FP16, does not read back: %v", err)
		}
	}
	// Every tensor calibrated to [-1, 1]: quantizing needs no frames.
	stats := map[string]*Stats{}
	for _, n := range m.Graph.Node {
		for _, name := range append(append([]string(nil), n.Input...), n.Output...) {
			stats[name] = &Stats{Min: -1, Max: 1}
		}
	}
	for _, in := range m.Graph.Input {
		stats[in.Name] = &Stats{Min: -1, Max: 1}
	}
	for _, o := range []Options{{Stats: stats}, {Stats: stats, PerTensor: true, AsymmetricWeights: true, QuantizeHead: true}} {
		if q, _, err := Quantize(m, o); err == nil {
			if _, err := Parse(mustMarshal(t, q)); err != nil {
				t.Fatalf("quantized, does not read back: %v", err)
			}
		}
	}
}

func mustMarshal(t *testing.T, m *onnx.ModelProto) []byte {
	t.Helper()
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseDamaged: models FuzzModel and FuzzModelWeight found crashing
// Quantize (a node without outputs) or overflowing Inspect's byte count
// (a shape of 2^62 elements) are refused when read.
func TestParseDamaged(t *testing.T) {
	noOutput := tinyConv()
	noOutput.Graph.Node[0].Output = nil
	cases := []struct {
		name string
		m    *onnx.ModelProto
		want string
	}{
		{"node without outputs", noOutput, `node "conv" (Conv) has no outputs; the file is damaged`},
		{"negative size", withWeightDims(-1, -12), `initializer "w" has shape [-1 -12], not the shape of a tensor a model file can hold`},
		{"2^62 elements", withWeightDims(1<<31, 1<<31), `initializer "w" has shape [2147483648 2147483648]`},
		{"over 2^31 elements", withWeightDims(1<<16, 1<<16, 2), "the file is damaged"},
	}
	for _, tc := range cases {
		_, err := Parse(mustMarshal(t, tc.m))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := Parse(mustMarshal(t, withWeightDims(12))); err != nil {
		t.Errorf("12 weights as [12]: %v", err)
	}
}

func withWeightDims(dims ...int64) *onnx.ModelProto {
	m := tinyConv()
	m.Graph.Initializer[0].Dims = dims
	return m
}
