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
package pipeline
