package model

import (
	"math"
	"testing"
)

func TestAsymmetricFormula(t *testing.T) {
	// Δ = (r_max − r_min)/(2^N − 1), z = round(−r_min/Δ), worked by hand.
	cases := []struct {
		name       string
		rmin, rmax float64
		bits       int
		delta      float64
		z          int32
	}{
		{"straddles zero", -1, 3, 8, 4.0 / 255, 64},    // −r_min/Δ = 63.75
		{"positive only", 0.5, 2.55, 8, 2.55 / 255, 0}, // r_min widened to 0
		{"negative only", -5.1, -1, 8, 5.1 / 255, 255}, // r_max widened to 0
		{"sigmoid", 0, 1, 8, 1.0 / 255, 0},
		{"silu", -0.2785, 6.0, 8, 6.2785 / 255, 11}, // 0.2785/0.024622 = 11.31
		{"4 bits", -1, 2, 4, 3.0 / 15, 5},
		{"all zero", 0, 0, 8, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := Asymmetric(c.rmin, c.rmax, c.bits)
			if q.Scale != float32(c.delta) || q.ZeroPoint != c.z || q.QMin != 0 || q.QMax != 1<<c.bits-1 {
				t.Fatalf("got Δ=%v z=%d [%d,%d], want Δ=%v z=%d", q.Scale, q.ZeroPoint, q.QMin, q.QMax, float32(c.delta), c.z)
			}
			// 0 is exact; values the integers reach come back within Δ/2;
			// a range end moved by the rounding of z saturates, within Δ.
			if got := q.Dequantize(q.Quantize(0)); got != 0 {
				t.Errorf("0 comes back as %v", got)
			}
			lo, hi := min(c.rmin, 0), max(c.rmax, 0)
			reach := [2]float32{q.Dequantize(q.QMin), q.Dequantize(q.QMax)}
			for i := 0; i <= 100; i++ {
				r := float32(lo + (hi-lo)*float64(i)/100)
				limit := float64(q.Scale) / 2
				if r < reach[0] || r > reach[1] {
					limit = float64(q.Scale)
				}
				back := q.Dequantize(q.Quantize(r))
				if d := math.Abs(float64(back - r)); d > limit*1.0001 {
					t.Errorf("r=%v → q=%d → %v: error %v > %v", r, q.Quantize(r), back, d, limit)
				}
			}
		})
	}
}

func TestSymmetricRoundTrip(t *testing.T) {
	for _, bits := range []int{8, 7, 4, 2} {
		w := []float32{-0.9, -0.31, 0, 0.0001, 0.25, 0.5, 0.77}
		q := Symmetric(0.9, bits)
		qmax := int32(1)<<(bits-1) - 1
		if q.ZeroPoint != 0 || q.QMin != -qmax || q.QMax != qmax || q.Scale != float32(0.9/float64(qmax)) {
			t.Fatalf("bits %d: %+v", bits, q)
		}
		for _, v := range w {
			if d := math.Abs(float64(q.Dequantize(q.Quantize(v)) - v)); d > float64(q.Scale)/2*1.000001 {
				t.Errorf("bits %d: w=%v error %v > Δ/2=%v", bits, v, d, q.Scale/2)
			}
		}
	}
}

func TestFloat16(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{
		{0, 0x0000}, {1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800}, {65504, 0x7bff},
		{1e6, 0x7bff}, {float32(math.Inf(1)), 0x7bff}, {float32(math.Inf(-1)), 0xfbff}, // clamped
		{0.1, 0x2e66}, {5.960464e-8, 0x0001}, {6.1035156e-05, 0x0400}, {1e-9, 0},
		{2049, 0x6800}, {2051, 0x6802}, // ties to even
	}
	for _, c := range cases {
		if got := Float16Bits(c.f); got != c.h {
			t.Errorf("Float16Bits(%v) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if h := Float16Bits(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN → %#04x", h)
	}
	for _, f := range []float32{1, -3.25, 0.000123, 1234.5, 65504} {
		back := Float16Value(Float16Bits(f))
		if math.Abs(float64(back-f)) > math.Abs(float64(f))/1024 {
			t.Errorf("%v → %v", f, back)
		}
	}
}

func TestPercentileRange(t *testing.T) {
	s := &Stats{Min: float32(math.Inf(1)), Max: float32(math.Inf(-1))}
	v := make([]float32, 0, 100001)
	for i := 0; i < 100000; i++ {
		v = append(v, float32(i%1000)/100-2) // uniform over [−2, 7.99]
	}
	v = append(v, 1000) // one outlier
	s.update(v, true)
	lo, hi := s.Range(MethodMinMax, 0)
	if lo != -2 || hi != 1000 {
		t.Fatalf("minmax range [%v,%v], want [-2,1000]", lo, hi)
	}
	lo, hi = s.Range(MethodPercentile, 99.99)
	if hi > 8.5 || hi < 7.9 || lo > -1.9 || lo < -2 {
		t.Fatalf("percentile 99.99 range [%v,%v], want about [-2, 8] without the outlier", lo, hi)
	}
}
