// Package pipeline runs the stage graph: cameras → per-camera hand-off →
// detector (round-robin over cameras) → tracker → sinks.
//
// In: capture.Cameras, a Detector, a tracker config and Sinks. Out: one
// Result per processed frame, handed to every sink in sequence order per
// camera, and Prometheus metrics named vigil_*.
//
// Every hand-off is bounded. Live sources hand off latest-wins: when the
// detector is slower than a camera, the older waiting frame is dropped and
// counted, so latency stays bounded. Lossless sources (files read without
// real-time pacing) block their camera instead, so none of their frames is
// dropped. A frame's Mat has one owner at a time and is closed exactly once.
package pipeline
