// Package opencvonnx rewrites an ONNX model that OpenCV 4.6's DNN importer
// misreads into an equivalent one it reads, for the benchmark's OpenCV
// peers. Debian 12's OpenCV 4.6 cannot load the stock YOLOv8n export: it
// mishandles Split with a sizes input, and binary operators whose constant
// operand relies on rank broadcasting. The rewrite replaces
//
//   - each Split that takes its sizes as an input by one Slice per output,
//     with the same output names;
//   - each constant operand of Add, Sub, Mul or Div whose rank is below the
//     operator's output rank (scalars aside, which OpenCV handles) by that
//     constant broadcast to the output's shape.
//
// Weights are untouched; the rewritten model computes exactly what the
// stock one does (TestRewriteIsExact checks it with onnxruntime). Output
// shapes come from onnxruntime itself: see Shapes.
//
// In: an onnx.ModelProto (github.com/advancedclimatesystems/gonnx/onnx,
// read with proto.Unmarshal). Out: the same proto, changed in place, and a
// list of what changed.
package opencvonnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Change is one rewrite, for the record.
type Change struct {
	Node string // the node rewritten
	What string
}

// ShapeFunc gives the shapes of the named values of the model as it is,
// for example from a run of it (Shapes).
type ShapeFunc func(m *onnx.ModelProto, names []string) (map[string][]int64, error)

// Rewrite changes m in place so that OpenCV 4.6 reads it, and says what it
// changed. shapes is asked once, for the outputs of the binary operators
// that have a constant operand.
func Rewrite(m *onnx.ModelProto, shapes ShapeFunc) ([]Change, error) {
	g := m.GetGraph()
	if g == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	c := newConsts(g)
	replaced := map[string]bool{} // constants the rewrite may leave unused
	var changes []Change

	// Binary operators first, while the graph is as shapes sees it.
	type operand struct {
		node  *onnx.NodeProto
		input int
		value *onnx.TensorProto
	}
	var ops []operand
	var outs []string
	for _, n := range g.Node {
		if !slices.Contains([]string{"Add", "Sub", "Mul", "Div"}, n.OpType) || len(n.Input) != 2 {
			continue
		}
		for i, in := range n.Input {
			if t := c.value(in); t != nil && len(t.Dims) > 0 {
				ops = append(ops, operand{n, i, t})
				outs = append(outs, n.Output[0])
			}
		}
	}
	if len(ops) > 0 {
		got, err := shapes(m, outs)
		if err != nil {
			return nil, fmt.Errorf("shapes of binary operator outputs: %w", err)
		}
		for _, op := range ops {
			out, ok := got[op.node.Output[0]]
			if !ok {
				return nil, fmt.Errorf("node %q: no shape for its output %q", op.node.Name, op.node.Output[0])
			}
			if len(op.value.Dims) >= len(out) {
				continue
			}
			b, err := broadcast(op.value, out)
			if err != nil {
				return nil, fmt.Errorf("node %q input %q: %w", op.node.Name, op.node.Input[op.input], err)
			}
			b.Name = fmt.Sprintf("%s_broadcast_%d", op.node.Input[op.input], op.input)
			g.Initializer = append(g.Initializer, b)
			changes = append(changes, Change{op.node.Name, fmt.Sprintf("%s constant %q %v broadcast to %v", op.node.OpType, op.node.Input[op.input], op.value.Dims, out)})
			replaced[op.node.Input[op.input]] = true
			op.node.Input[op.input] = b.Name
		}
	}

	// Splits with a sizes input.
	var nodes []*onnx.NodeProto
	for _, n := range g.Node {
		if n.OpType != "Split" || len(n.Input) < 2 || n.Input[1] == "" {
			nodes = append(nodes, n)
			continue
		}
		sizes, err := c.ints(n.Input[1])
		if err != nil {
			return nil, fmt.Errorf("split %q: sizes %q: %w", n.Name, n.Input[1], err)
		}
		if len(sizes) != len(n.Output) {
			return nil, fmt.Errorf("split %q: %d sizes for %d outputs", n.Name, len(sizes), len(n.Output))
		}
		axis := int64(0)
		for _, a := range n.Attribute {
			if a.Name == "axis" {
				axis = a.I
			}
		}
		start := int64(0)
		for i, out := range n.Output {
			name := fmt.Sprintf("%s_slice_%d", n.Name, i)
			params := []*onnx.TensorProto{
				int64Tensor(name+"_starts", start),
				int64Tensor(name+"_ends", start+sizes[i]),
				int64Tensor(name+"_axes", axis),
			}
			g.Initializer = append(g.Initializer, params...)
			nodes = append(nodes, &onnx.NodeProto{
				Name: name, OpType: "Slice", Domain: n.Domain,
				Input:  []string{n.Input[0], params[0].Name, params[1].Name, params[2].Name},
				Output: []string{out},
			})
			start += sizes[i]
		}
		changes = append(changes, Change{n.Name, fmt.Sprintf("Split by %v along axis %d → %d Slices", sizes, axis, len(sizes))})
		replaced[n.Input[1]] = true
	}
	g.Node = nodes
	dropUnused(g, replaced)
	return changes, nil
}

