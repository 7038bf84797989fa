package vp8

import (
	"image"

	"gocv.io/x/gocv"
)

// BGRToI420 converts an 8-bit BGR picture (not changed) to packed I420 in
// dst: h*3/2 rows of w, the Y plane then U then V. An odd last row or
// column is left out, since I420 wants even sizes; it returns the size
// converted, 0×0 (and dst untouched) for a picture under 2×2. Every path
// that hands frames to a VP8 encoder converts them here: Encoder.Encode,
// the live view's encoder and the evidence clip ring.
func BGRToI420(src gocv.Mat, dst *gocv.Mat) (w, h int) {
	w, h = src.Cols()&^1, src.Rows()&^1
	if w < 2 || h < 2 {
		return 0, 0
	}
	if w != src.Cols() || h != src.Rows() {
		even := src.Region(image.Rect(0, 0, w, h))
		defer even.Close()
		src = even
	}
	gocv.CvtColor(src, dst, gocv.ColorBGRToYUVI420)
	return w, h
}
