// Package track follows objects across the frames of one camera with
// ByteTrack (Zhang et al., 2022): a constant-velocity Kalman filter per object
// and a two-stage association that lets low-score detections keep an existing
// track alive through partial occlusion without ever starting a new one.
//
// In: the detections of one processed frame ([]Detection, after NMS), one
// Update call per frame, in frame order.
// Out: the confirmed tracks matched in that frame ([]Track, sorted by ID),
// each carrying the box of the detection it matched, the Kalman filter's
// estimate of the object's box, a stable ID, and its hit count and age in
// frames. A track is reported only in frames where a detection matched it:
// a lost track's predicted box is never reported. Nor is a track whose
// detections the detector scores far below its usual for followed objects
// of that class (confidence.go).
//
// A Tracker is one ID space: use one per camera. It is not safe for
// concurrent use; it belongs to the pipeline stage that calls Update.
package track