// consts finds constant values: initializers and Constant nodes' outputs.
type consts struct {
	init  map[string]*onnx.TensorProto
	nodes map[string]*onnx.TensorProto
}

func newConsts(g *onnx.GraphProto) *consts {
	c := &consts{init: map[string]*onnx.TensorProto{}, nodes: map[string]*onnx.TensorProto{}}
	for _, t := range g.Initializer {
		c.init[t.Name] = t
	}
	for _, n := range g.Node {
		if n.OpType != "Constant" || len(n.Output) != 1 {
			continue
		}
		for _, a := range n.Attribute {
			if a.Name == "value" && a.T != nil {
				c.nodes[n.Output[0]] = a.T
			}
		}
	}
	return c
}

func (c *consts) value(name string) *onnx.TensorProto {
	if t := c.init[name]; t != nil {
		return t
	}
	return c.nodes[name]
}

// ints reads an int64 constant.
func (c *consts) ints(name string) ([]int64, error) {
	t := c.value(name)
	if t == nil {
		return nil, fmt.Errorf("not a constant")
	}
	if t.DataType != int32(onnx.TensorProto_INT64) {
		return nil, fmt.Errorf("data type %d, want int64", t.DataType)
	}
	if len(t.Int64Data) > 0 {
		return slices.Clone(t.Int64Data), nil
	}
	if len(t.RawData)%8 != 0 {
		return nil, fmt.Errorf("%d raw bytes", len(t.RawData))
	}
	v := make([]int64, len(t.RawData)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(t.RawData[8*i:]))
	}
	return v, nil
}

// dropUnused removes the replaced constants (Split sizes, constants that
// were broadcast) that nothing uses any more, and nothing else.
func dropUnused(g *onnx.GraphProto, replaced map[string]bool) {
	used := map[string]bool{}
	for _, n := range g.Node {
		for _, in := range n.Input {
			used[in] = true
		}
	}
	for _, o := range g.Output {
		used[o.Name] = true
	}
	g.Initializer = slices.DeleteFunc(g.Initializer, func(t *onnx.TensorProto) bool {
		return replaced[t.Name] && !used[t.Name]
	})
	g.Node = slices.DeleteFunc(g.Node, func(n *onnx.NodeProto) bool {
		return n.OpType == "Constant" && len(n.Output) == 1 && replaced[n.Output[0]] && !used[n.Output[0]]
	})
}

func int64Tensor(name string, v int64) *onnx.TensorProto {
	return &onnx.TensorProto{Name: name, Dims: []int64{1}, DataType: int32(onnx.TensorProto_INT64), Int64Data: []int64{v}}
}

