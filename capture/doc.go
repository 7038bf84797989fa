// Package capture turns camera URLs into stamped frames.
//
// In: a camera's id and URL — a file path, rtsp://, http(s):// MJPEG,
// /dev/videoN or "testsrc". Out: Frames (camera id, sequence number, the
// frame's time, the time it was read, a BGR gocv.Mat) handed to a callback
// that takes ownership. A frame's time is its media time for files and
// testsrc, so a file replays identically however fast it is read, and the
// wall clock for live sources (Frame.Time).
//
// Each Camera runs in its own goroutine and never touches another: when its
// source fails or ends unexpectedly it reports "down" with the error and
// reconnects, fast for the first seconds of an outage, then with capped
// exponential backoff and jitter (Backoff). A live camera silent for its IO
// timeout is reported "stalled" while its read still waits, and its
// connection is given up. An fps cap on a live camera keeps one frame per
// interval of all it reads, so that what is kept is fresh. Files can loop
// and be paced at their own frame rate (real time) or read as fast as the
// consumer takes them.
package capture
