package model

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/vigil-vision/vigil/detect"
	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// Metadata keys a split writes into both parts, so that a later step can
// check that a head and a tail belong together.
// detect.NewHead and detect.NewTail read them.
const (
	MetaSplitSource = detect.MetaSplitSource // "sha256:…" of the source model's serialization (Marshal)
	MetaSplitCut    = detect.MetaSplitCut    // the cut tensors, comma-separated, in the order of the head's outputs and the tail's inputs
	MetaSplitPart   = detect.MetaSplitPart   // "head" or "tail"
)

// Size is how much a set of tensors weighs on the wire at each element
// width, whatever their type in the model: a split can send float32,
// float16, or uint8 after quantizing.
type Size struct {
	Elements int64 `json:"elements"`
	F32Bytes int64 `json:"f32_bytes"`
	F16Bytes int64 `json:"f16_bytes"`
	U8Bytes  int64 `json:"u8_bytes"`
}

func sizeOfElements(n int64) Size {
	return Size{Elements: n, F32Bytes: 4 * n, F16Bytes: 2 * n, U8Bytes: n}
}

// CutTensor is a tensor that crosses a cut.
type CutTensor struct {
	Name     string  `json:"name"`
	Type     string  `json:"type"` // its element type in the model: float32, …
	Shape    []int64 `json:"shape"`
	Elements int64   `json:"elements"`
}

// Cut is a place to split a model: every node up to and including Node
// (in the graph's order) is on the head side, the rest on the tail side,
// and Tensors are what the head sends the tail.
type Cut struct {
	Node    int         `json:"node"`
	After   string      `json:"after"` // the name of that last head-side node
	Op      string      `json:"op"`
	Tensors []CutTensor `json:"tensors"`
	Size
	HeadMS float64 `json:"head_ms,omitempty"` // median inference time of each part, with Profile
	TailMS float64 `json:"tail_ms,omitempty"`
}

// Names are the cut's tensors, the argument Split takes.
func (c Cut) Names() []string {
	out := make([]string, len(c.Tensors))
	for i, t := range c.Tensors {
		out[i] = t.Name
	}
	return out
}

// CutReport is what Cuts finds.
type CutReport struct {
	// Inputs are the model's inputs: what crosses when the whole model is
	// offloaded, the size every cut competes with.
	Inputs    []CutTensor `json:"inputs"`
	InputSize Size        `json:"input_size"`
	Cuts      []Cut       `json:"cuts"`
	// ShapesFrom says where the shapes came from: the model's value_info,
	// onnxruntime's shape inference as it loads the model, or a run on a
	// blank frame when the inference left a dimension open.
	ShapesFrom string `json:"shapes_from"`
	// With Profile: the whole model's median inference time, and the
	// frames the medians are over.
	ModelMS       float64 `json:"model_ms,omitempty"`
	ProfileFrames int     `json:"profile_frames,omitempty"`
}

// tensorType is a tensor's element type and shape, -1 where unknown.
type tensorType struct {
	elem  onnx.TensorProto_DataType
	shape []int64
}

func (t tensorType) known() bool {
	if t.elem == onnx.TensorProto_UNDEFINED || t.shape == nil {
		return false
	}
	for _, d := range t.shape {
		if d < 0 {
			return false
		}
	}
	return true
}

// Cuts lists the frontier cuts of a model, in the graph's order: after
// each node k, the tensors made at or before k (or graph inputs) that a
// node after k reads, deduplicated. Listing every cut of a DAG (every set
// of tensors that separates its inputs from its outputs) is exponential;
// the frontier cuts are the layer-level cuts that collaborative-inference
// work splits at, and each of them splits. Constants (initializers,
// Constant nodes and what is computed from them alone) never cross: weights
// are not sent, each side holds its own. Cuts that would send a graph
// output, or leave the tail needing a graph input, are left out.
// onnxruntime must be initialized (detect.InitRuntime): it gives the
// shapes.
func Cuts(m *onnx.ModelProto) (*CutReport, error) {
	s, err := newSplitter(m)
	if err != nil {
		return nil, err
	}
	return s.cuts()
}

