package capture

import (
	"time"

	"gocv.io/x/gocv"
)

// Frame is one image from one camera. Its Image has exactly one owner at a
// time; whoever holds the Frame last calls Close.
type Frame struct {
	Camera string
	Seq    uint64 // from 1, per camera, never reset by reconnects
	// Time is when the scene looked like this: what rules, tracks and
	// events reason with. Files and testsrc run on their media clock, the
	// wall clock at their first frame plus the frame's presentation time,
	// so that a file replays the same whatever the speed it is processed
	// at; live sources use the wall clock when the frame was read. It
	// never goes back for a camera, across loops and reconnects.
	Time time.Time
	// Read is the wall clock, with Go's monotonic reading, when the frame
	// was read: what latency and pacing are measured from.
	Read  time.Time
	Image gocv.Mat
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
