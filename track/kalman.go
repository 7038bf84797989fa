package track

import "math"

// Noise weights of ByteTrack and DeepSORT: position noise is 1/20 of the box
// height and velocity noise 1/160, so the filter trusts motion equally for a
// near object 400 px tall and a far one 40 px tall.
const (
	stdWeightPosition = 1.0 / 20
	stdWeightVelocity = 1.0 / 160
)

// velocityNoise scales the velocity part of ByteTrack's process noise,
// (1/160 of the height)² per frame at BaseFPS. Fed by frame time, a filter
// at 14 or 10 frames per second gets dt = 2.1 or 3 frames' worth of it per
// update where ByteTrack, counting updates, gets one; at the full value
// that cost IDF1 on package mot's lower-rate synthetic sequences (64.4 →
// 62.7 over Benchmark), at half of it none (64.7), while real footage at 10
// fps (MOT15 KITTI-13) gains either way (mot/README.md).
const velocityNoise = 0.5

// Measurement noise of a settled track, one matched in at least settleHits
// frames: 1.75 times ByteTrack's. Detector errors persist over frames, and a
// half-hidden object is boxed by its visible part; a filter that trusts each
// box as much as ByteTrack's does takes those errors for motion, and its
// prediction drifts while the object is hidden. A young track keeps
// ByteTrack's weight so that it learns its velocity in a few frames. Measured
// with package mot on 24 synthetic sequences not used to choose it: IDF1 up
// in 21, MOTA in 20, overall IDF1 +3.2 and HOTA +1.8 points (mot/README.md).
const (
	stdWeightSettled = 1.75 / 20
	settleHits       = 5
)

// kalman is a constant-velocity Kalman filter on the state
// (cx, cy, a, h, vcx, vcy, va, vh): box centre, aspect ratio w/h, height and
// their rates per frame. The measurement is (cx, cy, a, h). Fixed-size arrays
// keep the per-frame work free of allocations.
type kalman struct {
	mean [8]float64
	cov  [8][8]float64
}

// measurement converts a box into the filter's measurement space.
func measurement(b Box) [4]float64 {
	h := b.Y2 - b.Y1
	return [4]float64{(b.X1 + b.X2) / 2, (b.Y1 + b.Y2) / 2, (b.X2 - b.X1) / h, h}
}

// box is the filter's current estimate as corners.
func (k *kalman) box() Box {
	cx, cy, h := k.mean[0], k.mean[1], k.mean[3]
	w := k.mean[2] * h
	return Box{X1: cx - w/2, Y1: cy - h/2, X2: cx + w/2, Y2: cy + h/2}
}

// initiate starts the filter at z with zero velocity and a wide velocity
// uncertainty, so the first few updates set the velocity.
func (k *kalman) initiate(z [4]float64) {
	h := z[3]
	p, v := 2*stdWeightPosition*h, 10*stdWeightVelocity*h
	std := [8]float64{p, p, 1e-2, p, v, v, 1e-5, v}
	k.mean = [8]float64{z[0], z[1], z[2], z[3]}
	k.cov = [8][8]float64{}
	for i, s := range std {
		k.cov[i][i] = s * s
	}
}

// predict advances the state by one frame: x ← Fx, P ← FPFᵀ + Q.
func (k *kalman) predict() { k.predictAhead(1) }

// predictAhead advances the state by dt frames at BaseFPS (dt ≥ 0, a
// fraction is fine): the position moves dt times the velocity, and the
// process noise is that of dt frames of a random walk, dt times one
// frame's variance, so a filter fed at 10 frames per second with dt = 3
// moves and widens as one fed at 30 with dt = 1 does over the same time.
// The velocity's share is velocityNoise of ByteTrack's.
func (k *kalman) predictAhead(dt float64) {
	h := k.mean[3]
	p, v := stdWeightPosition*h, stdWeightVelocity*h
	variance := [8]float64{p * p, p * p, 1e-4, p * p, 0, 0, 1e-10, 0}
	variance[4] = velocityNoise * v * v
	variance[5], variance[7] = variance[4], variance[4]
	for i := 0; i < 4; i++ {
		k.mean[i] += dt * k.mean[i+4]
	}
	// F is the identity plus dt at (i, i+4); applying it as row then column
	// additions avoids two full 8×8 products.
	for i := 0; i < 4; i++ {
		for j := 0; j < 8; j++ {
			k.cov[i][j] += dt * k.cov[i+4][j]
		}
	}
	for i := 0; i < 8; i++ {
		for j := 0; j < 4; j++ {
			k.cov[i][j] += dt * k.cov[i][j+4]
		}
	}
	for i, q := range variance {
		k.cov[i][i] += dt * q
	}
}

