package opencvonnx

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"
)

func rewritten(t *testing.T) (stock, out string, changes []Change) {
	t.Helper()
	if err := detect.InitRuntime(assets.Library()); err != nil {
		t.Fatal(err)
	}
	out = filepath.Join(t.TempDir(), "yolov8n-opencv.onnx")
	changes, err := RewriteFile(assets.Model(), out)
	if err != nil {
		t.Fatal(err)
	}
	return assets.Model(), out, changes
}

// TestRewriteIsExact runs the stock and the rewritten model with
// onnxruntime on the same input: the rewrite must not change what the
// model computes.
func TestRewriteIsExact(t *testing.T) {
	stock, out, changes := rewritten(t)
	if len(changes) != 11 {
		t.Errorf("%d changes, want 11 for YOLOv8n (10 Splits, 1 Mul): %v", len(changes), changes)
	}
	r := rand.New(rand.NewPCG(1, 2))
	in := make([]float32, 3*640*640)
	for i := range in {
		in[i] = r.Float32()
	}
	a, b := infer(t, stock, in), infer(t, out, in)
	var worst float64
	for i := range a {
		worst = max(worst, math.Abs(float64(a[i]-b[i])))
	}
	if worst > 1e-4 {
		t.Fatalf("rewritten model's output differs by up to %g", worst)
	}
}

func infer(t *testing.T, model string, in []float32) []float32 {
	t.Helper()
	input, err := ort.NewTensor(ort.NewShape(1, 3, 640, 640), in)
	if err != nil {
		t.Fatal(err)
	}
	defer input.Destroy()
	output, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 84, 8400))
	if err != nil {
		t.Fatal(err)
	}
	defer output.Destroy()
	s, err := ort.NewAdvancedSession(model, []string{"images"}, []string{"output0"}, []ort.Value{input}, []ort.Value{output}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), output.GetData()...)
}

// TestRewriteLeavesNothingOpenCVMisreads looks at the rewritten graph: no
// Split with a sizes input, no binary operator with a constant of lower
// rank than its other operand (scalars aside), the weights as they were.
func TestRewriteLeavesNothingOpenCVMisreads(t *testing.T) {
	stock, out, _ := rewritten(t)
	before, after := load(t, stock), load(t, out)
	weights := map[string]*onnx.TensorProto{}
	for _, w := range before.Graph.Initializer {
		weights[w.Name] = w
	}
	consts := newConsts(after.Graph)
	for _, n := range after.Graph.Node {
		if n.OpType == "Split" && len(n.Input) > 1 {
			t.Errorf("Split %q still takes sizes %q", n.Name, n.Input[1])
		}
		if n.OpType == "Mul" || n.OpType == "Add" || n.OpType == "Sub" || n.OpType == "Div" {
			for _, in := range n.Input {
				if c := consts.value(in); c != nil && len(c.Dims) > 0 && len(c.Dims) < 3 {
					t.Errorf("%s %q: constant %q of rank %d", n.OpType, n.Name, in, len(c.Dims))
				}
			}
		}
	}
	for _, w := range after.Graph.Initializer {
		if old, ok := weights[w.Name]; ok && !proto.Equal(old, w) {
			t.Errorf("weight %q changed", w.Name)
		}
	}
	for _, n := range before.Graph.Node {
		if n.OpType == "Conv" {
			for _, in := range n.Input[1:] {
				if consts.value(in) == nil {
					t.Errorf("Conv %q lost its weight %q", n.Name, in)
				}
			}
		}
	}
}

func load(t *testing.T, path string) *onnx.ModelProto {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m onnx.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func TestBroadcast(t *testing.T) {
	src := &onnx.TensorProto{Dims: []int64{1, 3}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: []float32{1, 2, 3}}
	b, err := broadcast(src, []int64{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := floats(b)
	want := []float32{1, 2, 3, 1, 2, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("broadcast [1,3] to [1,2,3] = %v, want %v", got, want)
		}
	}
	if _, err := broadcast(src, []int64{1, 2, 4}); err == nil {
		t.Error("[1,3] broadcast to [1,2,4]")
	}
}
