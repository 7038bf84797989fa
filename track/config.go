package track

import (
	"errors"
	"fmt"
	"math"
)

// Config holds the tracker's thresholds. Scores and IoUs are in [0, 1].
// New does not fill zero fields with defaults: start from DefaultConfig and
// change what you need.
type Config struct {
	// HighThreshold: detections scoring at least this go to the first
	// association, against tracked and lost tracks.
	HighThreshold float64
	// LowThreshold: detections in [LowThreshold, HighThreshold) go to the
	// second association, against tracked tracks only; lower ones are dropped.
	LowThreshold float64
	// NewTrackThreshold: an unmatched high detection starts a track only if
	// it scores at least this, and only such a detection confirms a new
	// track or finds a lost one again; weaker high ones only extend a
	// track seen in the last frame. It must not be below HighThreshold.
	NewTrackThreshold float64
	// MatchThreshold is the minimum of IoU × score between a track's
	// predicted box and a high detection in the first association (tracks
	// in view, then lost ones): ByteTrack's score-weighted IoU.
	MatchThreshold float64
	// SecondMatchThreshold is the minimum IoU in the second association.
	SecondMatchThreshold float64
	// UnconfirmedMatchThreshold is the minimum of IoU × score between a
	// not yet confirmed track and a detection left over by the first
	// association.
	UnconfirmedMatchThreshold float64
	// BufferFrames is how long a lost track is kept, and can be found
	// again with the same ID, before it is removed: that many updates with
	// Update, that many frames at BaseFPS of time with UpdateAt (30: one
	// second).
	BufferFrames int
	// MinHits is how many consecutive matched frames make a new track
	// confirmed, reported and given an ID. A miss before that removes it.
	// A match after frames the tracker was told were skipped
	// (Tracker.AppendUpdateAtSkipped) counts for the frames it spans, so a
	// track seen on every third frame is confirmed on its second match, as
	// soon in the camera's frames as one seen on every frame.
	MinHits int
	// ClassAware: detections only match tracks of the same class.
	ClassAware bool
	// ReportSpread: a confirmed track whose detections score, on average
	// in log-odds, more than this many standard deviations below those of
	// the other followed objects of its class in this stream is followed
	// but not reported (confidence.go). 0 reports every confirmed track:
	// for a site where a person the detector is unsure of must still
	// raise an alert.
	ReportSpread float64
}

// DefaultConfig returns ByteTrack's published settings, with a track
// confirmed after three consecutive matches.
func DefaultConfig() Config {
	return Config{
		HighThreshold:             0.5,
		LowThreshold:              0.1,
		NewTrackThreshold:         0.6,
		MatchThreshold:            0.2,
		SecondMatchThreshold:      0.5,
		UnconfirmedMatchThreshold: 0.3,
		BufferFrames:              30,
		MinHits:                   3,
		ClassAware:                true,
		ReportSpread:              1.5,
	}
}

// ConfigError is one invalid Config field. Field is its path in the YAML
// configuration, such as "tracker.buffer_frames", so a caller that nests the
// tracker section elsewhere can re-prefix it.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Reason }

// Validate reports every invalid field, joined with errors.Join; each is a
// *ConfigError.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: "tracker." + field, Reason: fmt.Sprintf(format, args...)})
	}
	// Comparisons are written so that NaN fails them.
	unit := func(field string, x float64) bool {
		if !(x >= 0 && x <= 1) {
			bad(field, "must be in [0, 1], got %v", x)
			return false
		}
		return true
	}
	// A minimum IoU of 0 would pair boxes that do not overlap at all.
	iou := func(field string, x float64) {
		if !(x > 0 && x <= 1) {
			bad(field, "must be in (0, 1], got %v", x)
		}
	}
	highOK := unit("high_threshold", c.HighThreshold)
	if unit("low_threshold", c.LowThreshold) && highOK && c.LowThreshold > c.HighThreshold {
		bad("low_threshold", "must be <= tracker.high_threshold (%v), got %v", c.HighThreshold, c.LowThreshold)
	}
	if unit("new_track_threshold", c.NewTrackThreshold) && highOK && c.NewTrackThreshold < c.HighThreshold {
		bad("new_track_threshold", "must be >= tracker.high_threshold (%v), got %v: only high-score detections start tracks",
			c.HighThreshold, c.NewTrackThreshold)
	}
	iou("match_threshold", c.MatchThreshold)
	iou("second_match_threshold", c.SecondMatchThreshold)
	iou("unconfirmed_match_threshold", c.UnconfirmedMatchThreshold)
	if c.BufferFrames < 0 {
		bad("buffer_frames", "must be >= 0, got %d", c.BufferFrames)
	}
	if c.MinHits < 1 {
		bad("min_hits", "must be >= 1, got %d", c.MinHits)
	}
	if !(c.ReportSpread >= 0 && c.ReportSpread <= 10) {
		bad("report_spread", "must be in [0, 10] standard deviations (0: report every confirmed track), got %v", c.ReportSpread)
	}
	return errors.Join(errs...)
}

// BaseFPS is the frame rate BufferFrames and the motion model count frames
// at with UpdateAt: ByteTrack's 30 frames are one second.
const BaseFPS = 30

// BufferForFPS scales a lost-track buffer given in frames at BaseFPS to a
// stream of fps frames per second, so that a lost track is kept for the same
// time at any frame rate: 30 frames at 30 fps are 10 frames at 10 fps. It
// returns buffer unchanged when fps is not a positive number (unknown), and
// never less than 1 for a positive buffer. ByteTrack does the same with
// int(fps/30*track_buffer); this rounds to the nearest frame instead.
// UpdateAt, which counts time, needs no scaling.
func BufferForFPS(buffer int, fps float64) int {
	if !(fps > 0) || math.IsInf(fps, 0) || buffer <= 0 {
		return buffer
	}
	return max(1, int(math.Round(float64(buffer)*fps/BaseFPS)))
}
