package track

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestKalmanConvergesToTrueVelocity(t *testing.T) {
	tests := []struct {
		name       string
		vx, vy, vh float64 // true rates in px per frame
		noise      float64 // uniform measurement noise, ± px
		tol        float64 // allowed velocity error after the run, px per frame
	}{
		{name: "still", tol: 0.01},
		{name: "right", vx: 4, tol: 0.01},
		{name: "diagonal", vx: -3, vy: 2.5, tol: 0.01},
		{name: "approaching camera", vx: 1, vy: 0.5, vh: 0.8, tol: 0.02},
		{name: "noisy", vx: 6, vy: -2, noise: 2, tol: 0.3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			jitter := func() float64 { return (rng.Float64()*2 - 1) * tc.noise }
			boxAt := func(k int) Box {
				cx, cy := 300+tc.vx*float64(k), 200+tc.vy*float64(k)
				h := 100 + tc.vh*float64(k)
				w := 0.5 * h
				return Box{cx - w/2 + jitter(), cy - h/2 + jitter(), cx + w/2 + jitter(), cy + h/2 + jitter()}
			}
			var kf kalman
			kf.initiate(measurement(boxAt(0)))
			for k := 1; k <= 100; k++ {
				kf.predict()
				if !kf.update(measurement(boxAt(k))) {
					t.Fatalf("frame %d: update rejected a valid box", k)
				}
			}
			got := [3]float64{kf.mean[4], kf.mean[5], kf.mean[7]}
			want := [3]float64{tc.vx, tc.vy, tc.vh}
			for i, name := range []string{"vcx", "vcy", "vh"} {
				if math.Abs(got[i]-want[i]) > tc.tol {
					t.Errorf("%s = %.4f, want %.4f ± %v", name, got[i], want[i], tc.tol)
				}
			}
		})
	}
}

func TestKalmanCovarianceStaysSymmetricAndPositive(t *testing.T) {
	var kf kalman
	kf.initiate(measurement(Box{0, 0, 40, 80}))
	for k := 1; k <= 500; k++ {
		kf.predict()
		if k%7 != 0 { // some frames unseen, as in occlusion
			x := float64(k) * 2
			kf.update(measurement(Box{x, 0, x + 40, 80}))
		}
	}
	for i := 0; i < 8; i++ {
		if !(kf.cov[i][i] > 0) {
			t.Errorf("cov[%d][%d] = %v, want > 0", i, i, kf.cov[i][i])
		}
		for j := 0; j < 8; j++ {
			if d := math.Abs(kf.cov[i][j] - kf.cov[j][i]); d > 1e-9 {
				t.Errorf("cov[%d][%d] and cov[%d][%d] differ by %v", i, j, j, i, d)
			}
		}
	}
}

func TestKalmanPredictWidensAndUpdateNarrows(t *testing.T) {
	var kf kalman
	kf.initiate(measurement(Box{100, 100, 150, 200}))
	before := kf.cov[0][0]
	kf.predict()
	predicted := kf.cov[0][0]
	kf.update(measurement(Box{101, 100, 151, 200}))
	updated := kf.cov[0][0]
	if !(predicted > before) {
		t.Errorf("x variance after predict %v, want above %v", predicted, before)
	}
	if !(updated < predicted) {
		t.Errorf("x variance after update %v, want below %v", updated, predicted)
	}
}
