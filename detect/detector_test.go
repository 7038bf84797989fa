package detect

import (
	"fmt"
	"github.com/vigil-vision/vigil/internal/onnxtest"
	"os"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"gocv.io/x/gocv"
)

// requireRuntime loads the real onnxruntime; the artefacts come from
// `make deps`, which `make test` runs first.
func requireRuntime(t testing.TB) {
	t.Helper()
	if err := InitRuntime(assets.Library()); err != nil {
		t.Fatalf("%v", err)
	}
}

func newDefault(t testing.TB) *Detector {
	t.Helper()
	requireRuntime(t)
	d, err := New(Options{Model: assets.Model(), IntraOpThreads: 2})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func readImage(t testing.TB, name string) gocv.Mat {
	t.Helper()
	img := gocv.IMRead(assets.Media(name), gocv.IMReadColor)
	if img.Empty() {
		t.Fatalf("cannot read %s; run `make deps`", assets.Media(name))
	}
	t.Cleanup(func() { img.Close() })
	return img
}

func TestDefaultModel(t *testing.T) {
	d := newDefault(t)
	if d.Layout() != LayoutYOLOv8 {
		t.Errorf("layout = %v, want yolov8", d.Layout())
	}
	if w, h := d.InputSize(); w != 640 || h != 640 {
		t.Errorf("input = %dx%d, want 640x640", w, h)
	}
	if len(d.Labels()) != 80 || d.Labels()[0] != "person" || d.Labels()[32] != "sports ball" {
		t.Errorf("labels from metadata = %d names, [0]=%q [32]=%q", len(d.Labels()), d.Labels()[0], d.Labels()[32])
	}
}

func TestDetectSampleImages(t *testing.T) {
	d := newDefault(t)
	cases := []struct {
		image string
		want  map[string]int // label → minimum count at score ≥ 0.5
	}{
		{"messi5.jpg", map[string]int{"person": 1, "sports ball": 1}},
		{"basketball1.png", map[string]int{"person": 2}},
	}
	for _, c := range cases {
		t.Run(c.image, func(t *testing.T) {
			img := readImage(t, c.image)
			dets, _, err := d.Detect(img, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, x := range dets {
				if x.Box.X1 < 0 || x.Box.Y1 < 0 || x.Box.X2 > float32(img.Cols()) || x.Box.Y2 > float32(img.Rows()) || x.Box.Area() <= 0 {
					t.Errorf("box %+v outside the %dx%d image", x.Box, img.Cols(), img.Rows())
				}
				if x.Score >= 0.5 {
					got[x.Label]++
				}
			}
			for label, n := range c.want {
				if got[label] < n {
					t.Errorf("%s: %d × %q at ≥0.5, want ≥ %d (all: %v)", c.image, got[label], label, n, got)
				}
			}
		})
	}
}

func TestDetectIsStable(t *testing.T) {
	// The reused tensor and resize buffer must not leak state between calls.
	d := newDefault(t)
	a, b := readImage(t, "messi5.jpg"), readImage(t, "basketball1.png")
	first, _, err := d.Detect(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Detect(b, nil); err != nil {
		t.Fatal(err)
	}
	again, _, err := d.Detect(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != len(again) {
		t.Fatalf("%d detections, then %d on the same image", len(first), len(again))
	}
	for i := range first {
		if first[i] != again[i] {
			t.Errorf("detection %d: %+v then %+v", i, first[i], again[i])
		}
	}
}

func TestClassConfidence(t *testing.T) {
	requireRuntime(t)
	d, err := New(Options{Model: assets.Model(), ClassConfidence: map[string]float32{"person": 0.99}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dets, _, err := d.Detect(readImage(t, "basketball1.png"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range dets {
		if x.Label == "person" && x.Score < 0.99 {
			t.Errorf("person at %.2f passed a 0.99 person threshold", x.Score)
		}
	}
}

func TestBadModels(t *testing.T) {
	requireRuntime(t)
	dir := t.TempDir()
	garbage := dir + "/garbage.onnx"
	if err := os.WriteFile(garbage, []byte("this is not a protobuf"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts Options
		want []string
	}{
		{"missing", Options{Model: dir + "/nope.onnx"}, []string{"nope.onnx", "no such file", "make deps", "model.path", "WITH_MODEL=false"}},
		{"garbage", Options{Model: garbage}, []string{"garbage.onnx", "not a loadable ONNX model"}},
		{"wrong output shape", Options{Model: writeModel(t, dir, []int64{1, 3, 64, 64}, []int64{1, 3, 64, 64})}, []string{"output", "[1 3 64 64]", "[1,4+C,N]"}},
		{"wrong input", Options{Model: writeModel(t, dir, []int64{1, 84, 8400}, []int64{1, 84, 8400})}, []string{"input", "[1,3,H,W]"}},
		{"input too large", Options{Model: writeNamedModel(t, dir, "tall.onnx", []int64{1, 3, 9000, 640}, []int64{1, 84, 8400})}, []string{"input", "at most 8192 pixels a side"}},
		{"unknown class", Options{Model: assets.Model(), ClassConfidence: map[string]float32{"forklift": 0.5}}, []string{"class_confidence.forklift", "person"}},
		{"unknown decoder", Options{Model: assets.Model(), Decoder: "yolov99"}, []string{"model.decoder", "yolov99"}},
		{"cuda without fallback", Options{Model: assets.Model(), Providers: []string{"cuda"}}, []string{"cuda", "fallback_to_cpu"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := New(c.opts)
			if err == nil {
				d.Close()
				t.Fatal("New succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestProviderFallback(t *testing.T) {
	// The library from `make deps` is CPU-only: cuda and tensorrt must fall
	// back to cpu when asked to, and still detect.
	requireRuntime(t)
	d, err := New(Options{Model: assets.Model(), Providers: []string{"tensorrt", "cuda", "cpu"}, FallbackToCPU: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if p := d.Providers(); len(p) == 0 || p[len(p)-1] != "cpu" {
		t.Errorf("providers = %v, want to end on cpu", p)
	}
	dets, _, err := d.Detect(readImage(t, "messi5.jpg"), nil)
	if err != nil || len(dets) == 0 {
		t.Errorf("after fallback: %d detections, err %v", len(dets), err)
	}
}

func writeNamedModel(t testing.TB, dir, name string, in, out []int64) string {
	t.Helper()
	p, err := onnxtest.Write(dir, name, in, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writeModel(t testing.TB, dir string, in, out []int64) string {
	t.Helper()
	p, err := onnxtest.Write(dir, fmt.Sprintf("identity-%d.onnx", len(in)*10+len(out)), in, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
