package model

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/vigil-vision/vigil/detect"
)

// Tensor describes a graph input or output.
type Tensor struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`  // float32, float16, uint8, …
	Shape []string `json:"shape"` // sizes; a symbolic name or "?" where dynamic
}

// Info is what Inspect finds in a model.
type Info struct {
	Path            string            `json:"path"`
	FileBytes       int64             `json:"file_bytes"`
	IRVersion       int64             `json:"ir_version"`
	Opsets          map[string]int64  `json:"opsets"` // domain ("" = ai.onnx) → version
	Producer        string            `json:"producer"`
	ProducerVersion string            `json:"producer_version"`
	Inputs          []Tensor          `json:"inputs"`
	Outputs         []Tensor          `json:"outputs"`
	Metadata        map[string]string `json:"metadata"`
	Classes         []string          `json:"classes"` // from the "names" metadata
	Params          int64             `json:"params"`  // elements of all initializers
	ParamBytes      int64             `json:"param_bytes"`
	ParamsByType    map[string]int64  `json:"params_by_type"` // element type → elements
	Nodes           int               `json:"nodes"`
	Ops             map[string]int    `json:"ops"`     // operator type → count
	Decoder         string            `json:"decoder"` // what vigil would pick, or why none
	DecoderClasses  int               `json:"decoder_classes"`
	Quantized       string            `json:"quantized"` // "no", or how
}

var elemNames = map[onnx.TensorProto_DataType]string{
	onnx.TensorProto_FLOAT: "float32", onnx.TensorProto_UINT8: "uint8", onnx.TensorProto_INT8: "int8",
	onnx.TensorProto_UINT16: "uint16", onnx.TensorProto_INT16: "int16", onnx.TensorProto_INT32: "int32",
	onnx.TensorProto_INT64: "int64", onnx.TensorProto_STRING: "string", onnx.TensorProto_BOOL: "bool",
	onnx.TensorProto_FLOAT16: "float16", onnx.TensorProto_DOUBLE: "float64", onnx.TensorProto_UINT32: "uint32",
	onnx.TensorProto_UINT64: "uint64", onnx.TensorProto_BFLOAT16: "bfloat16",
}

var elemSizes = map[onnx.TensorProto_DataType]int64{
	onnx.TensorProto_FLOAT: 4, onnx.TensorProto_UINT8: 1, onnx.TensorProto_INT8: 1, onnx.TensorProto_UINT16: 2,
	onnx.TensorProto_INT16: 2, onnx.TensorProto_INT32: 4, onnx.TensorProto_INT64: 8, onnx.TensorProto_BOOL: 1,
	onnx.TensorProto_FLOAT16: 2, onnx.TensorProto_DOUBLE: 8, onnx.TensorProto_UINT32: 4, onnx.TensorProto_UINT64: 8,
	onnx.TensorProto_BFLOAT16: 2,
}

func elemName(t onnx.TensorProto_DataType) string {
	if n, ok := elemNames[t]; ok {
		return n
	}
	return strings.ToLower(t.String())
}

func describe(v *onnx.ValueInfoProto) Tensor {
	t := Tensor{Name: v.Name, Type: elemName(elemType(v))}
	if tt := v.GetType().GetTensorType(); tt != nil && tt.Shape != nil {
		for _, d := range tt.Shape.Dim {
			switch {
			case d.GetDimParam() != "":
				t.Shape = append(t.Shape, d.GetDimParam())
			case d.GetValue() != nil:
				t.Shape = append(t.Shape, fmt.Sprint(d.GetDimValue()))
			default:
				t.Shape = append(t.Shape, "?")
			}
		}
	}
	return t
}

// Inspect describes the model at path.
func Inspect(path string) (*Info, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, pathErr(err))
	}
	m, err := Load(path)
	if err != nil {
		return nil, err
	}
	info := describeModel(m)
	info.Path, info.FileBytes = path, st.Size()
	return info, nil
}

func describeModel(m *onnx.ModelProto) *Info {
	g := m.Graph
	ix := newIndex(g)
	info := &Info{IRVersion: m.IrVersion, Opsets: map[string]int64{}, Producer: m.ProducerName,
		ProducerVersion: m.ProducerVersion, Metadata: map[string]string{}, ParamsByType: map[string]int64{},
		Nodes: len(g.Node), Ops: map[string]int{}}
	for _, o := range m.OpsetImport {
		info.Opsets[o.Domain] = o.Version
	}
	for _, in := range g.Input {
		if ix.inputs[in.Name] {
			info.Inputs = append(info.Inputs, describe(in))
		}
	}
	for _, o := range g.Output {
		info.Outputs = append(info.Outputs, describe(o))
	}
	for _, p := range m.MetadataProps {
		info.Metadata[p.Key] = p.Value
	}
	if n, ok := info.Metadata["names"]; ok {
		info.Classes = detect.ParseNames(n)
	}
	for _, t := range g.Initializer {
		n := numElements(t.Dims)
		dt := onnx.TensorProto_DataType(t.DataType)
		info.Params += n
		info.ParamBytes += n * elemSizes[dt]
		info.ParamsByType[elemName(dt)] += n
	}
	for _, n := range g.Node {
		info.Ops[n.OpType]++
	}
	info.Decoder, info.DecoderClasses = decoderFor(g)
	info.Quantized = quantization(info)
	return info
}

// decoderFor is the decoder vigil's detector would choose for the first
// output, or why it would refuse the model.
func decoderFor(g *onnx.GraphProto) (string, int) {
	if len(g.Output) == 0 {
		return "none: the model has no outputs", 0
	}
	o := g.Output[0]
	if elemType(o) != onnx.TensorProto_FLOAT {
		return fmt.Sprintf("none: output %q is %s; vigil decodes float32", o.Name, elemName(elemType(o))), 0
	}
	s := shapeOf(o)
	if len(s) == 3 && s[0] == -1 {
		s[0] = 1
	}
	l, classes, err := detect.ChooseLayout(s, 0)
	if err != nil {
		return "none: " + err.Error(), 0
	}
	return l.String(), classes
}

func quantization(info *Info) string {
	var how []string
	switch {
	case info.Ops["QLinearConv"] > 0 || info.Ops["ConvInteger"] > 0 || info.Ops["MatMulInteger"] > 0 || info.Ops["QLinearMatMul"] > 0:
		how = append(how, "yes: QOperator (integer operators such as QLinearConv)")
	case info.Ops["DequantizeLinear"] > 0:
		w := []string{}
		for _, t := range []string{"int8", "uint8", "int4", "uint4", "int16", "uint16"} {
			if info.ParamsByType[t] > 0 {
				w = append(w, t)
			}
		}
		how = append(how, fmt.Sprintf("yes: QDQ (%d QuantizeLinear, %d DequantizeLinear; integer tensors %s)",
			info.Ops["QuantizeLinear"], info.Ops["DequantizeLinear"], strings.Join(w, ", ")))
	}
	if info.ParamsByType["float16"] > 0 {
		how = append(how, "float16 weights")
	}
	if s, ok := info.Metadata["vigil_quantization"]; ok {
		how = append(how, "by vigil: "+s)
	}
	if len(how) == 0 {
		return "no (float32)"
	}
	return strings.Join(how, "; ")
}

// OpsSorted is the operator counts, most frequent first.
func (i *Info) OpsSorted() []string {
	type kv struct {
		k string
		v int
	}
	var s []kv
	for k, v := range i.Ops {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(a, b int) bool { return s[a].v > s[b].v || s[a].v == s[b].v && s[a].k < s[b].k })
	out := make([]string, len(s))
	for j, x := range s {
		out[j] = fmt.Sprintf("%s %d", x.k, x.v)
	}
	return out
}
