// Package capture turns camera URLs into stamped frames.
//
// In: a camera's id and URL — a file path, rtsp://, http(s):// MJPEG,
// /dev/videoN or "testsrc". Out: Frames (camera id, sequence number, capture
// time, a BGR gocv.Mat) handed to a callback that takes ownership.
//
// Each Camera runs in its own goroutine and never touches another: when its
// source fails or ends unexpectedly it reports "down" with the error and
// reconnects with capped exponential backoff and jitter. Files can loop and
// be paced at their own frame rate (real time) or read as fast as the
// consumer takes them.
package capture
