// Package rtsptest runs a real RTSP server (gortsplib) on 127.0.0.1 for tests.
//
// In: publishers that ANNOUNCE/RECORD on a path — usually ffmpeg started by
// Publish from a file or lavfi testsrc. Out: the same stream served to any
// number of readers (DESCRIBE/SETUP/PLAY) over TCP or UDP, 404 on a path
// nobody publishes. When a publisher goes away its readers are torn down and
// the path is free for the next publisher.
//
// ReserveAddr and StartAt model a camera that is unreachable at first and
// comes up later.
package rtsptest

// T is what the package needs of a test: testing.TB has it, and a
// benchmark program can supply its own.
type T interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Failed() bool
	Logf(format string, args ...any)
}