func (s *splitter) cuts() (*CutReport, error) {
	p := s.p
	type frontier struct {
		node    int
		tensors []string
	}
	var fronts []frontier
	seen := map[string]bool{}
	for k, n := range p.ix.g.Node {
		if !p.live[n] || p.constNode(n) {
			continue
		}
		var cross []string
		ok := true
		for _, t := range p.order {
			if p.made[t] > k || p.lastUse[t] <= k {
				continue
			}
			if p.ix.outputs[t] || p.ix.inputs[t] {
				ok = false
				break
			}
			cross = append(cross, t)
		}
		if !ok || len(cross) == 0 {
			continue
		}
		key := strings.Join(cross, "\x00")
		if seen[key] {
			continue
		}
		seen[key] = true
		fronts = append(fronts, frontier{k, cross})
	}
	if err := s.resolveTypes(); err != nil {
		return nil, err
	}
	r := &CutReport{ShapesFrom: s.from}
	var inputs []string
	for _, in := range s.m.Graph.Input {
		if p.ix.inputs[in.Name] {
			inputs = append(inputs, in.Name)
		}
	}
	describe := func(names []string) ([]CutTensor, Size) {
		var out []CutTensor
		var n int64
		for _, t := range names {
			tt := s.types[t]
			e := numElements(tt.shape)
			out = append(out, CutTensor{Name: t, Type: elemName(tt.elem), Shape: tt.shape, Elements: e})
			n += e
		}
		return out, sizeOfElements(n)
	}
	r.Inputs, r.InputSize = describe(inputs)
	for _, f := range fronts {
		n := p.ix.g.Node[f.node]
		c := Cut{Node: f.node, After: n.Name, Op: n.OpType}
		c.Tensors, c.Size = describe(f.tensors)
		r.Cuts = append(r.Cuts, c)
	}
	return r, nil
}

// partitioner holds what Cuts and Split ask of a graph.
type partitioner struct {
	ix      *index
	pos     map[*onnx.NodeProto]int
	live    map[*onnx.NodeProto]bool // on a path to a graph output
	consts  map[string]bool          // initializers and what is computed from them alone
	made    map[string]int           // producing node's position; -1 for a graph input
	lastUse map[string]int           // last live reader's position; len(nodes) for a graph output
	order   []string                 // non-constant tensors in the order they are made
}

func newPartitioner(m *onnx.ModelProto) (*partitioner, error) {
	g := m.Graph
	if g == nil || len(g.Node) == 0 {
		return nil, errors.New("the model has no graph")
	}
	ix := newIndex(g)
	p := &partitioner{ix: ix, pos: map[*onnx.NodeProto]int{}, live: map[*onnx.NodeProto]bool{},
		consts: map[string]bool{}, made: map[string]int{}, lastUse: map[string]int{}}
	for name := range ix.inits {
		p.consts[name] = true
	}
	for name := range ix.inputs {
		p.made[name] = -1
		p.order = append(p.order, name)
	}
	sort.Strings(p.order)
	for i, n := range g.Node {
		p.pos[n] = i
		for _, a := range n.Attribute {
			if a.G != nil || len(a.Graphs) > 0 {
				return nil, fmt.Errorf("node %q (%s) holds a subgraph; vigil does not split models with control flow (If, Loop, Scan)", n.Name, n.OpType)
			}
		}
		constant := true
		for _, in := range n.Input {
			if in == "" {
				continue
			}
			if _, ok := p.made[in]; !ok && !p.consts[in] {
				return nil, fmt.Errorf("node %q (%s) reads %q before any node makes it: the graph is not in topological order, as ONNX requires", n.Name, n.OpType, in)
			}
			constant = constant && p.consts[in]
		}
		// A node without inputs is constant only as a Constant: RandomNormal
		// and the like differ run to run.
		if len(n.Input) == 0 && n.OpType != "Constant" {
			constant = false
		}
		for _, o := range n.Output {
			if o == "" {
				continue
			}
			p.made[o] = i
			if constant {
				p.consts[o] = true
			} else {
				p.order = append(p.order, o)
			}
		}
	}
	for _, o := range g.Output {
		p.lastUse[o.Name] = len(g.Node)
	}
	need := map[string]bool{}
	for _, o := range g.Output {
		need[o.Name] = true
	}
	for i := len(g.Node) - 1; i >= 0; i-- {
		n := g.Node[i]
		for _, o := range n.Output {
			if need[o] {
				p.live[n] = true
			}
		}
		if !p.live[n] {
			continue
		}
		for _, in := range n.Input {
			if in == "" {
				continue
			}
			need[in] = true
			if _, ok := p.lastUse[in]; !ok {
				p.lastUse[in] = i
			}
		}
	}
	return p, nil
}

