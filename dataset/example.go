package dataset

import (
	"context"
	"fmt"
	"iter"
	"regexp"
	"time"

	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// Example is one image worth training on, with its boxes.
type Example struct {
	ID     string // unique in a dataset; it names the files: letters, digits, '.', '_', '-'
	Camera string
	Time   time.Time
	JPEG   []byte
	Width  int
	Height int
	Boxes  []Box
	Reason string // why it was kept: "pre-labelled by yolov8n.onnx", a hard-example rule
}

// Box is one object in pixels of its example, (X, Y) its top-left corner.
// Score is the detector's confidence; 1 for a box a person drew.
type Box struct {
	Class      int
	Label      string
	Score      float64
	X, Y, W, H float64
}

// Filter narrows what a Source yields: zero fields filter nothing.
type Filter struct {
	Camera string    // only this camera's examples
	Since  time.Time // only examples seen at or after this time
}

func (f Filter) keep(camera string, t time.Time) bool {
	return (f.Camera == "" || f.Camera == camera) && (f.Since.IsZero() || !t.Before(f.Since))
}

// Source yields examples. An error ends the sequence.
type Source interface {
	Examples(ctx context.Context, f Filter) iter.Seq2[Example, error]
}

// Slice yields examples held in memory, as a Source's sequence does.
func Slice(examples []Example) iter.Seq2[Example, error] {
	return func(yield func(Example, error) bool) {
		for _, e := range examples {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// Detector is what pre-labelling and Eval need of a *detect.Detector.
type Detector interface {
	Detect(img gocv.Mat, dst []detect.Detection) ([]detect.Detection, detect.Timings, error)
	Labels() []string
}

var validID = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// checkID refuses IDs that would not make one plain file name.
func checkID(id string) error {
	if !validID.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("example ID %q: use letters, digits, '.', '_' and '-' only (it names the files)", id)
	}
	return nil
}

// boxes converts detections to Boxes in the same pixels.
func boxes(dets []detect.Detection) []Box {
	out := make([]Box, 0, len(dets))
	for _, d := range dets {
		out = append(out, Box{Class: d.Class, Label: d.Label, Score: float64(d.Score),
			X: float64(d.Box.X1), Y: float64(d.Box.Y1), W: float64(d.Box.W()), H: float64(d.Box.H())})
	}
	return out
}
