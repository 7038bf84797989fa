// Package pipeline runs the stage graph: cameras → per-camera hand-off →
// detector (round-robin over cameras) → tracker → sinks.
//
// In: capture.Cameras, a Detector, a tracker config and Sinks. Out: one
// Result per processed frame, handed to every sink in sequence order per
// camera, and Prometheus metrics named vigil_*. Taps see every captured
// frame, processed or not, before the hand-off (the live view's video runs
// at the camera's rate).
//
// Every hand-off is bounded. Live sources hand off latest-wins: when the
// detector is slower than a camera, the older waiting frame is dropped and
// counted, so latency stays bounded. Lossless sources (files read without
// real-time pacing) block their camera instead, so none of their frames is
// dropped. A frame's Mat has one owner at a time and is closed exactly once.
//
// With a StagedDetector (*detect.Detector is one) the detector stage is
// three steps on three goroutines, so that the model never waits: the next
// frame is letterboxed while the model runs on the current one, and the
// last one is decoded (with NMS) on the tracker's goroutine. For live
// cameras the next frame is taken just before the model is due to finish,
// so it is the freshest one. Options.Serial runs the steps in turn.
//
// The graph changes while it runs, without touching what does not change:
// AddCamera and RemoveCamera start and stop one camera (removal releases
// its goroutine, frames, tracker and metric series before it returns);
// MoveCamera hands a camera to another group once its frames in flight are
// through, so its frames stay in order; AddGroup and RemoveGroup add and
// retire detectors; SwapDetector puts a loaded detector in place of a
// group's between two frames (the old one finishes the frames it took, the
// new one takes the next: lossless cameras lose none, and Result.Model says
// which model made each result); SetTracker changes the tracker's settings
// from the next frame, keeping the tracks.
package pipeline
