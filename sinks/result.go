package sinks

import (
	"strconv"

	"github.com/vigil-vision/vigil/internal/jsonnum"
	"github.com/vigil-vision/vigil/pipeline"
)

// TracksFromResult is the NATS message of one processed frame: its
// confirmed tracks, boxes as top-left and size, and per-stage timings.
func TracksFromResult(r *pipeline.Result) *TracksMessage {
	f := r.Frame
	m := &TracksMessage{
		Camera: f.Camera, Seq: f.Seq, CapturedAt: f.Time,
		Width: f.Image.Cols(), Height: f.Image.Rows(),
		Objects:  make([]Object, 0, len(r.Tracks)),
		Detector: r.Detector, Model: r.Model,
		Detected: !r.Skipped, Gate: r.Gate,
		TimingsMS: map[string]float64{
			"queue":       jsonnum.MS(r.Timings.Queue),
			"preprocess":  jsonnum.MS(r.Timings.Preprocess),
			"infer":       jsonnum.MS(r.Timings.Infer),
			"postprocess": jsonnum.MS(r.Timings.Postprocess),
			"track":       jsonnum.MS(r.Timings.Track),
			"total":       jsonnum.MS(r.Timings.Total),
		},
	}
	if r.Motion != nil {
		v := jsonnum.Round(r.Motion.Fraction, 4)
		m.Motion = &v
	}
	for _, t := range r.Tracks {
		label := strconv.Itoa(t.Class)
		if t.Class >= 0 && t.Class < len(r.Labels) {
			label = r.Labels[t.Class]
		}
		m.Objects = append(m.Objects, Object{
			TrackID: t.ID, Class: t.Class, Label: label, Score: jsonnum.Round(t.Score, 4),
			Box: Box{X: jsonnum.Round(t.Box.X1, 1), Y: jsonnum.Round(t.Box.Y1, 1), W: jsonnum.Round(t.Box.X2-t.Box.X1, 1), H: jsonnum.Round(t.Box.Y2-t.Box.Y1, 1)},
		})
	}
	return m
}

// NATSSink publishes every processed frame's tracks; it never blocks (the
// publisher drops and counts when NATS cannot keep up).
type NATSSink struct{ Publisher *TracksPublisher }

// Consume implements pipeline.Sink.
func (s NATSSink) Consume(r *pipeline.Result) { s.Publisher.Publish(TracksFromResult(r)) }

// round keeps JSON short: sub-pixel and sub-microsecond digits are noise.
