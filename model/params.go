package model

import (
	"fmt"
	"math"
)

// QParams map real values r to integers q: r ≈ (q − ZeroPoint)·Scale, with
// q in [QMin, QMax].
type QParams struct {
	Scale      float32
	ZeroPoint  int32
	QMin, QMax int32
}

// Quantize maps r to its integer, as onnxruntime's QuantizeLinear does:
// round half to even, then saturate.
func (p QParams) Quantize(r float32) int32 {
	q := math.RoundToEven(float64(r)/float64(p.Scale)) + float64(p.ZeroPoint)
	return int32(min(max(q, float64(p.QMin)), float64(p.QMax)))
}

// Dequantize maps q back to a real value.
func (p QParams) Dequantize(q int32) float32 {
	return float32(q-p.ZeroPoint) * p.Scale
}

// Asymmetric is the min/max formula for unsigned N-bit values:
//
//	Δ = (r_max − r_min) / (2^N − 1),  z = round(−r_min / Δ),  q = round(r/Δ) + z
//
// so that q = round((r − r_min)/Δ) with r_min moved by at most Δ/2 to make
// 0 exact (zero padding must stay exactly zero). The range is first widened
// to hold 0: r_min = min(r_min, 0), r_max = max(r_max, 0). A range of width
// 0 (a tensor that is always 0) gets Δ = 1.
func Asymmetric(rmin, rmax float64, bits int) QParams {
	return asymmetric(rmin, rmax, 0, int32(1)<<bits-1)
}

// AsymmetricSigned is the same formula on the signed range
// [−2^(N−1), 2^(N−1) − 1]: z = −2^(N−1) + round(−r_min/Δ).
func AsymmetricSigned(rmin, rmax float64, bits int) QParams {
	return asymmetric(rmin, rmax, -(int32(1) << (bits - 1)), int32(1)<<(bits-1)-1)
}

func asymmetric(rmin, rmax float64, qmin, qmax int32) QParams {
	rmin, rmax = min(rmin, 0), max(rmax, 0)
	delta := (rmax - rmin) / float64(qmax-qmin)
	if delta == 0 || math.IsNaN(delta) || math.IsInf(delta, 0) {
		delta = 1
	}
	scale := float32(delta)
	z := float64(qmin) + math.Round(-rmin/float64(scale))
	return QParams{Scale: scale, ZeroPoint: int32(min(max(z, float64(qmin)), float64(qmax))), QMin: qmin, QMax: qmax}
}

// Symmetric is the scheme for weights: zero point 0 and the restricted
// signed range [−(2^(N−1) − 1), 2^(N−1) − 1], Δ = max|r| / (2^(N−1) − 1).
// onnxruntime's integer convolutions on x86 and ARM are built for it.
func Symmetric(absMax float64, bits int) QParams {
	qmax := int32(1)<<(bits-1) - 1
	delta := absMax / float64(qmax)
	if delta == 0 || math.IsNaN(delta) || math.IsInf(delta, 0) {
		delta = 1
	}
	return QParams{Scale: float32(delta), ZeroPoint: 0, QMin: -qmax, QMax: qmax}
}

// Supported bit widths. Weights are stored as int8 whatever N is: N < 8
// uses fewer levels of the same int8 kernels (it shrinks accuracy, not the
// file), since onnxruntime's int4 types serve only weight-only MatMul, which
// a convolutional detector does not have. Activations are uint8: the
// runtime saturates QuantizeLinear to the storage type, so fewer than 8 bits
// could not be enforced at run time.
const (
	MinWeightBits     = 2
	MaxWeightBits     = 8
	ActivationBits    = 8
	bitsSupportedNote = "onnxruntime runs 8-bit QDQ convolutions (uint8 activations, int8 weights); weights may use 2–8 bits stored in int8, activations exactly 8"
)

func checkBits(weight, act int) error {
	if weight < MinWeightBits || weight > MaxWeightBits {
		return fmt.Errorf("weight bits %d not supported; %s", weight, bitsSupportedNote)
	}
	if act != ActivationBits {
		return fmt.Errorf("activation bits %d not supported; %s", act, bitsSupportedNote)
	}
	return nil
}