// constNode tells whether all of a node's outputs are constants.
func (p *partitioner) constNode(n *onnx.NodeProto) bool {
	for _, o := range n.Output {
		if o != "" && !p.consts[o] {
			return false
		}
	}
	return true
}

// partition checks a set of cut tensors and returns the nodes of each
// side, in the graph's order.
func (p *partitioner) partition(cut []string) (head, tail []*onnx.NodeProto, err error) {
	if len(cut) == 0 {
		return nil, nil, errors.New("no tensors to cut at; 'vigil model cuts MODEL' lists the cuts")
	}
	in := map[string]bool{}
	for _, t := range cut {
		switch {
		case p.ix.inits[t] != nil:
			return nil, nil, fmt.Errorf("tensor %q is an initializer (a weight): weights are not sent, each side holds its own; cut at activations ('vigil model cuts MODEL' lists them)", t)
		case p.consts[t]:
			return nil, nil, fmt.Errorf("tensor %q is a constant (computed from weights alone): each side computes its own; cut at activations ('vigil model cuts MODEL' lists them)", t)
		case p.ix.outputs[t]:
			return nil, nil, fmt.Errorf("tensor %q is an output of the model: a cut lies before the outputs; 'vigil model cuts MODEL' lists the cuts", t)
		case p.ix.inputs[t]:
			return nil, nil, fmt.Errorf("tensor %q is an input of the model: cutting there offloads the whole model, no split needed", t)
		}
		if _, ok := p.made[t]; !ok {
			return nil, nil, fmt.Errorf("no tensor %q in the model; 'vigil model cuts MODEL' lists the cuts and their tensors", t)
		}
		in[t] = true
	}
	g := p.ix.g
	// The head makes the cut tensors from the graph inputs.
	onHead := map[*onnx.NodeProto]bool{}
	stack := append([]string(nil), cut...)
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := p.ix.producer[t]
		if n == nil || onHead[n] {
			continue
		}
		onHead[n] = true
		for _, x := range n.Input {
			if x != "" {
				stack = append(stack, x)
			}
		}
	}
	// The tail makes the outputs from the cut tensors; anything else it
	// would read from the head side crosses the cut outside the set.
	onTail := map[*onnx.NodeProto]bool{}
	used := map[string]bool{}
	crossing := map[string]bool{}
	stack = stack[:0]
	for _, o := range g.Output {
		stack = append(stack, o.Name)
	}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch {
		case in[t]:
			used[t] = true
			continue
		case p.ix.inits[t] != nil:
			continue
		case p.ix.inputs[t]:
			crossing[t] = true
			continue
		}
		n := p.ix.producer[t]
		if n == nil || onTail[n] {
			continue
		}
		if onHead[n] && !p.consts[t] {
			crossing[t] = true
			continue
		}
		onTail[n] = true
		for _, x := range n.Input {
			if x != "" {
				stack = append(stack, x)
			}
		}
	}
	if len(crossing) > 0 {
		var names []string
		for t := range crossing {
			names = append(names, t)
		}
		sort.Strings(names)
		verb, them := "crosses", "it"
		if len(names) > 1 {
			verb, them = "cross", "them"
		}
		return nil, nil, fmt.Errorf("the cut at %s does not separate the model's inputs from its outputs: %s also %s from the head side to the tail side (a skip connection around the cut); add %s to the cut, or pick a cut from 'vigil model cuts MODEL'",
			strings.Join(cut, ","), strings.Join(names, ", "), verb, them)
	}
	for _, t := range cut {
		if !used[t] {
			return nil, nil, fmt.Errorf("tensor %q is not needed after the cut: the other tensors of the set already carry what the tail reads; leave it out", t)
		}
	}
	for _, n := range g.Node {
		if onHead[n] {
			head = append(head, n)
		}
		if onTail[n] {
			tail = append(tail, n)
		}
	}
	return head, tail, nil
}

