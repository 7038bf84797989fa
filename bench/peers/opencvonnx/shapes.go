package opencvonnx

import (
	"errors"
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"
)

// Shapes runs m once with onnxruntime on zeros, with the named values added
// as outputs, and returns their shapes: onnxruntime's own shape inference,
// not a second one written here. The onnxruntime environment must be
// initialized (detect.InitRuntime).
func Shapes(m *onnx.ModelProto, names []string) (map[string][]int64, error) {
	probe := proto.Clone(m).(*onnx.ModelProto)
	g := probe.Graph
	if len(g.Input) == 0 {
		return nil, errors.New("model has no inputs")
	}
	var inputs []ort.Value
	var inNames []string
	defer func() {
		for _, v := range inputs {
			v.Destroy()
		}
	}()
	inits := map[string]bool{}
	for _, t := range g.Initializer {
		inits[t.Name] = true
	}
	for _, in := range g.Input {
		if inits[in.Name] {
			continue // an initializer listed as input (old exporters)
		}
		tt := in.GetType().GetTensorType()
		if tt == nil || tt.ElemType != int32(onnx.TensorProto_FLOAT) {
			return nil, fmt.Errorf("input %q: only float tensor inputs are supported", in.Name)
		}
		var shape ort.Shape
		for _, d := range tt.GetShape().GetDim() {
			shape = append(shape, max(d.GetDimValue(), 1)) // dynamic sizes: 1
		}
		t, err := ort.NewEmptyTensor[float32](shape)
		if err != nil {
			return nil, fmt.Errorf("input %q %v: %w", in.Name, shape, err)
		}
		inputs, inNames = append(inputs, t), append(inNames, in.Name)
	}
	for _, n := range names {
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: n, Type: &onnx.TypeProto{
			Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_FLOAT)}},
		}})
	}
	data, err := proto.Marshal(probe)
	if err != nil {
		return nil, fmt.Errorf("marshal the probe model: %w", err)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(data, inNames, names, nil)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime: %w", err)
	}
	defer s.Destroy()
	outputs := make([]ort.Value, len(names))
	if err := s.Run(inputs, outputs); err != nil {
		return nil, fmt.Errorf("onnxruntime: %w", err)
	}
	got := map[string][]int64{}
	for i, v := range outputs {
		got[names[i]] = v.GetShape()
		v.Destroy()
	}
	return got, nil
}
