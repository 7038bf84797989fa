package motion

import (
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"
)

// Options configure a Detector; zero values take the defaults.
type Options struct {
	// Height is the rows of the small copy motion is found on (the width
	// keeps the frame's aspect); 120 by default.
	Height int
	// Threshold is the gray-level difference (0–255) from the background
	// that makes a pixel move; 25 by default.
	Threshold float64
	// MinArea is the smallest blob, as a share of the picture; 0.0008 by
	// default (a person a few dozen pixels tall in a 1080p frame).
	MinArea float64
	// Alpha is how fast the background learns, per frame; 0.05 by default
	// (a change is half learnt in about 14 frames).
	Alpha float64
	// Settle is how many frames the background forms before motion is
	// trusted, at start and after a recalibration; 10 by default.
	Settle int
	// GlobalChange is the share of the unmasked picture that, moving at
	// once, means the light changed rather than something moved; 0.5 by
	// default.
	GlobalChange float64
	// Absorb is how many frames a pixel may differ from the background
	// while not changing from frame to frame before it becomes background
	// at once; 3 by default. It ends ghosts (where something that stood
	// long enough to enter the background has left, the empty place
	// differs from the background until it is learnt again, about 2 s at
	// Alpha 0.05) and makes an object that stops stop counting as motion.
	Absorb int
	// Masks are polygons where motion is ignored.
	Masks []Mask
}

// Mask is a polygon where motion is ignored: its corners in order around
// it, [x, y] in frame pixels from the top-left corner, or in [0,1] of the
// width and height when Normalized.
type Mask struct {
	Points     [][2]float64
	Normalized bool
}

func (o *Options) defaults() {
	if o.Height <= 0 {
		o.Height = 120
	}
	if o.Threshold <= 0 {
		o.Threshold = 25
	}
	if o.MinArea <= 0 {
		o.MinArea = 0.0008
	}
	if o.Alpha <= 0 || o.Alpha > 1 {
		o.Alpha = 0.05
	}
	if o.Settle <= 0 {
		o.Settle = 10
	}
	if o.GlobalChange <= 0 || o.GlobalChange > 1 {
		o.GlobalChange = 0.5
	}
	if o.Absorb <= 0 {
		o.Absorb = 3
	}
}

// Result is what one frame showed.
type Result struct {
	Boxes    []image.Rectangle // moving blobs, in the frame's pixels; none while settling
	Fraction float64           // share of the unmasked picture that moved
	// Settling: the background is still forming (the first Settle frames,
	// or those after a recalibration); Boxes is empty.
	Settling bool
	// Recalibrated: this frame changed too much of the picture at once and
	// became the new background.
	Recalibrated bool
}

// Moving says whether the frame shows motion worth a look.
func (r Result) Moving() bool { return len(r.Boxes) > 0 }

// Detector finds motion in one camera's frames. Not safe for use by
// several goroutines; Close frees its Mats.
type Detector struct {
	o      Options
	size   image.Point // the frame size the state is for
	small  image.Point // the small copy's size
	bg     gocv.Mat    // float32 running average
	gray   gocv.Mat
	scaled gocv.Mat
	bg8    gocv.Mat
	diff   gocv.Mat
	prev   gocv.Mat // the previous small frame
	change gocv.Mat // 255 where the frame changed from the previous one
	still  gocv.Mat // per pixel: frames it has differed from the background without changing
	one    gocv.Mat // 1 everywhere: still's increment
	grayF  gocv.Mat // gray as float32, for absorbing
	keep   gocv.Mat // 255 where motion counts, 0 in the masks
	kernel gocv.Mat
	open   int // unmasked pixels
	settle int // frames left to settle
	ready  bool
}

// New makes a Detector.
func New(o Options) *Detector {
	o.defaults()
	return &Detector{o: o, bg: gocv.NewMat(), gray: gocv.NewMat(), scaled: gocv.NewMat(), bg8: gocv.NewMat(),
		diff: gocv.NewMat(), prev: gocv.NewMat(), change: gocv.NewMat(), still: gocv.NewMat(), one: gocv.NewMat(),
		grayF: gocv.NewMat(), keep: gocv.NewMat(), kernel: gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(5, 5))}
}

// Close frees the Detector's Mats.
func (d *Detector) Close() {
	for _, m := range []*gocv.Mat{&d.bg, &d.gray, &d.scaled, &d.bg8, &d.diff, &d.prev, &d.change, &d.still, &d.one, &d.grayF, &d.keep, &d.kernel} {
		m.Close()
	}
}

// Reset forgets the background: the next frame starts settling again.
func (d *Detector) Reset() { d.ready = false }

