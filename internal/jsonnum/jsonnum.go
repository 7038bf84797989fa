// Package jsonnum rounds numbers before they go into JSON messages: the
// digits past a tenth of a pixel or a microsecond are noise that every
// consumer would otherwise parse.
package jsonnum

import "time"

// Round rounds v to digits decimals, halves away from zero.
func Round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}

// MS is d in milliseconds, to the microsecond.
func MS(d time.Duration) float64 { return Round(float64(d)/1e6, 3) }
