package model

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// writeSplit splits the default model at cut and writes head.onnx and
// tail.onnx into a temporary folder.
func writeSplit(t *testing.T, cut []string) (head, tail string) {
	t.Helper()
	head, tail, err := WriteSplit(loadDefault(t), cut, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return head, tail
}

// A head and a tail run by package detect find what the whole model finds
// on real frames, at both cuts.
func TestSplitPartsDetect(t *testing.T) {
	requireRuntime(t)
	whole, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Close()
	img := gocv.IMRead(assets.Media("messi5.jpg"), gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		t.Fatal("messi5.jpg: cannot read; run `make deps`")
	}
	want, _, err := whole.Detect(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("the whole model finds nothing on messi5.jpg")
	}
	for _, cut := range [][]string{singleCut, backboneEnd} {
		t.Run(cut[len(cut)-1], func(t *testing.T) {
			hp, tp := writeSplit(t, cut)
			h, err := detect.NewHead(detect.Options{Model: hp, IntraOpThreads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			tl, err := detect.NewTail(detect.Options{Model: tp, IntraOpThreads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer tl.Close()
			if h.Source() != tl.Source() || !strings.HasPrefix(h.Source(), "sha256:") || len(h.Cut()) != len(cut) || len(tl.Cut()) != len(cut) {
				t.Fatalf("head source %q cut %v, tail source %q cut %v", h.Source(), h.Cut(), tl.Source(), tl.Cut())
			}
			if w, hh := h.InputSize(); w != 640 || hh != 640 {
				t.Errorf("head input %dx%d", w, hh)
			}
			lb, _, err := h.Run(img)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range h.Outputs() {
				if len(x) != h.Cut()[i].Len() {
					t.Fatalf("cut tensor %d: %d values, shape %v", i, len(x), h.Cut()[i].Shape)
				}
				copy(tl.Inputs()[i], x)
			}
			got, _, err := tl.Run(nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("split: %d detections, whole: %d", len(got), len(want))
			}
			for i := range got {
				b := lb.ToFrame(got[i].Box)
				w := want[i]
				d := max(math.Abs(float64(b.X1-w.Box.X1)), math.Abs(float64(b.Y1-w.Box.Y1)), math.Abs(float64(b.X2-w.Box.X2)), math.Abs(float64(b.Y2-w.Box.Y2)))
				if got[i].Class != w.Class || got[i].Label != w.Label || math.Abs(float64(got[i].Score-w.Score)) > 1e-5 || d > 1e-3 {
					t.Errorf("detection %d: split %+v (frame box %v), whole %+v", i, got[i], b, w)
				}
			}
		})
	}
}

func TestSplitPartsWrongFile(t *testing.T) {
	requireRuntime(t)
	hp, tp := writeSplit(t, singleCut)
	asHead := func(path string) error {
		h, err := detect.NewHead(detect.Options{Model: path})
		if err == nil {
			h.Close()
		}
		return err
	}
	asTail := func(path string) error {
		x, err := detect.NewTail(detect.Options{Model: path})
		if err == nil {
			x.Close()
		}
		return err
	}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"whole as head", asHead(assets.Model()), "is not the head of a split model (vigil_split_part says no part: a whole model)"},
		{"tail as head", asHead(tp), "is not the head of a split model (vigil_split_part says tail)"},
		{"head as tail", asTail(hp), "is not the tail of a split model (vigil_split_part says head)"},
		{"missing", asTail(filepath.Join(t.TempDir(), "none.onnx")), "none.onnx"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, c.err, c.want)
		}
	}
}
