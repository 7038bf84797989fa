package vp8

import (
	"testing"

	"gocv.io/x/gocv"
)

// An odd last row and column are left out; the planes hold the picture's
// colours; a picture under 2×2 converts to nothing.
func TestBGRToI420(t *testing.T) {
	src := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 0, 0, 0), 35, 51, gocv.MatTypeCV8UC3) // blue
	defer src.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	w, h := BGRToI420(src, &dst)
	if w != 50 || h != 34 {
		t.Fatalf("size %dx%d, want 50x34", w, h)
	}
	if dst.Cols() != w || dst.Rows() != h*3/2 {
		t.Fatalf("I420 Mat %dx%d, want %dx%d", dst.Cols(), dst.Rows(), w, h*3/2)
	}
	data, err := dst.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	// BT.601 studio range, pure blue: Y 41, U 240, V 110 (±2 for rounding).
	y, u, v := data[0], data[w*h], data[w*h+w*h/4]
	for _, c := range []struct {
		name      string
		got, want byte
	}{{"Y", y, 41}, {"U", u, 240}, {"V", v, 110}} {
		if d := int(c.got) - int(c.want); d < -2 || d > 2 {
			t.Errorf("%s = %d, want %d±2", c.name, c.got, c.want)
		}
	}
	tiny := gocv.NewMatWithSize(1, 9, gocv.MatTypeCV8UC3)
	defer tiny.Close()
	if w, h := BGRToI420(tiny, &dst); w != 0 || h != 0 {
		t.Errorf("a 9x1 picture converted to %dx%d", w, h)
	}
}
