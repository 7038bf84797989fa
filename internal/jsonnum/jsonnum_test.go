package jsonnum

import (
	"testing"
	"time"
)

func TestRound(t *testing.T) {
	cases := []struct {
		v      float64
		digits int
		want   float64
	}{
		{1.23456, 1, 1.2}, {1.25, 1, 1.3}, {-1.25, 1, -1.3}, {0.99995, 4, 1}, {12.5, 0, 13}, {-0.04, 1, -0},
	}
	for _, c := range cases {
		if got := Round(c.v, c.digits); got != c.want {
			t.Errorf("Round(%v, %d) = %v, want %v", c.v, c.digits, got, c.want)
		}
	}
	if got := MS(1234567 * time.Nanosecond); got != 1.235 {
		t.Errorf("MS = %v", got)
	}
}
