package detect

import (
	"image"
	"image/color"
	"math"
	"syscall"
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

// plainLetterbox is the letterbox written the plain way, the oracle for
// Preprocessor's OpenCV path: the same resize, then float32(v)/255 pixel by
// pixel into three planes, and the padding grey everywhere else.
func plainLetterbox(src gocv.Mat, inW, inH int) []float32 {
	lb := NewLetterbox(src.Cols(), src.Rows(), inW, inH)
	img := src.Clone()
	defer img.Close()
	if lb.NewW != src.Cols() || lb.NewH != src.Rows() {
		gocv.Resize(src, &img, image.Pt(lb.NewW, lb.NewH), 0, 0, gocv.InterpolationLinear)
	}
	plane := inW * inH
	out := make([]float32, 3*plane)
	grey := uint8(padValue) // divided at run time, as the pixels are
	for i := range out {
		out[i] = float32(grey) / 255
	}
	for y := range lb.NewH {
		for x := range lb.NewW {
			o := (y+lb.PadY)*inW + lb.PadX + x
			for c := range 3 { // R, G, B planes from BGR pixels
				out[c*plane+o] = float32(img.GetUCharAt(y, 3*x+2-c)) / 255
			}
		}
	}
	return out
}

// diffBits counts the values whose bits differ.
func diffBits(got, want []float32) int {
	bad := 0
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			bad++
		}
	}
	return bad
}

func TestLetterboxMatchesPlain(t *testing.T) {
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(readImage(t, "messi5.jpg"), &big, image.Pt(1000, 800), 0, 0, gocv.InterpolationLinear)
	// In order, on one Preprocessor per input size: the geometry changes
	// from case to case and comes back, so the padding, written only on a
	// change, must be right after each.
	cases := []struct {
		name     string
		w, h     int
		roi      bool // a view into a larger frame: not continuous
		inW, inH int
	}{
		{"landscape", 768, 576, false, 640, 640},
		{"portrait", 576, 768, false, 640, 640},
		{"exact fit", 640, 640, false, 640, 640},
		{"no resize, pad rows", 640, 480, false, 640, 640},
		{"no resize, pad columns", 480, 640, false, 640, 640},
		{"odd upscale", 333, 517, false, 640, 640},
		{"odd downscale", 1921, 1079, false, 640, 640},
		{"thin", 641, 3, false, 640, 640},
		{"view, no resize", 640, 360, true, 640, 640},
		{"view, resize", 501, 301, true, 640, 640},
		{"landscape again", 768, 576, false, 640, 640},
		{"landscape again, same geometry", 768, 576, false, 640, 640},
		{"odd input", 768, 576, false, 321, 257},
		{"odd input, odd frame", 255, 387, true, 321, 257},
	}
	pres := map[[2]int]*Preprocessor{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var frame gocv.Mat
			if c.roi {
				frame = big.Region(image.Rect(7, 11, 7+c.w, 11+c.h))
				if frame.IsContinuous() {
					t.Fatal("view is continuous")
				}
			} else {
				frame = gocv.NewMat()
				gocv.Resize(big, &frame, image.Pt(c.w, c.h), 0, 0, gocv.InterpolationArea)
			}
			defer frame.Close()
			size := [2]int{c.inW, c.inH}
			p := pres[size]
			if p == nil {
				p = NewPreprocessor(c.inW, c.inH)
				pres[size] = p
			}
			want := plainLetterbox(frame, c.inW, c.inH)
			if _, err := p.Run(frame, p.Tensor()); err != nil {
				t.Fatal(err)
			}
			if bad := diffBits(p.Tensor(), want); bad > 0 {
				t.Errorf("in place: %d of %d values differ from the plain letterbox", bad, len(want))
			}
			other := make([]float32, len(want))
			for i := range other {
				other[i] = -1
			}
			if _, err := p.Run(frame, other); err != nil {
				t.Fatal(err)
			}
			if bad := diffBits(other, want); bad > 0 {
				t.Errorf("into a caller's buffer: %d of %d values differ from the plain letterbox", bad, len(want))
			}
		})
	}
	for _, p := range pres {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestLetterboxExactAllValues(t *testing.T) {
	// Every 8-bit value in every channel, no resize: each must come out as
	// float32(v)/255 bit for bit, in R, G, B order.
	img := gocv.NewMatWithSize(256, 256, gocv.MatTypeCV8UC3)
	defer img.Close()
	for y := range 256 {
		for x := range 256 {
			img.SetUCharAt(y, 3*x, uint8(x))       // B
			img.SetUCharAt(y, 3*x+1, uint8(y))     // G
			img.SetUCharAt(y, 3*x+2, uint8(x+y+7)) // R
		}
	}
	p := NewPreprocessor(256, 256)
	defer p.Close()
	if _, err := p.Run(img, p.Tensor()); err != nil {
		t.Fatal(err)
	}
	got, plane := p.Tensor(), 256*256
	bad := 0
	for y := range 256 {
		for x := range 256 {
			for c, v := range []int{x + y + 7, y, x} {
				if g, w := got[c*plane+y*256+x], float32(uint8(v))/255; math.Float32bits(g) != math.Float32bits(w) {
					if bad++; bad <= 5 {
						t.Errorf("plane %d at (%d,%d): %v, want %v", c, x, y, g, w)
					}
				}
			}
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
	closed := NewPreprocessor(64, 64)
	closed.Close()
	if _, err := closed.Run(bgr, make([]float32, 3*64*64)); err == nil {
		t.Error("a closed preprocessor ran")
	}
}

// BenchmarkLetterbox writes into the preprocessor's own tensor, as a Slot
// does; BenchmarkLetterboxCopy into a caller's buffer. OpenCV's resize runs
// on its thread pool, so cpu-ns/op (all threads) can exceed ns/op.
//
// On the 2-core dev box (go test ./detect -run xxx -bench Letterbox
// -benchtime 500x -count 3, medians): Letterbox 0.63 ms, 1.01 ms CPU;
// LetterboxCopy 0.81 ms, 1.16 ms CPU; the Go lookup-table loop before,
// with the padding written every frame, took 0.91 ms, 1.25 ms CPU. The
// resize is most of what is left: about 0.5 ms of CPU on one thread.
func BenchmarkLetterbox(b *testing.B) {
	benchLetterbox(b, func(p *Preprocessor) []float32 { return p.Tensor() })
}

func BenchmarkLetterboxCopy(b *testing.B) {
	benchLetterbox(b, func(p *Preprocessor) []float32 { return make([]float32, 3*640*640) })
}

func benchLetterbox(b *testing.B, dst func(*Preprocessor) []float32) {
	img := firstFrame(b, assets.Media("vtest.avi"))
	p := NewPreprocessor(640, 640)
	defer p.Close()
	buf := dst(p)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := p.Run(img, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU time of the whole process, every thread, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
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
