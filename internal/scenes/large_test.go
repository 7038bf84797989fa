package scenes

import (
	"bytes"
	"image"
	"image/color"
	"path/filepath"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"gocv.io/x/gocv"
)

func readVideoFrame(t *testing.T, vc *gocv.VideoCapture, i int) gocv.Mat {
	t.Helper()
	vc.Set(gocv.VideoCapturePosFrames, float64(i))
	img := gocv.NewMat()
	t.Cleanup(func() { img.Close() })
	if !vc.Read(&img) || img.Empty() {
		t.Fatalf("cannot read frame %d", i)
	}
	return img
}

// TestLarge: the scaled frame lands where ToCanvas says, the canvas around
// it is the same whatever the frame, and a written scene reads back at the
// canvas's size.
func TestLarge(t *testing.T) {
	video := assets.Media("vtest.avi")
	size := image.Pt(1920, 1080)
	l, err := NewLarge(video, size, 0.55, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := l.Placed()
	if !p.In(image.Rectangle{Max: size}) || p.Dx() != 422 || p.Dy() != 317 {
		t.Fatalf("placed at %v in %v; want 422x317 (768x576 scaled 0.55) inside", p, size)
	}
	if x, y := l.ToCanvas(0, 0); x != float32(p.Min.X) || y != float32(p.Min.Y) {
		t.Errorf("ToCanvas(0, 0) = %v, %v; want %v", x, y, p.Min)
	}
	if x, y := l.ToCanvas(768, 576); x != float32(p.Max.X) || y != float32(p.Max.Y) {
		t.Errorf("ToCanvas(768, 576) = %v, %v; want %v", x, y, p.Max)
	}

	vc, err := gocv.VideoCaptureFile(video)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	a, b := readVideoFrame(t, vc, 10), readVideoFrame(t, vc, 400)
	ca, cb := gocv.NewMat(), gocv.NewMat()
	defer ca.Close()
	defer cb.Close()
	if err := l.Render(a, &ca); err != nil {
		t.Fatal(err)
	}
	if err := l.Render(b, &cb); err != nil {
		t.Fatal(err)
	}
	if ca.Cols() != size.X || ca.Rows() != size.Y || ca.Type() != gocv.MatTypeCV8UC3 {
		t.Fatalf("canvas %dx%d %v; want %v CV_8UC3", ca.Cols(), ca.Rows(), ca.Type(), size)
	}
	for _, c := range []gocv.Mat{ca, cb} { // outside the frame: the same background
		gocv.Rectangle(&c, p, color.RGBA{}, -1)
	}
	if !bytes.Equal(ca.ToBytes(), cb.ToBytes()) {
		t.Error("two frames' canvases differ outside where the frame lies")
	}
	if err := l.Render(a, &ca); err != nil {
		t.Fatal(err)
	}
	want, at := gocv.NewMat(), ca.Region(p)
	defer want.Close()
	defer at.Close()
	gocv.Resize(a, &want, p.Size(), 0, 0, gocv.InterpolationArea)
	got := at.Clone()
	defer got.Close()
	if !bytes.Equal(got.ToBytes(), want.ToBytes()) {
		t.Error("the canvas where the frame lies is not the frame scaled")
	}
	if err := l.Render(ca, &cb); err == nil {
		t.Error("Render of a frame of the wrong size: no error")
	}

	path := filepath.Join(t.TempDir(), "large.avi")
	if err := l.Write(path, 10, video, 790, 8); err != nil { // loops past the end (795 frames)
		t.Fatal(err)
	}
	out, err := gocv.VideoCaptureFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if n, w, h := int(out.Get(gocv.VideoCaptureFrameCount)), int(out.Get(gocv.VideoCaptureFrameWidth)), int(out.Get(gocv.VideoCaptureFrameHeight)); n != 8 || w != size.X || h != size.Y {
		t.Errorf("written scene: %d frames %dx%d; want 8 at %v", n, w, h, size)
	}
}

// TestLargePlacement: the seed puts the frame inside the canvas, the same
// place for the same seed.
func TestLargePlacement(t *testing.T) {
	canvas, size := image.Pt(1920, 1080), image.Pt(422, 317)
	places := map[image.Point]bool{}
	for seed := range uint64(20) {
		at := place(seed, canvas, size)
		if !(image.Rectangle{Min: at, Max: at.Add(size)}).In(image.Rectangle{Max: canvas}) {
			t.Errorf("seed %d: at %v, outside the canvas", seed, at)
		}
		if again := place(seed, canvas, size); again != at {
			t.Errorf("seed %d: at %v, then %v", seed, at, again)
		}
		places[at] = true
	}
	if len(places) < 10 {
		t.Errorf("20 seeds, %d places", len(places))
	}
	if at := place(1, size, size); at != (image.Point{}) {
		t.Errorf("a frame as large as the canvas placed at %v", at)
	}
}

func TestLargeRejects(t *testing.T) {
	video := assets.Media("vtest.avi")
	for _, c := range []struct {
		size  image.Point
		scale float64
	}{{image.Pt(1920, 1080), 0}, {image.Pt(1920, 1080), 1.5}, {image.Pt(400, 300), 0.6}} {
		if l, err := NewLarge(video, c.size, c.scale, 1); err == nil {
			l.Close()
			t.Errorf("size %v, scale %v: no error", c.size, c.scale)
		}
	}
}
