// Package annotate draws what vigil sees onto frames: boxes coloured per
// class with a label bar, polygons and lines, and text on a dark plate.
//
// In: a BGR gocv.Mat that the caller owns and may draw on (a copy, never the
// detector's input). Out: the same Mat, drawn on. Colours are stable per
// class id, so one class looks the same in `vigil detect` output, snapshots
// and the live view.
package annotate