// Detect looks at the next frame.
func (d *Detector) Detect(img gocv.Mat) Result {
	size := image.Pt(img.Cols(), img.Rows())
	if size.X == 0 || size.Y == 0 {
		return Result{Settling: true}
	}
	if size != d.size {
		d.resize(size)
	}
	gocv.Resize(img, &d.scaled, d.small, 0, 0, gocv.InterpolationArea)
	if d.scaled.Channels() == 3 {
		gocv.CvtColor(d.scaled, &d.gray, gocv.ColorBGRToGray)
	} else {
		d.scaled.CopyTo(&d.gray)
	}
	gocv.GaussianBlur(d.gray, &d.gray, image.Pt(5, 5), 0, 0, gocv.BorderDefault)
	if !d.ready {
		d.restart()
		return Result{Settling: true}
	}

	d.bg.ConvertTo(&d.bg8, gocv.MatTypeCV8U)
	gocv.AbsDiff(d.gray, d.bg8, &d.diff)
	gocv.Threshold(d.diff, &d.diff, float32(d.o.Threshold), 255, gocv.ThresholdBinary)
	gocv.BitwiseAnd(d.diff, d.keep, &d.diff)
	if d.open > 0 {
		if moved := float64(gocv.CountNonZero(d.diff)) / float64(d.open); moved >= d.o.GlobalChange {
			d.restart()
			return Result{Fraction: moved, Recalibrated: true, Settling: true}
		}
	}
	d.absorb()
	var res Result
	if d.open > 0 {
		res.Fraction = float64(gocv.CountNonZero(d.diff)) / float64(d.open)
	}
	gocv.AccumulatedWeighted(d.gray, &d.bg, d.o.Alpha)
	d.gray.CopyTo(&d.prev)
	if d.settle > 0 {
		d.settle--
		res.Settling = true
		return res
	}
	if res.Fraction == 0 {
		return res
	}
	res.Boxes = d.blobs()
	return res
}

// restart makes the current small frame the background and settles again.
func (d *Detector) restart() {
	d.gray.ConvertTo(&d.bg, gocv.MatTypeCV32F)
	d.gray.CopyTo(&d.prev)
	d.still.SetTo(gocv.NewScalar(0, 0, 0, 0))
	d.settle = d.o.Settle
	d.ready = true
}

// absorb counts, per pixel of d.diff (the motion), the frames it has been
// motion without changing from the previous frame; those that reach
// Absorb become background now and leave d.diff. A pixel that changes, or
// matches the background, starts counting again.
func (d *Detector) absorb() {
	gocv.AbsDiff(d.gray, d.prev, &d.change)
	gocv.Threshold(d.change, &d.change, float32(d.o.Threshold), 255, gocv.ThresholdBinary)
	gocv.BitwiseNot(d.change, &d.change)
	gocv.BitwiseAnd(d.change, d.diff, &d.change) // motion that did not change
	gocv.Add(d.still, d.one, &d.still)           // saturates at 255
	gocv.BitwiseAnd(d.still, d.change, &d.still)
	gocv.Threshold(d.still, &d.change, float32(d.o.Absorb)-0.5, 255, gocv.ThresholdBinary)
	if gocv.CountNonZero(d.change) == 0 {
		return
	}
	d.gray.ConvertTo(&d.grayF, gocv.MatTypeCV32F)
	d.grayF.CopyToWithMask(&d.bg, d.change)
	gocv.BitwiseNot(d.change, &d.change)
	gocv.BitwiseAnd(d.diff, d.change, &d.diff)
}

// blobs grows the motion pixels into blobs and returns the boxes of those
// large enough, in frame pixels.
func (d *Detector) blobs() []image.Rectangle {
	gocv.Dilate(d.diff, &d.diff, d.kernel)
	contours := gocv.FindContours(d.diff, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer contours.Close()
	minArea := d.o.MinArea * float64(d.small.X*d.small.Y)
	sx, sy := float64(d.size.X)/float64(d.small.X), float64(d.size.Y)/float64(d.small.Y)
	var out []image.Rectangle
	for i := range contours.Size() {
		c := contours.At(i)
		r := gocv.BoundingRect(c)
		if float64(r.Dx()*r.Dy()) < minArea || gocv.ContourArea(c) < minArea/2 {
			continue
		}
		out = append(out, image.Rect(int(math.Floor(float64(r.Min.X)*sx)), int(math.Floor(float64(r.Min.Y)*sy)),
			min(d.size.X, int(math.Ceil(float64(r.Max.X)*sx))), min(d.size.Y, int(math.Ceil(float64(r.Max.Y)*sy)))))
	}
	return out
}

// resize sets the state up for frames of another size: the small copy's
// size and the masks drawn at it.
func (d *Detector) resize(size image.Point) {
	d.size = size
	h := min(d.o.Height, size.Y)
	w := max(1, int(math.Round(float64(size.X)*float64(h)/float64(size.Y))))
	d.small = image.Pt(w, h)
	d.keep.Close()
	d.keep = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 0, 0, 0), h, w, gocv.MatTypeCV8U)
	if len(d.o.Masks) > 0 {
		var polys [][]image.Point
		for _, m := range d.o.Masks {
			sx, sy := float64(w), float64(h) // normalized → small copy
			if !m.Normalized {
				sx, sy = sx/float64(size.X), sy/float64(size.Y) // frame pixels → small copy
			}
			poly := make([]image.Point, len(m.Points))
			for i, p := range m.Points {
				poly[i] = image.Pt(int(math.Round(p[0]*sx)), int(math.Round(p[1]*sy)))
			}
			polys = append(polys, poly)
		}
		pv := gocv.NewPointsVectorFromPoints(polys)
		gocv.FillPoly(&d.keep, pv, color.RGBA{})
		pv.Close()
	}
	d.open = gocv.CountNonZero(d.keep)
	d.still.Close()
	d.still = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), h, w, gocv.MatTypeCV8U)
	d.one.Close()
	d.one = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(1, 0, 0, 0), h, w, gocv.MatTypeCV8U)
	d.ready = false
}
