package detect

import (
	"fmt"
	"image"

	"gocv.io/x/gocv"
)

// padValue is the letterbox padding grey, as the YOLO family trains with.
const padValue = 114

// Preprocessor letterboxes BGR frames into a CHW float32 RGB tensor scaled
// to [0,1]. It keeps one resize buffer between calls and is not safe for
// concurrent use.
type Preprocessor struct {
	InW, InH int
	resized  gocv.Mat
	lut      [256]float32
}

// NewPreprocessor makes a preprocessor for an inW×inH model input.
func NewPreprocessor(inW, inH int) *Preprocessor {
	p := &Preprocessor{InW: inW, InH: inH, resized: gocv.NewMat()}
	for i := range p.lut {
		p.lut[i] = float32(i) / 255
	}
	return p
}

// Close frees the resize buffer.
func (p *Preprocessor) Close() error {
	return p.resized.Close()
}

// Run writes src, letterboxed, into dst (len 3·InW·InH) and returns the
// letterbox used, to map boxes back.
func (p *Preprocessor) Run(src gocv.Mat, dst []float32) (Letterbox, error) {
	if src.Empty() {
		return Letterbox{}, fmt.Errorf("empty image")
	}
	if src.Type() != gocv.MatTypeCV8UC3 {
		return Letterbox{}, fmt.Errorf("image type %v; want 8-bit BGR (CV_8UC3)", src.Type())
	}
	plane := p.InW * p.InH
	if len(dst) != 3*plane {
		return Letterbox{}, fmt.Errorf("tensor has %d values, want %d", len(dst), 3*plane)
	}
	lb := NewLetterbox(src.Cols(), src.Rows(), p.InW, p.InH)

	img := src
	if lb.NewW != src.Cols() || lb.NewH != src.Rows() {
		gocv.Resize(src, &p.resized, image.Pt(lb.NewW, lb.NewH), 0, 0, gocv.InterpolationLinear)
		img = p.resized
	}
	if !img.IsContinuous() {
		c := img.Clone()
		defer c.Close()
		img = c
	}
	pix, err := img.DataPtrUint8()
	if err != nil {
		return Letterbox{}, fmt.Errorf("read pixels: %w", err)
	}

	r, g, b := dst[:plane], dst[plane:2*plane], dst[2*plane:]
	pad := p.lut[padValue]
	fillPad(r, g, b, lb, pad)
	for y := 0; y < lb.NewH; y++ {
		row := pix[y*lb.NewW*3 : (y+1)*lb.NewW*3]
		o := (y+lb.PadY)*p.InW + lb.PadX
		rr, gg, bb := r[o:o+lb.NewW], g[o:o+lb.NewW], b[o:o+lb.NewW]
		for x := range rr {
			bb[x] = p.lut[row[3*x]]
			gg[x] = p.lut[row[3*x+1]]
			rr[x] = p.lut[row[3*x+2]]
		}
	}
	return lb, nil
}

// fillPad writes the padding value into the canvas outside the image.
func fillPad(r, g, b []float32, lb Letterbox, v float32) {
	fill := func(lo, hi int) {
		for _, p := range [][]float32{r, g, b} {
			s := p[lo:hi]
			for i := range s {
				s[i] = v
			}
		}
	}
	w := lb.InW
	fill(0, lb.PadY*w)                  // top rows
	fill((lb.PadY+lb.NewH)*w, lb.InH*w) // bottom rows
	if lb.NewW == w {
		return
	}
	for y := lb.PadY; y < lb.PadY+lb.NewH; y++ {
		fill(y*w, y*w+lb.PadX)
		fill(y*w+lb.PadX+lb.NewW, (y+1)*w)
	}
}
