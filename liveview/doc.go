// Package liveview shows operators what vigil sees: each camera's video,
// annotated with its tracked objects, in a browser over WebRTC (WHEP), with
// MJPEG and JPEG snapshots as fallbacks.
//
// In: every captured frame through the pipeline's Tap (Server.Frame), and
// every processed frame's tracks through its Sink (Server.Consume). Out: the
// HTTP routes of Register: the page, /api/live, WHEP sessions, MJPEG streams
// and snapshots; and metrics named vigil_liveview_*.
//
// Nothing runs while nobody watches: the tap clones a frame only while a
// viewer, an MJPEG client or a snapshot request waits for one, and each
// camera's encoder runs only while it has a WebRTC viewer. Every hand-off is
// latest-wins: the tap never waits for drawing, drawing never waits for the
// encoder, and the encoder never waits for a viewer; each viewer has its own
// small queue that drops (and counts) when the viewer falls behind, and then
// waits for a keyframe, so a slow viewer never slows the pipeline or the
// others.
//
// Cameras come and go while it runs: AddCamera starts a camera's tile,
// RemoveCamera ends its viewers and goroutines and deletes its metric
// series, and the page adds and drops tiles as /api/live lists them. The
// tap and the sink look a camera up per frame under a read lock only.
//
// Frames are drawn on a copy, never on the detector's input. Between
// detections the latest tracks are moved to each frame's read time with
// the tracker's constant-velocity model (track.Track.Predict), so boxes stay
// on moving objects at the camera's frame rate.
package liveview
