package detect

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/vigil-vision/vigil/assets"

	"gocv.io/x/gocv"
)

// reference letterboxes the plain way: resize, pad with copyMakeBorder,
// then OpenCV's blobFromImage for BGR→RGB, 1/255 and CHW.
func reference(t testing.TB, src gocv.Mat, inW, inH int) []float32 {
	lb := NewLetterbox(src.Cols(), src.Rows(), inW, inH)
	resized := gocv.NewMat()
	defer resized.Close()
	gocv.Resize(src, &resized, image.Pt(lb.NewW, lb.NewH), 0, 0, gocv.InterpolationLinear)
	padded := gocv.NewMat()
	defer padded.Close()
	gocv.CopyMakeBorder(resized, &padded, lb.PadY, inH-lb.NewH-lb.PadY, lb.PadX, inW-lb.NewW-lb.PadX,
		gocv.BorderConstant, color.RGBA{padValue, padValue, padValue, 0})
	blob := gocv.BlobFromImage(padded, 1.0/255, image.Pt(inW, inH), gocv.NewScalar(0, 0, 0, 0), true, false)
	defer blob.Close()
	f, err := blob.DataPtrFloat32()
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), f...)
}

func TestPreprocessMatchesReference(t *testing.T) {
	for _, name := range []string{"messi5.jpg", "basketball1.png"} {
		img := readImage(t, name)
		for _, size := range [][2]int{{640, 640}, {320, 256}} {
			p := NewPreprocessor(size[0], size[1])
			dst := make([]float32, 3*size[0]*size[1])
			for i := range dst {
				dst[i] = -1 // stale data must be overwritten everywhere
			}
			if _, err := p.Run(img, dst); err != nil {
				t.Fatal(err)
			}
			want := reference(t, img, size[0], size[1])
			bad := 0
			for i := range dst {
				if math.Abs(float64(dst[i]-want[i])) > 1e-6 {
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%s at %v: %d of %d values differ from resize+copyMakeBorder+blobFromImage", name, size, bad, len(dst))
			}
			p.Close()
		}
	}
}

func TestPreprocessRejects(t *testing.T) {
	p := NewPreprocessor(64, 64)
	defer p.Close()
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := p.Run(empty, make([]float32, 3*64*64)); err == nil {
		t.Error("accepted an empty image")
	}
	gray := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC1)
	defer gray.Close()
	if _, err := p.Run(gray, make([]float32, 3*64*64)); err == nil {
		t.Error("accepted a one-channel image")
	}
	bgr := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC3)
	defer bgr.Close()
	if _, err := p.Run(bgr, make([]float32, 10)); err == nil {
		t.Error("accepted a tensor of the wrong size")
	}
}

func BenchmarkLetterbox(b *testing.B) {
	img := firstFrame(b, assets.Media("vtest.avi"))
	p := NewPreprocessor(640, 640)
	defer p.Close()
	dst := make([]float32, 3*640*640)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Run(img, dst); err != nil {
			b.Fatal(err)
		}
	}
}

// firstFrame reads the first frame of a video.
func firstFrame(t testing.TB, path string) gocv.Mat {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		t.Fatalf("open %s: %v; run `make deps`", path, err)
	}
	defer vc.Close()
	img := gocv.NewMat()
	if !vc.Read(&img) || img.Empty() {
		img.Close()
		t.Fatalf("no frame in %s", path)
	}
	t.Cleanup(func() { img.Close() })
	return img
}
