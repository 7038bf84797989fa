package capture

import (
	"time"

	"gocv.io/x/gocv"
)

// Frame is one image from one camera. Its Image has exactly one owner at a
// time; whoever holds the Frame last calls Close.
type Frame struct {
	Camera string
	Seq    uint64    // from 1, per camera, never reset by reconnects
	Time   time.Time // capture time: wall clock with Go's monotonic reading
	Image  gocv.Mat
	// Lossless frames come from sources paced by their consumer (files with
	// real-time pacing off): the pipeline must not drop them.
	Lossless bool
}

// Close releases the image. Safe to call more than once.
func (f *Frame) Close() {
	if f == nil {
		return
	}
	if f.Image.Ptr() != nil {
		f.Image.Close()
	}
	f.Image = gocv.Mat{}
}
