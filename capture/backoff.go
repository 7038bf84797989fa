package capture

import (
	"math/rand/v2"
	"time"
)

// DefaultFast is how long a camera keeps retrying at its shortest pause
// once an outage begins, when Backoff.Fast is zero.
const DefaultFast = 10 * time.Second

// Backoff paces reconnects. A camera that reboots, or a link that blips,
// is usually back within seconds: for the first Fast of an outage every
// retry waits about Min/2 (a refused dial or a 404 costs next to nothing).
// After that the pauses grow: the n-th further failure waits about
// Min·2ⁿ, never more than Max, so a camera that stays down is tried less
// and less often. Every pause has full jitter in [d/2, d], so cameras that
// went down together do not retry in step.
type Backoff struct {
	Min, Max time.Duration
	Fast     time.Duration  // 0 means DefaultFast; negative: none
	Rand     func() float64 // in [0,1); nil means math/rand/v2
}

// Next is the pause before the next attempt, outage into an outage that
// has seen slow failures since its fast retries ended.
func (b Backoff) Next(outage time.Duration, slow int) time.Duration {
	if outage < b.Fast {
		return b.Delay(0) / 2
	}
	return b.Delay(slow + 1)
}

// Delay is the wait after the attempt-th consecutive failure (from 0),
// without the fast start.
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
