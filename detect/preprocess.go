package detect

import (
	"errors"
	"fmt"
	"image"

	"gocv.io/x/gocv"
)

// padValue is the letterbox padding grey, as the YOLO family trains with.
const padValue = 114

// The tensor holds float32(v)/255 for each 8-bit value v, exactly as a
// division gives it. OpenCV's convertTo multiplies by a float32 scale
// instead, and no single scale gives that for every v (float32(1/255)
// misses 126 of the 256). Two scalings do: v·scaleUp is exact (2255 has 12
// significant bits, v 8), so rounding (v·scaleUp)·scaleDown rounds
// v·(scaleUp·scaleDown) once, and scaleUp·scaleDown is 1/255 within a
// relative 2⁻⁴⁰, far inside the 2⁻³² by which every v/255 clears a
// rounding boundary. TestLetterboxExactAllValues checks all 256.
const (
	scaleUp   = 2255.0 / 2048
	scaleDown = 0x1.d2d2fp-9
)

// Preprocessor letterboxes BGR frames into a CHW float32 RGB tensor scaled
// to [0,1]. It owns that tensor's memory (C memory, an OpenCV Mat: see
// Tensor) and its scratch between calls, and is not safe for concurrent
// use. InW and InH are set by NewPreprocessor and only read after.
type Preprocessor struct {
	InW, InH int

	w, h   int       // the canvas's size, to catch a changed InW or InH
	canvas gocv.Mat  // the tensor: 3·h rows of w float32, planes R, G, B
	tensor []float32 // canvas's memory
	// content views the canvas where the frame goes, one Mat per plane,
	// for the rectangle at; the rest of the canvas holds the padding.
	// at is empty until the first Run.
	content [3]gocv.Mat
	at      image.Rectangle

	resized gocv.Mat
	planes  [3]gocv.Mat // the scaled frame's R, G, B, 8-bit
}

// NewPreprocessor makes a preprocessor for an inW×inH model input.
func NewPreprocessor(inW, inH int) *Preprocessor {
	p := &Preprocessor{
		InW: inW, InH: inH, w: inW, h: inH,
		canvas:  gocv.NewMatWithSize(3*inH, inW, gocv.MatTypeCV32F),
		resized: gocv.NewMat(),
	}
	for c := range p.planes {
		p.planes[c], p.content[c] = gocv.NewMat(), gocv.NewMat()
	}
	p.tensor, _ = p.canvas.DataPtrFloat32() // a new Mat is continuous and CV_32F
	fill(p.tensor, padGrey)                 // a blank frame until the first Run
	return p
}

// padGrey is padValue as the tensor holds it.
const padGrey = float32(padValue) / 255

func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

// Tensor is the preprocessor's own tensor (len 3·InW·InH), valid until
// Close. It lies in C memory, so onnxruntime and OpenCV may both keep
// pointers to it across calls without holding Go pointers in C. Run with
// it as dst writes in place; nothing else may write to it, because Run
// writes the padding only when the letterbox geometry changes.
func (p *Preprocessor) Tensor() []float32 {
	return p.tensor
}

// Close frees the tensor and the scratch.
func (p *Preprocessor) Close() error {
	errs := []error{p.resized.Close(), p.canvas.Close()}
	for c := range p.planes {
		errs = append(errs, p.planes[c].Close(), p.content[c].Close())
	}
	p.tensor, p.at = nil, image.Rectangle{}
	return errors.Join(errs...)
}

// Run writes src, letterboxed, into dst (len 3·InW·InH) and returns the
// letterbox used, to map boxes back. dst is either Tensor(), written in
// place, or any other buffer, which gets a copy of it.
func (p *Preprocessor) Run(src gocv.Mat, dst []float32) (Letterbox, error) {
	if src.Empty() {
		return Letterbox{}, fmt.Errorf("empty image")
	}
	if src.Type() != gocv.MatTypeCV8UC3 {
		return Letterbox{}, fmt.Errorf("image type %v; want 8-bit BGR (CV_8UC3)", src.Type())
	}
	n := 3 * p.w * p.h
	if len(p.tensor) != n || n == 0 || p.InW != p.w || p.InH != p.h {
		return Letterbox{}, fmt.Errorf("preprocessor made for %dx%d is closed, empty or changed to %dx%d", p.w, p.h, p.InW, p.InH)
	}
	if len(dst) != n {
		return Letterbox{}, fmt.Errorf("tensor has %d values, want %d", len(dst), n)
	}
	lb := NewLetterbox(src.Cols(), src.Rows(), p.InW, p.InH)

	img := src
	if lb.NewW != src.Cols() || lb.NewH != src.Rows() {
		gocv.Resize(src, &p.resized, image.Pt(lb.NewW, lb.NewH), 0, 0, gocv.InterpolationLinear)
		img = p.resized
	}
	if r := image.Rect(lb.PadX, lb.PadY, lb.PadX+lb.NewW, lb.PadY+lb.NewH); r != p.at {
		p.place(r)
	}
	// OpenCV's vectorised loops split the channels and convert, where a Go
	// loop through a lookup table took twice as long.
	for c := range p.planes {
		gocv.ExtractChannel(img, &p.planes[c], 2-c) // BGR → R, G, B
		p.planes[c].ConvertToWithParams(&p.content[c], gocv.MatTypeCV32F, scaleUp, 0)
		p.content[c].ConvertToWithParams(&p.content[c], gocv.MatTypeCV32F, scaleDown, 0)
	}
	if &dst[0] != &p.tensor[0] {
		copy(dst, p.tensor)
	}
	return lb, nil
}

// place points the content views at r and pads the rest of the canvas.
func (p *Preprocessor) place(r image.Rectangle) {
	fill(p.tensor, padGrey)
	for c := range p.content {
		p.content[c].Close()
		p.content[c] = p.canvas.Region(r.Add(image.Pt(0, c*p.InH)))
	}
	p.at = r
}
