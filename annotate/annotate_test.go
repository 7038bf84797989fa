package annotate

import (
	"image"
	"image/color"
	"testing"

	"gocv.io/x/gocv"
)

func TestColorIsStablePerClass(t *testing.T) {
	if Color(0) != Color(len(palette)) || Color(-3) != Color(0) {
		t.Error("colours do not cycle through the palette")
	}
	if Color(0) == Color(1) {
		t.Error("neighbouring classes share a colour")
	}
}

// pixel reads an RGB colour from a BGR Mat.
func pixel(m gocv.Mat, x, y int) color.RGBA {
	v := m.GetVecbAt(y, x)
	return color.RGBA{v[2], v[1], v[0], 0}
}

func TestBoxDrawsOutlineAndLabel(t *testing.T) {
	img := gocv.NewMatWithSize(200, 300, gocv.MatTypeCV8UC3)
	defer img.Close()
	r := image.Rect(50, 60, 150, 180)
	Box(&img, r, 2, "car 0.90")
	c := Color(2)
	for _, p := range []image.Point{{50, 120}, {149, 120}, {100, 60}, {100, 179}} {
		if got := pixel(img, p.X, p.Y); got != c {
			t.Errorf("outline at %v is %v, want %v", p, got, c)
		}
	}
	if got := pixel(img, 100, 120); got != (color.RGBA{}) {
		t.Errorf("inside of the box drawn on: %v", got)
	}
	if got := pixel(img, 52, 45); got != c && got != white {
		t.Errorf("label bar above the box missing: %v", got)
	}
}
