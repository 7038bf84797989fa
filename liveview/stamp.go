package liveview

import (
	"image"
	"image/color"

	"gocv.io/x/gocv"
)

// The stamp is the frame's capture time, drawn as a row of black and white
// cells along the bottom-left edge, so that a browser can read it back from
// the decoded video and measure capture-to-screen latency per frame (the
// page does, and so does the benchmark). Cells are coarse (8 px on a 768 px
// frame) and pure black or white, so they survive lossy encoding.
//
// Layout, left to right: a white and a black cell (sync), the capture time
// in milliseconds modulo 2^32 (32 cells, most significant first), and a
// check byte (8 cells): the sum of the time's four bytes XOR 0xA5, so that
// neither an all-black nor an all-white strip reads as a time.
const (
	stampBits  = 32
	stampCheck = 8
	stampCells = 2 + stampBits + stampCheck
)

// stampCell is the side of one cell for a frame width pixels wide.
func stampCell(width int) int { return min(max(width/96, 4), 12) }

func stampChecksum(ms uint32) uint8 {
	return (uint8(ms>>24) + uint8(ms>>16) + uint8(ms>>8) + uint8(ms)) ^ 0xA5
}

// stampBitsOf lists the cells' values, 1 = white.
func stampBitsOf(ms uint32) [stampCells]bool {
	var b [stampCells]bool
	b[0] = true
	for i := 0; i < stampBits; i++ {
		b[2+i] = ms>>(stampBits-1-i)&1 == 1
	}
	sum := stampChecksum(ms)
	for i := 0; i < stampCheck; i++ {
		b[2+stampBits+i] = sum>>(stampCheck-1-i)&1 == 1
	}
	return b
}

// drawStamp writes ms into the bottom-left corner of img. Frames too small
// to hold the strip are left alone.
func drawStamp(img *gocv.Mat, ms uint32) {
	w, h := img.Cols(), img.Rows()
	s := stampCell(w)
	if stampCells*s > w || s > h {
		return
	}
	y := h - s
	for i, on := range stampBitsOf(ms) {
		c := color.RGBA{0, 0, 0, 0}
		if on {
			c = color.RGBA{255, 255, 255, 0}
		}
		gocv.Rectangle(img, image.Rect(i*s, y, (i+1)*s, h), c, -1)
	}
}

// readStamp decodes a stamp from a BGR frame, as the page does from a
// canvas: the mean of each cell's middle, thresholded at mid-grey.
func readStamp(img gocv.Mat) (uint32, bool) {
	w, h := img.Cols(), img.Rows()
	s := stampCell(w)
	if stampCells*s > w || s > h {
		return 0, false
	}
	var cells [stampCells]bool
	for i := range cells {
		x, y := i*s+s/2, h-s+s/2
		v := img.GetVecbAt(y, x)
		cells[i] = int(v[0])+int(v[1])+int(v[2]) > 3*128
	}
	if !cells[0] || cells[1] {
		return 0, false
	}
	var ms uint32
	for i := 0; i < stampBits; i++ {
		ms <<= 1
		if cells[2+i] {
			ms |= 1
		}
	}
	var sum uint8
	for i := 0; i < stampCheck; i++ {
		sum <<= 1
		if cells[2+stampBits+i] {
			sum |= 1
		}
	}
	return ms, sum == stampChecksum(ms)
}