// WriteSplit splits m at tensors (Split) and writes the parts as
// head.onnx and tail.onnx in dir, which it makes if needed.
func WriteSplit(m *onnx.ModelProto, tensors []string, dir string) (head, tail string, err error) {
	hm, tm, err := Split(m, tensors)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("output folder: %w", err)
	}
	head, tail = filepath.Join(dir, "head.onnx"), filepath.Join(dir, "tail.onnx")
	if err := Save(hm, head); err != nil {
		return "", "", fmt.Errorf("%s: %w", head, err)
	}
	if err := Save(tm, tail); err != nil {
		return "", "", fmt.Errorf("%s: %w", tail, err)
	}
	return head, tail, nil
}

// SplitFile loads the model at path and writes its parts (WriteSplit).
func SplitFile(path string, tensors []string, dir string) (head, tail string, err error) {
	m, err := Load(path)
	if err != nil {
		return "", "", err
	}
	return WriteSplit(m, tensors, dir)
}

// Split cuts a model at a set of tensors into a head, which makes them
// from the model's inputs, and a tail, which makes the model's outputs
// from them. Each part keeps the initializers it reads and the source's
// IR version, opsets, producer and metadata, and records the source's
// digest and the cut (MetaSplitSource, MetaSplitCut, MetaSplitPart). The
// set must separate the inputs from the outputs: the error names what
// else crosses. onnxruntime must be initialized (detect.InitRuntime): it
// gives the cut tensors' types and shapes.
func Split(m *onnx.ModelProto, tensors []string) (head, tail *onnx.ModelProto, err error) {
	s, err := newSplitter(m)
	if err != nil {
		return nil, nil, err
	}
	return s.split(tensors)
}

// splitter splits one model at many cuts, finding the tensors' types and
// the source's digest once.
type splitter struct {
	m      *onnx.ModelProto
	p      *partitioner
	types  map[string]tensorType // every tensor that can cross, once resolved
	from   string                // where the types came from
	source string                // MetaSplitSource, once computed
}

func newSplitter(m *onnx.ModelProto) (*splitter, error) {
	p, err := newPartitioner(m)
	if err != nil {
		return nil, err
	}
	return &splitter{m: m, p: p}, nil
}

func (s *splitter) resolveTypes() error {
	if s.types != nil {
		return nil
	}
	want := map[string]bool{}
	for _, t := range s.p.order {
		want[t] = true
	}
	types, from, err := tensorTypes(s.m, want)
	if err != nil {
		return err
	}
	s.types, s.from = types, from
	return nil
}

func (s *splitter) split(tensors []string) (head, tail *onnx.ModelProto, err error) {
	var cut []string
	for _, t := range tensors {
		if !slices.Contains(cut, t) {
			cut = append(cut, t)
		}
	}
	hn, tn, err := s.p.partition(cut)
	if err != nil {
		return nil, nil, err
	}
	if err := s.resolveTypes(); err != nil {
		return nil, nil, err
	}
	if s.source == "" {
		b, err := Marshal(s.m)
		if err != nil {
			return nil, nil, fmt.Errorf("encode model: %w", err)
		}
		sum := sha256.Sum256(b)
		s.source = "sha256:" + hex.EncodeToString(sum[:])
	}
	var cutVI []*onnx.ValueInfoProto
	for _, t := range cut {
		cutVI = append(cutVI, valueInfo(t, s.types[t]))
	}
	head = part(s.m, "head", hn, nil, cutVI)
	tail = part(s.m, "tail", tn, cutVI, s.m.Graph.Output)
	for _, x := range []*onnx.ModelProto{head, tail} {
		setMeta(x, MetaSplitSource, s.source)
		setMeta(x, MetaSplitCut, strings.Join(cut, ","))
	}
	setMeta(head, MetaSplitPart, "head")
	setMeta(tail, MetaSplitPart, "tail")
	return head, tail, nil
}

