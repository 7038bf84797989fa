package pipeline

import (
	"time"

	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/track"
)

// Tracking turns each camera's detections into tracks, one tracker (one ID
// space) per camera. The pipeline's tracking stage and `vigil track` both go
// through it, so a tracker tuned offline behaves the same live.
//
// UpdateAt runs the trackers on frame time (track.Tracker.UpdateAt): a
// camera's frames reach tracking at whatever rate detection keeps up with
// (latest wins), so the lost-track buffer and the motion model should count
// the time between the frames, not the frames. Update counts frames.
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
// confirmed tracks matched in that frame; each call counts as one frame at
// track.BaseFPS.
func (t *Tracking) Update(camera string, dets []detect.Detection) []track.Track {
	return t.prepare(camera, dets).Update(t.buf)
}

// UpdateAt is Update for a frame of time at, capture.Frame.Time: tracks are
// predicted by the time since the camera's previous frame, and a lost track
// is kept for buffer_frames frames at track.BaseFPS of time.
func (t *Tracking) UpdateAt(camera string, dets []detect.Detection, at time.Time) []track.Track {
	return t.prepare(camera, dets).UpdateAt(t.buf, at)
}

// prepare converts dets into t.buf and returns camera's tracker, made on
// its first frame.
func (t *Tracking) prepare(camera string, dets []detect.Detection) *track.Tracker {
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
	return tr
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
