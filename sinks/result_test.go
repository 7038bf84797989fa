package sinks

import (
	"testing"
	"time"

	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/track"
	"gocv.io/x/gocv"
)

// TestTracksFromResultSaysWhetherDetected: a frame motion gating held from
// the detector is published with detected false and its gate, a detected
// one with detected true and the share of the picture that moved.
func TestTracksFromResultSaysWhetherDetected(t *testing.T) {
	img := gocv.NewMatWithSize(4, 6, gocv.MatTypeCV8UC3)
	defer img.Close()
	f := &capture.Frame{Camera: "c", Seq: 3, Time: time.Unix(10, 0), Image: img}
	tracks := []track.Track{{ID: 1, Class: 0, Score: 0.9, Box: track.Box{X1: 1, Y1: 1, X2: 3, Y2: 4}}}
	for _, tc := range []struct {
		r        pipeline.Result
		detected bool
		gate     string
		motion   *float64
	}{
		{pipeline.Result{Frame: f, Tracks: tracks, Labels: []string{"person"}, Skipped: true, Gate: pipeline.GateStill,
			Motion: &pipeline.MotionInfo{}}, false, "still", ptr(0.0)},
		{pipeline.Result{Frame: f, Tracks: tracks, Labels: []string{"person"}, Gate: pipeline.GateMotion,
			Motion: &pipeline.MotionInfo{Fraction: 0.123456}}, true, "motion", ptr(0.1235)},
		{pipeline.Result{Frame: f, Tracks: tracks, Labels: []string{"person"}, Gate: pipeline.GateOff}, true, "off", nil},
	} {
		m := TracksFromResult(&tc.r)
		if m.Detected != tc.detected || m.Gate != tc.gate || len(m.Objects) != 1 || m.Objects[0].Label != "person" {
			t.Errorf("%+v: detected %v gate %q objects %+v", tc.r.Gate, m.Detected, m.Gate, m.Objects)
		}
		if (m.Motion == nil) != (tc.motion == nil) || (m.Motion != nil && *m.Motion != *tc.motion) {
			t.Errorf("%s: motion %v, want %v", tc.gate, m.Motion, tc.motion)
		}
	}
}
