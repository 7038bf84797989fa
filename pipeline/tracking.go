package pipeline

import (
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/track"
)

// Tracking turns each camera's detections into tracks, one tracker (one ID
// space) per camera. The pipeline's tracking stage and `vigil track` both go
// through it, so a tracker tuned offline behaves the same live.
type Tracking struct {
	cfg      track.Config
	trackers map[string]*track.Tracker
	buf      []track.Detection
}

// NewTracking makes per-camera trackers with cfg, which must be valid.
func NewTracking(cfg track.Config) *Tracking {
	return &Tracking{cfg: cfg, trackers: map[string]*track.Tracker{}}
}

// Update runs camera's tracker on one frame's detections and returns the
// confirmed tracks matched in that frame.
func (t *Tracking) Update(camera string, dets []detect.Detection) []track.Track {
	tr := t.trackers[camera]
	if tr == nil {
		tr = track.New(t.cfg)
		t.trackers[camera] = tr
	}
	t.buf = t.buf[:0]
	for _, d := range dets {
		t.buf = append(t.buf, track.Detection{
			Box:   track.Box{X1: float64(d.Box.X1), Y1: float64(d.Box.Y1), X2: float64(d.Box.X2), Y2: float64(d.Box.Y2)},
			Score: float64(d.Score), Class: d.Class,
		})
	}
	return tr.Update(t.buf)
}

// Forget drops a camera's tracker: its next frame starts a new ID space.
func (t *Tracking) Forget(camera string) { delete(t.trackers, camera) }

// SetConfig changes the settings of every camera's tracker, from its next
// frame on; tracks and their ids are kept. cfg must be valid.
func (t *Tracking) SetConfig(cfg track.Config) {
	t.cfg = cfg
	for _, tr := range t.trackers {
		tr.SetConfig(cfg)
	}
}