// part builds one side of a split: its nodes, the source's inputs and
// initializers they read, extra inputs, and its outputs.
func part(m *onnx.ModelProto, name string, nodes []*onnx.NodeProto, inputs, outputs []*onnx.ValueInfoProto) *onnx.ModelProto {
	g := m.Graph
	reads := map[string]bool{}
	for _, n := range nodes {
		for _, in := range n.Input {
			reads[in] = true
		}
	}
	for _, o := range outputs {
		reads[o.Name] = true
	}
	var ins []*onnx.ValueInfoProto
	for _, in := range g.Input {
		if reads[in.Name] {
			ins = append(ins, in)
		}
	}
	var inits []*onnx.TensorProto
	for _, t := range g.Initializer {
		if reads[t.Name] {
			inits = append(inits, t)
		}
	}
	made := map[string]bool{}
	for _, n := range nodes {
		for _, o := range n.Output {
			made[o] = true
		}
	}
	var vis []*onnx.ValueInfoProto
	for _, v := range g.ValueInfo {
		if made[v.Name] {
			vis = append(vis, v)
		}
	}
	out := &onnx.ModelProto{
		IrVersion: m.IrVersion, OpsetImport: m.OpsetImport, ProducerName: m.ProducerName,
		ProducerVersion: m.ProducerVersion, Domain: m.Domain, ModelVersion: m.ModelVersion,
		DocString: m.DocString, Functions: m.Functions,
		Graph: &onnx.GraphProto{Name: g.Name + "_" + name, Node: nodes, Initializer: inits,
			Input: append(ins, inputs...), Output: outputs, ValueInfo: vis, DocString: g.DocString},
	}
	// Copies: setMeta writes into the entries.
	for _, kv := range m.MetadataProps {
		out.MetadataProps = append(out.MetadataProps, &onnx.StringStringEntryProto{Key: kv.Key, Value: kv.Value})
	}
	return out
}

