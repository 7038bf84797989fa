// Package motion finds what moves in a camera's frames, cheaply enough to
// run on every frame before deciding whether the detector needs to see it.
//
// In: a camera's frames, in order (any size; BGR). Each frame is shrunk to
// a small grayscale copy (Height rows, 120 by default), blurred, and
// compared with a running average of the earlier ones (the background):
// pixels that differ by more than Threshold are motion, except inside the
// camera's masks (polygons of things that always move: a clock, a fan, a
// conveyor nobody cares about). Motion pixels are grown into blobs, and
// blobs smaller than MinArea are dropped as noise.
//
// Out: per frame, the blobs' boxes in the frame's own pixels, the share of
// the unmasked picture that moved, and two states: Settling for the first
// Settle frames while the background forms (no boxes are trusted then),
// and Recalibrated when most of the picture changed at once (lights
// switched on, the camera's exposure jumped): the background restarts from
// that frame instead of reporting the whole picture as motion.
//
// The background learns at rate Alpha per frame, so slow changes (daylight,
// a slow exposure drift) never count as motion, and an object that stops
// fades into it after a few seconds: following objects that stop is the
// tracker's job, not this package's.
package motion
