package detect

// Box is an axis-aligned box, corners (X1,Y1) top-left and (X2,Y2)
// bottom-right, in pixels of whatever image it refers to.
type Box struct{ X1, Y1, X2, Y2 float32 }

// W is the box width.
func (b Box) W() float32 { return b.X2 - b.X1 }

// H is the box height.
func (b Box) H() float32 { return b.Y2 - b.Y1 }

// Area is zero for degenerate boxes, never negative.
func (b Box) Area() float32 {
	w, h := b.W(), b.H()
	if w <= 0 || h <= 0 {
		return 0
	}
	return w * h
}

// IoU is the intersection over union of two boxes.
func IoU(a, b Box) float32 {
	x1, y1 := max(a.X1, b.X1), max(a.Y1, b.Y1)
	x2, y2 := min(a.X2, b.X2), min(a.Y2, b.Y2)
	iw, ih := x2-x1, y2-y1
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := a.Area() + b.Area() - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

// Letterbox maps between a source frame and the model's input: the frame is
// scaled by Scale (aspect kept) and placed at (PadX, PadY) in an InW×InH
// canvas; the rest is padding.
type Letterbox struct {
	SrcW, SrcH int
	InW, InH   int
	Scale      float32
	NewW, NewH int // the scaled frame's size inside the canvas
	PadX, PadY int // left and top padding
}

// NewLetterbox computes the letterbox of a srcW×srcH frame into an inW×inH
// input. Padding is split evenly, the odd pixel going right/bottom.
func NewLetterbox(srcW, srcH, inW, inH int) Letterbox {
	s := min(float32(inW)/float32(srcW), float32(inH)/float32(srcH))
	nw := int(float32(srcW)*s + 0.5)
	nh := int(float32(srcH)*s + 0.5)
	nw, nh = min(max(nw, 1), inW), min(max(nh, 1), inH)
	return Letterbox{
		SrcW: srcW, SrcH: srcH, InW: inW, InH: inH,
		Scale: s, NewW: nw, NewH: nh,
		PadX: (inW - nw) / 2, PadY: (inH - nh) / 2,
	}
}

// ToFrame maps a box from input coordinates to frame coordinates and clips
// it to the frame.
func (l Letterbox) ToFrame(b Box) Box {
	sx := float32(l.NewW) / float32(l.SrcW)
	sy := float32(l.NewH) / float32(l.SrcH)
	px, py := float32(l.PadX), float32(l.PadY)
	w, h := float32(l.SrcW), float32(l.SrcH)
	return Box{
		X1: clamp((b.X1-px)/sx, 0, w),
		Y1: clamp((b.Y1-py)/sy, 0, h),
		X2: clamp((b.X2-px)/sx, 0, w),
		Y2: clamp((b.Y2-py)/sy, 0, h),
	}
}

// ToInput maps a box from frame coordinates to input coordinates.
func (l Letterbox) ToInput(b Box) Box {
	sx := float32(l.NewW) / float32(l.SrcW)
	sy := float32(l.NewH) / float32(l.SrcH)
	px, py := float32(l.PadX), float32(l.PadY)
	return Box{X1: b.X1*sx + px, Y1: b.Y1*sy + py, X2: b.X2*sx + px, Y2: b.Y2*sy + py}
}

func clamp(v, lo, hi float32) float32 {
	return min(max(v, lo), hi)
}
