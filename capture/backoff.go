package capture

import (
	"math/rand/v2"
	"time"
)

// Backoff is capped exponential backoff with full jitter in [d/2, d]: the
// n-th consecutive failure waits about Min·2ⁿ, never more than Max.
type Backoff struct {
	Min, Max time.Duration
	Rand     func() float64 // in [0,1); nil means math/rand/v2
}

// Delay is the wait after the attempt-th consecutive failure (from 0).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Min
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	return d/2 + time.Duration(r()*float64(d/2))
}
