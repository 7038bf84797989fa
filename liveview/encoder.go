package liveview

import (
	"errors"
	"sync/atomic"
	"time"
)

// encodedFrame is one encoded video frame, shared read-only by the viewers.
type encodedFrame struct {
	data []byte
	key  bool
	at   time.Time // capture time
	seq  uint64
}

// encoder is one camera's video encoder, shared by all its viewers. It runs
// from the first viewer's arrival to the last one's departure.
type encoder struct {
	c       *camera
	in      *slot
	quit    chan struct{}
	wantKey atomic.Bool

	// Owned by the encoder's goroutine.
	fe     *FrameEncoder
	failed time.Time // last error logged
}

// startEncoder starts c's encoder; c.mu is held.
func startEncoder(c *camera) *encoder {
	e := &encoder{c: c, quit: make(chan struct{}), fe: newFrameEncoder(c.s.codec, c.s.opts.Bitrate, c.s.opts.MaxFPS)}
	e.in = newSlot(func() { c.s.m.dropped.WithLabelValues(c.id, "encoder_busy").Inc() })
	e.wantKey.Store(true)
	c.s.m.encodersRunning.WithLabelValues(c.id).Set(1)
	c.s.m.encodersStarted.WithLabelValues(c.id).Inc()
	c.log.Info().Str("codec", c.s.codec.name).Msg("encoder started")
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		e.run()
	}()
	return e
}

// stop makes the encoder's goroutine finish; it does not wait for it.
func (e *encoder) stop() { close(e.quit) }

// put hands the encoder a drawn frame; false when it has stopped (j is then
// closed).
func (e *encoder) put(j *job) bool { return e.in.put(j) }

// requestKey makes the next frame a keyframe.
func (e *encoder) requestKey(reason string) {
	e.wantKey.Store(true)
	e.c.s.m.keyframeRequests.WithLabelValues(e.c.id, reason).Inc()
}

func (e *encoder) run() {
	defer func() {
		e.in.drain()
		e.fe.Close()
		e.c.s.m.encodersRunning.WithLabelValues(e.c.id).Set(0)
		e.c.log.Info().Msg("encoder stopped: no viewers")
	}()
	for {
		select {
		case <-e.quit:
			return
		case <-e.c.quit:
			return
		case <-e.in.ready:
		}
		if j := e.in.take(); j != nil {
			e.encode(j)
			j.close()
		}
	}
}

func (e *encoder) encode(j *job) {
	s := e.c.s
	key := e.wantKey.Swap(false)
	t0 := time.Now()
	out, isKey, err := e.fe.Encode(j.img, key)
	if errors.Is(err, errTooSmall) {
		return
	}
	s.m.encodeSeconds.WithLabelValues(e.c.id, s.codec.name).Observe(time.Since(t0).Seconds())
	if err != nil {
		e.logError("encoding failed; frame dropped", err)
		e.wantKey.Store(key)
		return
	}
	s.m.framesEncoded.WithLabelValues(e.c.id).Inc()
	f := &encodedFrame{data: out, key: isKey, at: j.at, seq: j.seq}
	for _, v := range *e.c.viewers.Load() {
		v.push(f)
	}
}

// logError logs at most one encoder error every ten seconds.
func (e *encoder) logError(msg string, err error) {
	if t := now(); t.Sub(e.failed) > 10*time.Second {
		e.failed = t
		e.c.log.Error().Err(err).Str("codec", e.c.s.codec.name).Msg(msg)
	}
}
