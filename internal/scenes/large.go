package scenes

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"

	"gocv.io/x/gocv"
)

// Large is a scene of small objects in a large frame: a video's frames,
// scaled down by Scale, placed at At in a canvas of Size filled with the
// video's own background (scaled the same way, mirrored outwards), so that
// the people in vtest.avi, about a hundred pixels tall, are a few dozen
// tall in a 1920×1080 frame: what a wide camera sees far away. ToCanvas
// maps the original frame's coordinates into the canvas, so that what is
// detected on the original frames can be compared with what is detected on
// the canvas.
type Large struct {
	Size  image.Point
	Scale float64
	At    image.Point // the scaled frame's top-left in the canvas

	frame  image.Point // the original frame's size
	canvas gocv.Mat    // the background, the canvas of every frame
	scaled gocv.Mat    // scratch
}

// NewLarge makes the scene for the video at videoPath: a canvas of size,
// the frames scaled by scale (0 < scale ≤ 1) and placed where the seed
// puts them, the same place for the same seed. The caller closes it.
func NewLarge(videoPath string, size image.Point, scale float64, seed uint64) (*Large, error) {
	if !(scale > 0 && scale <= 1) {
		return nil, fmt.Errorf("large scene: scale %v; want 0 < scale ≤ 1", scale)
	}
	bg, err := Background(videoPath, 15)
	if err != nil {
		return nil, fmt.Errorf("large scene: %w", err)
	}
	defer bg.Close()
	l := &Large{Size: size, Scale: scale, frame: image.Pt(bg.Cols(), bg.Rows())}
	w, h := l.scaledSize()
	if w > size.X || h > size.Y {
		return nil, fmt.Errorf("large scene: %s scaled by %v is %dx%d, larger than the %dx%d canvas", videoPath, scale, w, h, size.X, size.Y)
	}
	l.At = place(seed, size, image.Pt(w, h))

	l.scaled = gocv.NewMat()
	gocv.Resize(bg, &l.scaled, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	l.canvas = gocv.NewMat()
	gocv.CopyMakeBorder(l.scaled, &l.canvas, l.At.Y, size.Y-h-l.At.Y, l.At.X, size.X-w-l.At.X, gocv.BorderReflect101, color.RGBA{})
	if l.canvas.Cols() != size.X || l.canvas.Rows() != size.Y {
		l.Close()
		return nil, fmt.Errorf("large scene: canvas is %dx%d, want %dx%d", l.canvas.Cols(), l.canvas.Rows(), size.X, size.Y)
	}
	return l, nil
}

// place is where the seed puts a frame of size in a canvas of canvas.
func place(seed uint64, canvas, size image.Point) image.Point {
	rng := rand.New(rand.NewPCG(seed, 0x1a29e))
	return image.Pt(rng.IntN(canvas.X-size.X+1), rng.IntN(canvas.Y-size.Y+1))
}

// scaledSize is the size of a scaled frame.
func (l *Large) scaledSize() (int, int) {
	return int(float64(l.frame.X)*l.Scale + 0.5), int(float64(l.frame.Y)*l.Scale + 0.5)
}

// Placed is where the scaled frame lies in the canvas.
func (l *Large) Placed() image.Rectangle {
	w, h := l.scaledSize()
	return image.Rect(l.At.X, l.At.Y, l.At.X+w, l.At.Y+h)
}

// ToCanvas maps a point of the original frame into the canvas.
func (l *Large) ToCanvas(x, y float32) (float32, float32) {
	w, h := l.scaledSize()
	sx, sy := float32(w)/float32(l.frame.X), float32(h)/float32(l.frame.Y)
	return x*sx + float32(l.At.X), y*sy + float32(l.At.Y)
}

// Render writes the canvas with frame, one of the video's frames, placed
// into dst.
func (l *Large) Render(frame gocv.Mat, dst *gocv.Mat) error {
	if frame.Cols() != l.frame.X || frame.Rows() != l.frame.Y || frame.Type() != l.canvas.Type() {
		return fmt.Errorf("large scene: frame is %dx%d %v, the video's %dx%d %v", frame.Cols(), frame.Rows(), frame.Type(), l.frame.X, l.frame.Y, l.canvas.Type())
	}
	l.canvas.CopyTo(dst)
	w, h := l.scaledSize()
	gocv.Resize(frame, &l.scaled, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	at := dst.Region(l.Placed())
	defer at.Close()
	l.scaled.CopyTo(&at) // at views dst's memory: the copy lands in the canvas
	return nil
}

// Write renders frames frames of the video at videoPath, from its frame
// from on (looping), into an MJPEG AVI at path, at fps.
func (l *Large) Write(path string, fps float64, videoPath string, from, frames int) error {
	vc, err := gocv.VideoCaptureFile(videoPath)
	if err != nil {
		return fmt.Errorf("large scene: open %s: %w", videoPath, err)
	}
	defer vc.Close()
	vc.Set(gocv.VideoCapturePosFrames, float64(from))
	vw, err := gocv.VideoWriterFile(path, "MJPG", fps, l.Size.X, l.Size.Y, true)
	if err != nil {
		return fmt.Errorf("large scene: write %s: %w", path, err)
	}
	defer vw.Close()
	img, out := gocv.NewMat(), gocv.NewMat()
	defer img.Close()
	defer out.Close()
	for i := range frames {
		if !vc.Read(&img) || img.Empty() {
			vc.Set(gocv.VideoCapturePosFrames, 0) // loop
			if !vc.Read(&img) || img.Empty() {
				return fmt.Errorf("large scene: cannot read %s", videoPath)
			}
		}
		if err := l.Render(img, &out); err != nil {
			return err
		}
		if err := vw.Write(out); err != nil {
			return fmt.Errorf("large scene: write %s frame %d: %w", path, i, err)
		}
	}
	return nil
}

// Close frees the canvas; safe to call more than once.
func (l *Large) Close() error {
	return errors.Join(l.canvas.Close(), l.scaled.Close())
}
