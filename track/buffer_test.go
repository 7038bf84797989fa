package track

import (
	"math"
	"testing"
)

func TestBufferForFPS(t *testing.T) {
	tests := []struct {
		buffer int
		fps    float64
		want   int
	}{
		{30, 30, 30},
		{30, 10, 10},
		{30, 14, 14},
		{30, 25, 25},
		{30, 60, 60},
		{30, 29.97, 30},
		{60, 15, 30},
		{30, 0.5, 1}, // never below one frame
		{30, 0, 30},  // unknown frame rate: as configured
		{30, -5, 30},
		{30, math.NaN(), 30},
		{30, math.Inf(1), 30},
		{0, 10, 0},
	}
	for _, tc := range tests {
		if got := BufferForFPS(tc.buffer, tc.fps); got != tc.want {
			t.Errorf("BufferForFPS(%d, %v) = %d, want %d", tc.buffer, tc.fps, got, tc.want)
		}
	}
}
