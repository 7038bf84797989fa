package gocvdnn

import (
	"path/filepath"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/peers/opencvonnx"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/cvthreads"
	"gocv.io/x/gocv"
)

// TestPeerFindsWhatVigilFinds runs the gocv peer on the rewritten model and
// vigil's detector on the stock one, on the sample images: the peer is a
// fair one only if it sees the same people.
func TestPeerFindsWhatVigilFinds(t *testing.T) {
	if err := detect.InitRuntime(assets.Library()); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(t.TempDir(), "yolov8n-opencv.onnx")
	if _, err := opencvonnx.RewriteFile(assets.Model(), model); err != nil {
		t.Fatal(err)
	}
	if n := cvthreads.Set(2); n != 2 {
		t.Errorf("OpenCV threads %d after cvthreads.Set(2)", n)
	}
	p, err := New(model, 640)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: 2, ClassAgnostic: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range []string{"messi5.jpg", "basketball1.png"} {
		img := gocv.IMRead(assets.Media(name), gocv.IMReadColor)
		if img.Empty() {
			t.Fatalf("cannot read %s; run `make deps`", name)
		}
		peer, err := p.Detect(img)
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := d.Detect(img, nil)
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		strong := func(n int, score func(int) float32) (k int) {
			for i := range n {
				if score(i) >= 0.5 {
					k++
				}
			}
			return k
		}
		got := strong(len(peer), func(i int) float32 { return peer[i].Score })
		exp := strong(len(want), func(i int) float32 { return want[i].Score })
		if got != exp || exp == 0 {
			t.Errorf("%s: the peer finds %d objects at ≥ 0.5, vigil %d", name, got, exp)
		}
	}
}