func valueInfo(name string, t tensorType) *onnx.ValueInfoProto {
	v := tensorValueInfo(name, t.elem)
	sh := &onnx.TensorShapeProto{}
	for _, d := range t.shape {
		if d < 0 {
			sh.Dim = append(sh.Dim, &onnx.TensorShapeProto_Dimension{})
			continue
		}
		sh.Dim = append(sh.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	v.GetType().GetTensorType().Shape = sh
	return v
}

// tensorTypes finds the element types and shapes of the named tensors:
// from the model's value_info, inputs and outputs where they say; for the
// rest, from onnxruntime's shape inference, by loading the model with
// them as extra outputs (nothing runs); and when that leaves a dimension
// open (a dynamic input size), from one run on a blank frame of the
// input's size (640×640 where the size is dynamic, as detect does).
func tensorTypes(m *onnx.ModelProto, names map[string]bool) (map[string]tensorType, string, error) {
	g := m.Graph
	out := map[string]tensorType{}
	for _, vs := range [][]*onnx.ValueInfoProto{g.Input, g.Output, g.ValueInfo} {
		for _, v := range vs {
			if t := (tensorType{elemType(v), shapeOf(v)}); names[v.Name] && t.known() {
				out[v.Name] = t
			}
		}
	}
	var rest []string
	for n := range names {
		if _, ok := out[n]; !ok {
			rest = append(rest, n)
		}
	}
	if len(rest) == 0 {
		return out, "value_info", nil
	}
	sort.Strings(rest)
	probe, err := Marshal(withOutputs(m, rest))
	if err != nil {
		return nil, "", fmt.Errorf("encode model: %w", err)
	}
	_, infos, err := ort.GetInputOutputInfoWithONNXData(probe)
	if err != nil {
		return nil, "", fmt.Errorf("onnxruntime shape inference: %w", err)
	}
	open := false
	for _, info := range infos {
		if !names[info.Name] {
			continue
		}
		if _, ok := out[info.Name]; ok {
			continue
		}
		t := tensorType{elem: onnx.TensorProto_DataType(info.DataType), shape: append([]int64(nil), info.Dimensions...)}
		open = open || !t.known()
		out[info.Name] = t
	}
	from := "onnxruntime shape inference"
	if open {
		if err := runShapes(m, probe, rest, out); err != nil {
			return nil, "", fmt.Errorf("shapes of the cut tensors: onnxruntime's shape inference left dimensions open, and a run to measure them failed: %w", err)
		}
		from = "a run on a blank frame"
	}
	for _, n := range rest {
		if t, ok := out[n]; !ok || !t.known() {
			return nil, "", fmt.Errorf("the shape of tensor %q is unknown", n)
		}
	}
	return out, from, nil
}

// withOutputs is the model with extra graph outputs, untyped for
// onnxruntime to infer. It shares everything else with m.
func withOutputs(m *onnx.ModelProto, names []string) *onnx.ModelProto {
	g := m.Graph
	outs := append([]*onnx.ValueInfoProto(nil), g.Output...)
	have := map[string]bool{}
	for _, o := range g.Output {
		have[o.Name] = true
	}
	for _, n := range names {
		if !have[n] {
			outs = append(outs, &onnx.ValueInfoProto{Name: n})
		}
	}
	return &onnx.ModelProto{IrVersion: m.IrVersion, OpsetImport: m.OpsetImport, Functions: m.Functions,
		Graph: &onnx.GraphProto{Name: g.Name, Node: g.Node, Initializer: g.Initializer, Input: g.Input,
			Output: outs, ValueInfo: g.ValueInfo}}
}

// runShapes runs the probe model once on a blank frame and records the
// shapes of the named tensors.
func runShapes(m *onnx.ModelProto, probe []byte, names []string, out map[string]tensorType) error {
	in, err := findImageInput(m)
	if err != nil {
		return err
	}
	sess, err := newSession(probe, []string{in.name}, names, 0, ort.GraphOptimizationLevelEnableBasic)
	if err != nil {
		return err
	}
	defer sess.Destroy()
	input, err := ort.NewTensor(ort.NewShape(1, 3, int64(in.h), int64(in.w)), make([]float32, 3*in.w*in.h))
	if err != nil {
		return err
	}
	defer input.Destroy()
	vals := make([]ort.Value, len(names))
	if err := sess.Run([]ort.Value{input}, vals); err != nil {
		return err
	}
	for i, v := range vals {
		t := out[names[i]]
		t.shape = append([]int64(nil), v.GetShape()...)
		out[names[i]] = t
		v.Destroy()
	}
	return nil
}

func newSession(model []byte, inputs, outputs []string, threads int, level ort.GraphOptimizationLevel) (*ort.DynamicAdvancedSession, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxruntime session options: %w", err)
	}
	defer so.Destroy()
	if threads > 0 {
		so.SetIntraOpNumThreads(threads)
	}
	so.SetGraphOptimizationLevel(level)
	return ort.NewDynamicAdvancedSessionWithONNXData(model, inputs, outputs, so)
}

// ProfileOptions configure Profile.
type ProfileOptions struct {
	Frames  Frames // letterboxed as the pipeline does
	Threads int    // onnxruntime intra-op threads for every session (0: onnxruntime's default)
}

// Profile measures, on this machine, the median inference time of the
// head and the tail of every cut in r, and of the whole model for
// reference, on the same frames. The parts run as Split writes them, each
// optimized by onnxruntime on its own (ORT_ENABLE_ALL), the head's outputs
// fed to the tail as they are. Each part runs once untimed first; the
// whole model takes its turn beside every cut, so its median spans the
// same stretch of time as the parts'. onnxruntime must be initialized.
func (r *CutReport) Profile(m *onnx.ModelProto, o ProfileOptions) error {
	in, inputs, err := letterboxed(m, o.Frames)
	if err != nil {
		return err
	}
	b, err := Marshal(m)
	if err != nil {
		return fmt.Errorf("encode model: %w", err)
	}
	whole, err := newPartRunner(b, []string{in.name}, outputNames(m), o.Threads)
	if err != nil {
		return fmt.Errorf("model session: %w", err)
	}
	defer whole.Close()
	s, err := newSplitter(m)
	if err != nil {
		return err
	}
	outs, err := whole.runImage(in, inputs[0])
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	destroy(outs)
	var wholeMS []float64
	for i := range r.Cuts {
		c := &r.Cuts[i]
		sp, err := newSplitRunner(s, c.Names(), o.Threads)
		if err != nil {
			return fmt.Errorf("cut after %s: %w", c.After, err)
		}
		var head, tail []float64
		for f, x := range inputs {
			if f == 0 {
				// Untimed: the first run of a session allocates.
				outs, err := sp.run(in, x, nil, nil)
				if err != nil {
					sp.Close()
					return fmt.Errorf("cut after %s: %w", c.After, err)
				}
				destroy(outs)
			}
			t0 := time.Now()
			outs, err := whole.runImage(in, x)
			wholeMS = append(wholeMS, ms(time.Since(t0)))
			if err != nil {
				sp.Close()
				return fmt.Errorf("model: %w", err)
			}
			destroy(outs)
			var h, t time.Duration
			if outs, err = sp.run(in, x, &h, &t); err != nil {
				sp.Close()
				return fmt.Errorf("cut after %s: %w", c.After, err)
			}
			destroy(outs)
			head, tail = append(head, ms(h)), append(tail, ms(t))
		}
		sp.Close()
		c.HeadMS, c.TailMS = median(head), median(tail)
	}
	r.ModelMS, r.ProfileFrames = median(wholeMS), len(inputs)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func outputNames(m *onnx.ModelProto) []string {
	var out []string
	for _, o := range m.Graph.Output {
		out = append(out, o.Name)
	}
	return out
}

func destroy(vs []ort.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}

// letterboxed reads frames into the model's image input, as the pipeline
// prepares them.
func letterboxed(m *onnx.ModelProto, frames Frames) (imageInput, [][]float32, error) {
	in, err := findImageInput(m)
	if err != nil {
		return in, nil, err
	}
	pre := detect.NewPreprocessor(in.w, in.h)
	defer pre.Close()
	var inputs [][]float32
	if _, err := frames.Each(func(name string, img gocv.Mat) error {
		buf := make([]float32, 3*in.w*in.h)
		if _, err := pre.Run(img, buf); err != nil {
			return fmt.Errorf("frame %s: %w", name, err)
		}
		inputs = append(inputs, buf)
		return nil
	}); err != nil {
		return in, nil, err
	}
	return in, inputs, nil
}

// partRunner is one onnxruntime session with its input and output names.
type partRunner struct {
	sess    *ort.DynamicAdvancedSession
	outputs []string
}

func newPartRunner(model []byte, inputs, outputs []string, threads int) (*partRunner, error) {
	s, err := newSession(model, inputs, outputs, threads, ort.GraphOptimizationLevelEnableAll)
	if err != nil {
		return nil, err
	}
	return &partRunner{sess: s, outputs: outputs}, nil
}

func (p *partRunner) Close() { p.sess.Destroy() }

// run feeds inputs and returns the outputs, which the caller destroys.
func (p *partRunner) run(inputs []ort.Value) ([]ort.Value, error) {
	outs := make([]ort.Value, len(p.outputs))
	if err := p.sess.Run(inputs, outs); err != nil {
		destroy(outs)
		return nil, err
	}
	return outs, nil
}

func (p *partRunner) runImage(in imageInput, x []float32) ([]ort.Value, error) {
	t, err := ort.NewTensor(ort.NewShape(1, 3, int64(in.h), int64(in.w)), x)
	if err != nil {
		return nil, err
	}
	defer t.Destroy()
	return p.run([]ort.Value{t})
}

// splitRunner runs a split model: the head, then the tail on the head's
// outputs.
type splitRunner struct {
	head, tail *partRunner
}

func newSplitRunner(s *splitter, cut []string, threads int) (*splitRunner, error) {
	h, t, err := s.split(cut)
	if err != nil {
		return nil, err
	}
	in, err := findImageInput(s.m)
	if err != nil {
		return nil, err
	}
	hb, err := Marshal(h)
	if err != nil {
		return nil, err
	}
	tb, err := Marshal(t)
	if err != nil {
		return nil, err
	}
	names := outputNames(h)
	head, err := newPartRunner(hb, []string{in.name}, names, threads)
	if err != nil {
		return nil, fmt.Errorf("head session: %w", err)
	}
	tail, err := newPartRunner(tb, names, outputNames(t), threads)
	if err != nil {
		head.Close()
		return nil, fmt.Errorf("tail session: %w", err)
	}
	return &splitRunner{head: head, tail: tail}, nil
}

func (s *splitRunner) Close() {
	s.head.Close()
	s.tail.Close()
}

// run returns the tail's outputs, which the caller destroys, and, when
// given somewhere to put them, the time of each part.
func (s *splitRunner) run(in imageInput, x []float32, headTime, tailTime *time.Duration) ([]ort.Value, error) {
	t0 := time.Now()
	mid, err := s.head.runImage(in, x)
	if err != nil {
		return nil, fmt.Errorf("head: %w", err)
	}
	defer destroy(mid)
	t1 := time.Now()
	outs, err := s.tail.run(mid)
	if err != nil {
		return nil, fmt.Errorf("tail: %w", err)
	}
	if headTime != nil {
		*headTime = t1.Sub(t0)
	}
	if tailTime != nil {
		*tailTime = time.Since(t1)
	}
	return outs, nil
}
