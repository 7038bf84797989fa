package track

import "math"

// Velocity is how a track's box changes per frame (per Update call), as its
// Kalman filter estimates it: the centre's motion in pixels, and the rates of
// the aspect ratio (width/height) and of the height.
type Velocity struct{ CX, CY, Aspect, H float64 }

// velocity is the filter's current rate estimate.
func (k *kalman) velocity() Velocity {
	return Velocity{CX: k.mean[4], CY: k.mean[5], Aspect: k.mean[6], H: k.mean[7]}
}

// times scales v by f, such as the frames at BaseFPS between two updates.
func (v Velocity) times(f float64) Velocity {
	return Velocity{CX: v.CX * f, CY: v.CY * f, Aspect: v.Aspect * f, H: v.H * f}
}

// minSide keeps a predicted box from collapsing or turning inside out when a
// shrinking track is carried far ahead.
const minSide = 1.0

// Predict moves the track's box frames ahead (a fraction of a frame or a
// negative count is fine) with the tracker's constant-velocity model: the
// centre moves at Velocity, the aspect ratio and the height change at their
// rates. It starts from Box, the matched detection, so a prediction of 0
// frames is Box itself. Callers bound frames: the model holds for short gaps
// between detections, not for seconds.
func (t Track) Predict(frames float64) Box {
	b := t.Box
	w, h := b.X2-b.X1, b.Y2-b.Y1
	if frames == 0 || !(h > 0) || !(w > 0) {
		return b
	}
	v := t.Velocity
	cx := (b.X1+b.X2)/2 + v.CX*frames
	cy := (b.Y1+b.Y2)/2 + v.CY*frames
	nh := math.Max(h+v.H*frames, minSide)
	nw := math.Max((w/h+v.Aspect*frames)*nh, minSide)
	return Box{X1: cx - nw/2, Y1: cy - nh/2, X2: cx + nw/2, Y2: cy + nh/2}
}