// broadcast expands a float constant to shape, by ONNX's (numpy's)
// broadcasting rules: dimensions aligned on the right, size 1 repeated.
func broadcast(t *onnx.TensorProto, shape []int64) (*onnx.TensorProto, error) {
	if t.DataType != int32(onnx.TensorProto_FLOAT) {
		return nil, fmt.Errorf("data type %d; only float constants are broadcast", t.DataType)
	}
	src, err := floats(t)
	if err != nil {
		return nil, err
	}
	// The source's dims, padded on the left with 1s to the output's rank.
	dims := make([]int64, len(shape))
	for i := range dims {
		dims[i] = 1
	}
	copy(dims[len(shape)-len(t.Dims):], t.Dims)
	for i, d := range dims {
		if d != 1 && d != shape[i] {
			return nil, fmt.Errorf("shape %v does not broadcast to %v", t.Dims, shape)
		}
	}
	total := int64(1)
	for _, d := range shape {
		total *= d
	}
	out := make([]byte, 4*total)
	idx := make([]int64, len(shape))
	for k := range total {
		// Source offset of output index idx.
		off, stride := int64(0), int64(1)
		for i := len(shape) - 1; i >= 0; i-- {
			if dims[i] != 1 {
				off += idx[i] * stride
			}
			stride *= dims[i]
		}
		binary.LittleEndian.PutUint32(out[4*k:], math.Float32bits(src[off]))
		for i := len(shape) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return &onnx.TensorProto{Dims: slices.Clone(shape), DataType: t.DataType, RawData: out}, nil
}

func floats(t *onnx.TensorProto) ([]float32, error) {
	if len(t.FloatData) > 0 {
		return t.FloatData, nil
	}
	if len(t.RawData)%4 != 0 {
		return nil, fmt.Errorf("%d raw bytes", len(t.RawData))
	}
	v := make([]float32, len(t.RawData)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
	}
	return v, nil
}

// RewriteFile reads the model at in, rewrites it with shapes from
// onnxruntime (Shapes) and writes it to out.
func RewriteFile(in, out string) ([]Change, error) {
	data, err := os.ReadFile(in)
	if err != nil {
		return nil, err
	}
	var m onnx.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("model %s: not an ONNX model: %w", in, err)
	}
	changes, err := Rewrite(&m, Shapes)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", in, err)
	}
	keepZeroAttributes(&m)
	if data, err = proto.Marshal(&m); err != nil {
		return nil, fmt.Errorf("model %s: marshal: %w", in, err)
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return nil, err
	}
	return changes, nil
}

// keepZeroAttributes writes attribute values that are zero. gonnx's ONNX
// types are proto3, which leaves zero values out; ONNX is proto2, where an
// attribute without its value is malformed, and OpenCV rejects it
// ("MaxPool ceil_mode: unsupported attribute format"). The value is added
// back as the field itself, kept among the message's unknown fields.
func keepZeroAttributes(m *onnx.ModelProto) {
	var walk func(g *onnx.GraphProto)
	walk = func(g *onnx.GraphProto) {
		for _, n := range g.GetNode() {
			for _, a := range n.Attribute {
				var raw []byte
				switch {
				case a.Type == onnx.AttributeProto_INT && a.I == 0:
					raw = protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 0)
				case a.Type == onnx.AttributeProto_FLOAT && a.F == 0:
					raw = protowire.AppendFixed32(protowire.AppendTag(nil, 2, protowire.Fixed32Type), math.Float32bits(a.F))
				case a.Type == onnx.AttributeProto_STRING && len(a.S) == 0:
					raw = protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), nil)
				}
				if raw != nil && len(a.ProtoReflect().GetUnknown()) == 0 {
					a.ProtoReflect().SetUnknown(raw)
				}
				if a.G != nil {
					walk(a.G)
				}
				for _, sub := range a.Graphs {
					walk(sub)
				}
			}
		}
	}
	walk(m.GetGraph())
}
