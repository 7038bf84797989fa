package model

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/vigil-vision/vigil/assets"
	ort "github.com/yalue/onnxruntime_go"
)

// YOLOv8n's cuts that the issue names: after the fourth block (model.3)
// one 64×80×80 tensor crosses; at the end of the backbone (SPPF, model.9)
// three: P3, P4 and P5, which the neck reads.
var (
	singleCut   = []string{"/model.3/act/Mul_output_0"}
	backboneEnd = []string{"/model.4/cv2/act/Mul_output_0", "/model.6/cv2/act/Mul_output_0", "/model.9/cv2/act/Mul_output_0"}
)

func loadDefault(t *testing.T) *onnx.ModelProto {
	t.Helper()
	requireRuntime(t)
	m, err := Load(assets.Model())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func findCut(r *CutReport, after string) (Cut, bool) {
	for _, c := range r.Cuts {
		if c.After == after {
			return c, true
		}
	}
	return Cut{}, false
}

func TestCutsDefaultModel(t *testing.T) {
	m := loadDefault(t)
	s, err := newSplitter(m)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.cuts()
	if err != nil {
		t.Fatal(err)
	}
	if r.ShapesFrom != "onnxruntime shape inference" {
		t.Errorf("shapes from %q; yolov8n has no value_info", r.ShapesFrom)
	}
	if len(r.Inputs) != 1 || !slices.Equal(r.Inputs[0].Shape, []int64{1, 3, 640, 640}) || r.InputSize.U8Bytes != 1228800 {
		t.Fatalf("inputs %+v %+v", r.Inputs, r.InputSize)
	}

	first := r.Cuts[0]
	if first.After != "/model.0/conv/Conv" || len(first.Tensors) != 1 || first.Elements != 16*320*320 || first.Elements <= r.InputSize.Elements {
		t.Errorf("the first conv's output (16×320×320) should outweigh the 3×640×640 frame: %+v", first)
	}

	c, ok := findCut(r, "/model.3/act/Mul")
	if !ok || !slices.Equal(c.Names(), singleCut) || !slices.Equal(c.Tensors[0].Shape, []int64{1, 64, 80, 80}) ||
		c.Size != (Size{Elements: 409600, F32Bytes: 1638400, F16Bytes: 819200, U8Bytes: 409600}) {
		t.Errorf("single-tensor cut after model.3: %+v (found %v)", c, ok)
	}
	c, ok = findCut(r, "/model.9/cv2/act/Mul")
	if !ok || !slices.Equal(c.Names(), backboneEnd) || c.Elements != 716800 {
		t.Errorf("backbone-end cut: %+v (found %v)", c, ok)
	}
	// Past model.4 the neck reads P3 (and later P4): no single tensor
	// separates the backbone and neck (model.5 … model.21).
	for _, c := range r.Cuts {
		if b, ok := block(c.After); ok && b >= 5 && b <= 21 && len(c.Tensors) < 2 {
			t.Errorf("single-tensor cut in the neck: %+v", c)
		}
	}

	// Every listed cut splits; each side has what it needs and the two
	// share only constants.
	live := 0
	for _, n := range m.Graph.Node {
		if s.p.live[n] && !s.p.constNode(n) {
			live++
		}
	}
	seen := map[string]bool{}
	for _, c := range r.Cuts {
		key := strings.Join(c.Names(), ",")
		if seen[key] {
			t.Errorf("cut %s listed twice", key)
		}
		seen[key] = true
		head, tail, err := s.p.partition(c.Names())
		if err != nil {
			t.Errorf("cut after %s: %v", c.After, err)
			continue
		}
		n := 0
		for _, x := range append(head, tail...) {
			if !s.p.constNode(x) {
				n++
			}
		}
		if n != live {
			t.Errorf("cut after %s: head and tail hold %d computing nodes, the model %d", c.After, n, live)
		}
	}
	for _, i := range []int{0, len(r.Cuts) / 2, len(r.Cuts) - 1} {
		h, tl, err := s.split(r.Cuts[i].Names())
		if err != nil {
			t.Fatalf("split after %s: %v", r.Cuts[i].After, err)
		}
		for _, x := range []*onnx.ModelProto{h, tl} {
			b, err := Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := ort.GetInputOutputInfoWithONNXData(b); err != nil {
				t.Errorf("split after %s: onnxruntime does not load a part: %v", r.Cuts[i].After, err)
			}
		}
	}
}

// block is the Ultralytics block number in a node name ("/model.12/…").
func block(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "/model.")
	if !ok {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, "/")
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// TestSplitMatchesWholeModel runs head then tail on real frames and
// compares with the unsplit model, at the single-tensor cut and at the
// three-tensor end of the backbone.
func TestSplitMatchesWholeModel(t *testing.T) {
	m := loadDefault(t)
	in, inputs, err := letterboxed(m, Frames{Paths: []string{assets.Media("vtest.avi")}, Max: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := newPartRunner(b, []string{in.name}, outputNames(m), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Close()
	var ref [][]float32
	for _, x := range inputs {
		outs, err := whole.runImage(in, x)
		if err != nil {
			t.Fatal(err)
		}
		ref = append(ref, slices.Clone(outs[0].(*ort.Tensor[float32]).GetData()))
		destroy(outs)
	}
	s, err := newSplitter(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range [][]string{singleCut, backboneEnd} {
		t.Run(cut[len(cut)-1], func(t *testing.T) {
			sp, err := newSplitRunner(s, cut, 2)
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			for i, x := range inputs {
				outs, err := sp.run(in, x, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				got := outs[0].(*ort.Tensor[float32]).GetData()
				if len(got) != len(ref[i]) {
					t.Fatalf("frame %d: %d values, the whole model %d", i, len(got), len(ref[i]))
				}
				worst := 0.0
				for j := range got {
					worst = max(worst, math.Abs(float64(got[j]-ref[i][j])))
				}
				destroy(outs)
				t.Logf("frame %d: max |split − whole| = %g", i, worst)
				if worst > 1e-5 {
					t.Errorf("frame %d: max |split − whole| = %g, want ≤ 1e-5", i, worst)
				}
			}
		})
	}
}

func TestSplitParts(t *testing.T) {
	m := loadDefault(t)
	head, tail, err := Split(m, backboneEnd)
	if err != nil {
		t.Fatal(err)
	}
	meta := func(x *onnx.ModelProto) map[string]string {
		out := map[string]string{}
		for _, p := range x.MetadataProps {
			out[p.Key] = p.Value
		}
		return out
	}
	hm, tm := meta(head), meta(tail)
	if hm[MetaSplitPart] != "head" || tm[MetaSplitPart] != "tail" || !strings.HasPrefix(hm[MetaSplitSource], "sha256:") ||
		hm[MetaSplitSource] != tm[MetaSplitSource] || hm[MetaSplitCut] != strings.Join(backboneEnd, ",") || hm[MetaSplitCut] != tm[MetaSplitCut] {
		t.Errorf("split metadata: head %v, tail %v", hm[MetaSplitCut], tm)
	}
	if hm["names"] == "" || tm["names"] == "" || head.IrVersion != m.IrVersion || opset(head) != 17 || opset(tail) != 17 || tail.ProducerName != m.ProducerName {
		t.Errorf("source metadata, IR version, opset or producer not carried")
	}
	if got := outputNames(head); !slices.Equal(got, backboneEnd) {
		t.Errorf("head outputs %v", got)
	}
	var tin []string
	for _, v := range tail.Graph.Input {
		tin = append(tin, v.Name)
		if !slices.Equal(shapeOf(v), []int64{1, 64, 80, 80}) && v.Name == backboneEnd[0] {
			t.Errorf("tail input %s shape %v", v.Name, shapeOf(v))
		}
	}
	if !slices.Equal(tin, backboneEnd) || !slices.Equal(outputNames(tail), []string{"output0"}) {
		t.Errorf("tail inputs %v, outputs %v", tin, outputNames(tail))
	}
	// Each part holds only the weights it reads, and together all of them.
	if n := len(head.Graph.Initializer) + len(tail.Graph.Initializer); n != len(m.Graph.Initializer) {
		t.Errorf("head %d + tail %d initializers, source %d", len(head.Graph.Initializer), len(tail.Graph.Initializer), len(m.Graph.Initializer))
	}
	if initializer(head, "model.0.conv.weight") == nil || initializer(tail, "model.0.conv.weight") != nil || initializer(tail, "model.22.dfl.conv.weight") == nil {
		t.Error("weights on the wrong side")
	}
}

func TestSplitBadCut(t *testing.T) {
	m := loadDefault(t)
	cases := []struct {
		name string
		cut  []string
		want []string
	}{
		{"unknown tensor", []string{"/model.3/act/Mul_output_9"}, []string{`"/model.3/act/Mul_output_9"`, "vigil model cuts"}},
		// model.6's output alone leaves P3 (model.4's output), which the
		// neck reads, crossing beside it.
		{"skip connection", []string{"/model.6/cv2/act/Mul_output_0"}, []string{"does not separate", "/model.4/cv2/act/Mul_output_0 also crosses", "skip connection"}},
		{"graph output", []string{"output0"}, []string{`"output0"`, "output of the model"}},
		{"initializer", []string{"model.0.conv.weight"}, []string{`"model.0.conv.weight"`, "initializer"}},
		{"constant", []string{"onnx::Split_140"}, []string{`"onnx::Split_140"`, "constant"}},
		{"graph input", []string{"images"}, []string{`"images"`, "input of the model"}},
		{"not needed", []string{"/model.3/act/Mul_output_0", "/model.2/cv2/act/Mul_output_0"}, []string{`"/model.2/cv2/act/Mul_output_0"`, "not needed"}},
		{"empty", nil, []string{"no tensors"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Split(m, c.cut)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

func TestProfileCuts(t *testing.T) {
	m := loadDefault(t)
	r, err := Cuts(m)
	if err != nil {
		t.Fatal(err)
	}
	var keep []Cut
	for _, c := range r.Cuts {
		if slices.Equal(c.Names(), singleCut) || slices.Equal(c.Names(), backboneEnd) {
			keep = append(keep, c)
		}
	}
	r.Cuts = keep
	if err := r.Profile(m, ProfileOptions{Frames: Frames{Paths: []string{assets.Media("vtest.avi")}, Max: 2}, Threads: 2}); err != nil {
		t.Fatal(err)
	}
	if r.ProfileFrames != 2 || r.ModelMS <= 0 {
		t.Errorf("profile: %d frames, model %.1f ms", r.ProfileFrames, r.ModelMS)
	}
	for _, c := range r.Cuts {
		if c.HeadMS <= 0 || c.TailMS <= 0 {
			t.Errorf("cut after %s: head %.1f ms, tail %.1f ms", c.After, c.HeadMS, c.TailMS)
		}
	}
}
