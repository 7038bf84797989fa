package sinks

import (
	"strconv"
	"time"

	"github.com/vigil-vision/vigil/pipeline"
)

// TracksFromResult is the NATS message of one processed frame: its
// confirmed tracks, boxes as top-left and size, and per-stage timings.
func TracksFromResult(r *pipeline.Result) *TracksMessage {
	f := r.Frame
	m := &TracksMessage{
		Camera: f.Camera, Seq: f.Seq, CapturedAt: f.Time,
		Width: f.Image.Cols(), Height: f.Image.Rows(),
		Objects: make([]Object, 0, len(r.Tracks)),
		TimingsMS: map[string]float64{
			"queue":       ms(r.Timings.Queue),
			"preprocess":  ms(r.Timings.Preprocess),
			"infer":       ms(r.Timings.Infer),
			"postprocess": ms(r.Timings.Postprocess),
			"track":       ms(r.Timings.Track),
			"total":       ms(r.Timings.Total),
		},
	}
	for _, t := range r.Tracks {
		label := strconv.Itoa(t.Class)
		if t.Class >= 0 && t.Class < len(r.Labels) {
			label = r.Labels[t.Class]
		}
		m.Objects = append(m.Objects, Object{
			TrackID: t.ID, Class: t.Class, Label: label, Score: round(t.Score, 4),
			Box: Box{X: round(t.Box.X1, 1), Y: round(t.Box.Y1, 1), W: round(t.Box.X2-t.Box.X1, 1), H: round(t.Box.Y2-t.Box.Y1, 1)},
		})
	}
	return m
}

// NATSSink publishes every processed frame's tracks; it never blocks (the
// publisher drops and counts when NATS cannot keep up).
type NATSSink struct{ Publisher *TracksPublisher }

// Consume implements pipeline.Sink.
func (s NATSSink) Consume(r *pipeline.Result) { s.Publisher.Publish(TracksFromResult(r)) }

func ms(d time.Duration) float64 { return round(float64(d)/1e6, 3) }

// round keeps JSON short: sub-pixel and sub-microsecond digits are noise.
func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}