// update corrects the state with the measurement z, whose position noise is
// ByteTrack's 1/20 of the height. It reports false, and leaves the filter
// unchanged, if the innovation covariance is not positive definite, which
// only happens for degenerate boxes.
func (k *kalman) update(z [4]float64) bool {
	return k.updateWeighted(z, stdWeightPosition)
}

// updateWeighted is update with a position noise of weight times the height.
func (k *kalman) updateWeighted(z [4]float64, weight float64) bool {
	h := k.mean[3]
	p := weight * h
	noise := [4]float64{p, p, 1e-1, p}

	// S = HPHᵀ + R: H picks the first four state components.
	var s [4][4]float64
	for i := 0; i < 4; i++ {
		for j := 0; j < 4; j++ {
			s[i][j] = k.cov[i][j]
		}
		s[i][i] += noise[i] * noise[i]
	}
	l, ok := cholesky4(s)
	if !ok {
		return false
	}

	// K = PHᵀS⁻¹; S is symmetric, so each row of K solves S kᵢ = (PHᵀ)ᵢ.
	var gain [8][4]float64
	for i := 0; i < 8; i++ {
		gain[i] = cholSolve4(&l, [4]float64{k.cov[i][0], k.cov[i][1], k.cov[i][2], k.cov[i][3]})
	}

	var innov [4]float64
	for j := 0; j < 4; j++ {
		innov[j] = z[j] - k.mean[j]
	}
	for i := 0; i < 8; i++ {
		for j := 0; j < 4; j++ {
			k.mean[i] += gain[i][j] * innov[j]
		}
	}

	// P ← P − KSKᵀ, and KSKᵀ = K(HP) where HP is the first four rows of P.
	var hp [4][8]float64
	copy(hp[:], k.cov[:4])
	for i := 0; i < 8; i++ {
		for j := 0; j < 8; j++ {
			var acc float64
			for m := 0; m < 4; m++ {
				acc += gain[i][m] * hp[m][j]
			}
			k.cov[i][j] -= acc
		}
	}
	// Rounding drifts P away from symmetric over hundreds of frames.
	for i := 0; i < 8; i++ {
		for j := i + 1; j < 8; j++ {
			avg := (k.cov[i][j] + k.cov[j][i]) / 2
			k.cov[i][j], k.cov[j][i] = avg, avg
		}
	}
	return true
}

// cholesky4 returns the lower-triangular L with LLᵀ = s, or false if s is not
// positive definite.
func cholesky4(s [4][4]float64) ([4][4]float64, bool) {
	var l [4][4]float64
	for j := 0; j < 4; j++ {
		d := s[j][j]
		for m := 0; m < j; m++ {
			d -= l[j][m] * l[j][m]
		}
		if !(d > 0) {
			return l, false
		}
		l[j][j] = math.Sqrt(d)
		for i := j + 1; i < 4; i++ {
			x := s[i][j]
			for m := 0; m < j; m++ {
				x -= l[i][m] * l[j][m]
			}
			l[i][j] = x / l[j][j]
		}
	}
	return l, true
}

// cholSolve4 solves LLᵀx = b by forward then back substitution.
func cholSolve4(l *[4][4]float64, b [4]float64) [4]float64 {
	var y, x [4]float64
	for i := 0; i < 4; i++ {
		acc := b[i]
		for m := 0; m < i; m++ {
			acc -= l[i][m] * y[m]
		}
		y[i] = acc / l[i][i]
	}
	for i := 3; i >= 0; i-- {
		acc := y[i]
		for m := i + 1; m < 4; m++ {
			acc -= l[m][i] * x[m]
		}
		x[i] = acc / l[i][i]
	}
	return x
}
