package capture

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/internal/cmalloc"
	"gocv.io/x/gocv"
)

// State is where a camera is in its life.
type State string

const (
	StateConnecting State = "connecting"
	StateStreaming  State = "streaming"
	StateStalled    State = "stalled" // connected, but no frame for the IO timeout
	StateDown       State = "down"    // failed; a reconnect is scheduled
	StateEnded      State = "ended"   // a file without loop reached its end
	StateStopped    State = "stopped" // shut down
)

// logEvery is how often a camera that stays down with the same error says
// so again.
const logEvery = 10 * time.Second

// Config describes one camera.
type Config struct {
	ID            string
	URL           string
	Loop          bool    // files: start again at the end
	Realtime      bool    // files: pace at the file's frame rate; else as fast as consumed, without drops
	RTSPTransport string  // tcp (default) or udp
	FPS           float64 // testsrc rate; for other sources a cap (0 = none)
	Width, Height int     // testsrc size
	Backoff       Backoff // reconnect delays
	// IOTimeout bounds a network camera's silence: with no frame for
	// this long it is reported stalled, and its connection given up a
	// moment later. Default 5s.
	IOTimeout time.Duration
}

// Status is what a camera reports about itself.
type Status struct {
	Camera     string    `json:"camera"`
	URL        string    `json:"url"` // password redacted
	Kind       Kind      `json:"kind"`
	State      State     `json:"state"`
	LastError  string    `json:"last_error,omitempty"`
	Since      time.Time `json:"since"` // when State last changed
	FPS        float64   `json:"fps"`   // measured
	Frames     uint64    `json:"frames"`
	Reconnects uint64    `json:"reconnects"`
}

// Camera reads one source and hands its frames on.
type Camera struct {
	id   string // cfg.ID, which never changes
	cfg  Config
	kind Kind
	log  zerolog.Logger
	now  func() time.Time

	mu     sync.Mutex
	status Status
	fps    rate
	// reconnect ends the current connection, or the pause before the next
	// one, when Reconfigure changes the source; nil outside Run.
	reconnect context.CancelFunc
	seq       uint64    // the last frame's; Run's own, and kept for a next Run
	last      time.Time // the last frame's Time; Run's own, like seq
	heard     time.Time // when a Read last got a frame in time (live sources)
	// probed: the source has streamed since it was last configured, so
	// its stream parameters are known and a reconnect may skip FFmpeg's
	// stream probing (RTSP), which takes seconds.
	probed bool
	gen    uint64 // counts Reconfigure calls
	// OnState, when set, is called after every state change (metrics).
	OnState func(Status)
}

// New checks the config and makes a camera; it opens nothing yet.
func New(cfg Config, log zerolog.Logger) (*Camera, error) {
	kind, err := KindOf(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("camera %q: %w", cfg.ID, err)
	}
	cfg = withDefaults(cfg)
	c := &Camera{id: cfg.ID, cfg: cfg, kind: kind, now: time.Now,
		log: log.With().Str("camera", cfg.ID).Str("stage", "capture").Logger()}
	c.status = Status{Camera: cfg.ID, URL: Redact(cfg.URL), Kind: kind, State: StateConnecting, Since: c.now()}
	return c, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Backoff.Min <= 0 {
		cfg.Backoff.Min = 500 * time.Millisecond
	}
	if cfg.Backoff.Max < cfg.Backoff.Min {
		cfg.Backoff.Max = max(10*time.Second, cfg.Backoff.Min)
	}
	switch {
	case cfg.Backoff.Fast == 0:
		cfg.Backoff.Fast = DefaultFast
	case cfg.Backoff.Fast < 0:
		cfg.Backoff.Fast = 0
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = 5 * time.Second
	}
	return cfg
}

// ID is the camera's id.
func (c *Camera) ID() string { return c.id }

// Config is the camera's configuration as it stands now.
func (c *Camera) Config() Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

// Reconfigure changes the camera's source while it runs: the current
// connection (or the pause before the next attempt) ends and the camera
// connects again with cfg, at once and without backoff. Sequence numbers go
// on from where they were, and whoever holds the camera keeps it: its
// hand-off, tracker and viewers stay. cfg's ID must be the camera's.
func (c *Camera) Reconfigure(cfg Config) error {
	if cfg.ID != c.id {
		return fmt.Errorf("camera %q: cannot become %q; remove it and add the new one", c.id, cfg.ID)
	}
	kind, err := KindOf(cfg.URL)
	if err != nil {
		return fmt.Errorf("camera %q: %w", cfg.ID, err)
	}
	cfg = withDefaults(cfg)
	c.mu.Lock()
	c.cfg, c.kind, c.probed = cfg, kind, false
	c.gen++
	c.status.URL, c.status.Kind = Redact(cfg.URL), kind
	reconnect := c.reconnect
	c.mu.Unlock()
	c.log.Info().Str("url", Redact(cfg.URL)).Msg("source changed; reconnecting")
	if reconnect != nil {
		reconnect()
	}
	return nil
}

// Status is a snapshot of the camera's state.
func (c *Camera) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.FPS = c.fps.value(c.now())
	return s
}

func (c *Camera) setState(s State, err error) {
	c.mu.Lock()
	c.setStateLocked(s, err)
}

// setStateLocked is setState with c.mu held; it unlocks c.mu.
func (c *Camera) setStateLocked(s State, err error) {
	changed := c.status.State != s
	c.status.State = s
	if err != nil {
		c.status.LastError = err.Error()
	}
	if changed {
		c.status.Since = c.now()
	}
	st := c.status
	c.mu.Unlock()
	if changed && c.OnState != nil {
		c.OnState(st)
	}
}

// Lossless says whether this camera's frames must never be dropped: a file
// read without real-time pacing waits for the pipeline instead.
func (c *Camera) Lossless() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lossless()
}

func (c *Camera) lossless() bool { return c.kind == KindFile && !c.cfg.Realtime } // c.mu held

// Run reads frames until ctx ends, or a non-looping file ends, calling emit
// with each; emit owns the frame. Failures never end Run: the camera goes
// down and reconnects. Run returns nil.
func (c *Camera) Run(ctx context.Context, emit func(*Frame)) error {
	defer c.setState(StateStopped, nil)
	defer func() {
		c.mu.Lock()
		c.reconnect = nil
		c.mu.Unlock()
	}()
	seq := &c.seq
	var outage time.Time // when the current outage began; zero while the camera works
	slow := 0            // failures since the outage's fast retries ended
	var logged string    // the last error logged, and when
	var loggedAt time.Time
	attempts := 0 // failures since the last line logged
	for ctx.Err() == nil {
		// conn ends with ctx, or early when Reconfigure changes the source.
		conn, reconnect := context.WithCancel(ctx)
		c.mu.Lock()
		c.reconnect = reconnect
		cfg, kind, probed, gen := c.cfg, c.kind, c.probed, c.gen
		c.mu.Unlock()
		c.setState(StateConnecting, nil)
		src, err := open(sourceOptions{
			Kind: kind, URL: cfg.URL, RTSPTransport: cfg.RTSPTransport,
			Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, IOTimeout: cfg.IOTimeout,
			Probed: probed,
		})
		// A failure before the first frame is the open's; after it, the
		// stream's.
		what := "open camera"
		if err == nil {
			var got int
			got, err = c.stream(conn, src, cfg, kind, seq, emit)
			src.Close()
			cmalloc.Trim() // the decoder's buffers go back to the system (package cmalloc)
			c.mu.Lock()
			if c.gen == gen {
				c.probed = got > 0 // a short open that read nothing probes in full next time
			}
			c.mu.Unlock()
			if got > 0 {
				outage, slow, logged, attempts = time.Time{}, 0, "", 0
			}
			if err == nil {
				if conn.Err() != nil && ctx.Err() == nil {
					reconnect()
					outage, slow, logged, attempts = time.Time{}, 0, "", 0
					continue // reconfigured: connect to the new source
				}
				reconnect()
				if ctx.Err() == nil {
					c.setState(StateEnded, nil)
					c.log.Info().Uint64("frames", *seq).Msg("file ended")
				}
				return nil
			}
			if got > 0 {
				what = "camera"
			}
		}
		err = fmt.Errorf("%s %q (%s): %w", what, cfg.ID, Redact(cfg.URL), err)
		if outage.IsZero() {
			outage = c.now()
		}
		delay := cfg.Backoff.Next(c.now().Sub(outage), slow)
		if c.now().Sub(outage) >= cfg.Backoff.Fast {
			slow++
		}
		c.mu.Lock()
		c.status.Reconnects++
		c.mu.Unlock()
		c.setState(StateDown, err)
		// One line when an outage begins or its error changes, then one
		// every logEvery with the attempts since: fast retries would
		// otherwise write several lines a second.
		attempts++
		if now := c.now(); err.Error() != logged || now.Sub(loggedAt) >= logEvery {
			c.log.Warn().Err(err).Stringer("retry_in", delay.Round(time.Millisecond)).
				Stringer("down_for", now.Sub(outage).Round(time.Millisecond)).Int("attempts", attempts).Msg("camera down")
			logged, loggedAt, attempts = err.Error(), now, 0
		}
		select {
		case <-conn.Done():
			if ctx.Err() == nil {
				outage, slow, logged, attempts = time.Time{}, 0, "", 0 // reconfigured: try the new source at once
			}
		case <-time.After(delay):
		}
		reconnect()
	}
	return nil
}

// stream reads frames from an open source until ctx ends (nil), a file
// without loop ends (nil) or the source fails (the error). It returns how
// many frames it read.
func (c *Camera) stream(ctx context.Context, src source, cfg Config, kind Kind, seq *uint64, emit func(*Frame)) (int, error) {
	interval := time.Duration(0)
	fps := cfg.FPS
	lossless := kind == KindFile && !cfg.Realtime
	clock := frameClock{after: c.last}
	switch kind {
	case KindFile:
		// The container's rate, not the frame's POS_MSEC: OpenCV 4.6 gives
		// Megamind.avi's frame n the time of frame n+1, and its last frame
		// 0.
		clock.fps = src.FPS()
		if clock.fps <= 0 {
			clock.fps = 25
		}
	case KindTestsrc:
		clock.fps = src.FPS()
	}
	if kind == KindFile && cfg.Realtime && fps <= 0 {
		fps = clock.fps
	}
	if kind == KindTestsrc || kind == KindFile && cfg.Realtime || fps > 0 && kind != KindFile {
		if fps > 0 {
			interval = time.Duration(float64(time.Second) / fps)
		}
	}
	// A network camera that stops sending without closing its connection
	// keeps Read waiting in FFmpeg for up to its socket timeout, a quarter
	// of the IO timeout. Such a Read may still hand over a frame: one the
	// decoder held back, not one just received. The camera is silent from
	// the last frame a Read got in time: the watchdog reports it stalled
	// once the IO timeout has passed since, even while Read waits, and the
	// loop gives the connection up at the first Read that returns after.
	live := kind != KindFile && kind != KindTestsrc
	patience := socketTimeout(kind, cfg.IOTimeout)
	heard := c.now()
	var watchdog *time.Timer
	if live {
		c.mu.Lock()
		c.heard = heard
		c.mu.Unlock()
		watchdog = time.AfterFunc(cfg.IOTimeout, func() { c.stalled(cfg.IOTimeout) })
		defer watchdog.Stop()
	}
	// Sources made on demand (testsrc, files in real time) are paced by
	// waiting between reads. A live camera sends at its own rate and its
	// frames queue in the socket and decoder while unread: a cap there
	// reads every frame and keeps one per interval, so that what is kept
	// is fresh.
	pace := interval > 0 && !live
	next := c.now()
	got := 0
	for ctx.Err() == nil {
		if pace {
			if wait := next.Sub(c.now()); wait > 0 {
				select {
				case <-ctx.Done():
					return got, nil
				case <-time.After(wait):
				}
			} else if -wait > interval {
				next = c.now() // fell behind: don't burst to catch up
			}
			next = next.Add(interval)
		}
		img := gocv.NewMat()
		asked := c.now()
		err := src.Read(&img)
		if errors.Is(err, errEnded) && cfg.Loop && got > 0 {
			src.Rewind()
			err = src.Read(&img)
		}
		if err != nil {
			img.Close()
			if errors.Is(err, errEnded) {
				if got == 0 {
					return got, errors.New("no frames: the file is empty or not a video OpenCV can decode")
				}
				return got, nil
			}
			return got, err
		}
		t := c.now()
		inTime := patience == 0 || t.Sub(asked) < patience
		if live && !inTime && t.Sub(heard) >= cfg.IOTimeout && got > 0 {
			img.Close()
			return got, fmt.Errorf("no frame for %v: the stream stopped delivering frames", t.Sub(heard).Round(time.Millisecond))
		}
		if live && inTime {
			heard = t
			c.mu.Lock()
			c.heard = t
			c.mu.Unlock()
			watchdog.Reset(cfg.IOTimeout)
		}
		if live && interval > 0 {
			// Keep a frame due within a quarter interval: a camera at
			// twice the cap, with jitter, gives every other frame.
			if t.Before(next.Add(-interval/4)) && got > 0 {
				img.Close()
				continue
			}
			if next = next.Add(interval); next.Before(t) {
				next = t.Add(interval) // the camera is slower than the cap, or was away
			}
		}
		got++
		*seq++
		c.mu.Lock()
		c.status.Frames++
		c.fps.add(t)
		switch {
		case got == 1:
			c.setStateLocked(StateStreaming, nil)
			c.log.Info().Int("width", img.Cols()).Int("height", img.Rows()).Float64("fps", src.FPS()).Msg("streaming")
		case inTime && c.status.State == StateStalled:
			stalled := t.Sub(c.status.Since)
			c.setStateLocked(StateStreaming, nil)
			c.log.Info().Stringer("stalled_for", stalled.Round(time.Millisecond)).Msg("streaming again")
		default:
			c.mu.Unlock()
		}
		c.last = clock.stamp(t)
		emit(&Frame{Camera: cfg.ID, Seq: *seq, Time: c.last, Read: t, Image: img, Lossless: lossless})
	}
	return got, nil
}

// frameClock gives one connection's frames their Time (see Frame.Time).
// A source on a media clock (fps > 0: files, testsrc) gives its n-th frame
// from 0 the time origin + n/fps, loops included: a file's next pass
// starts one frame after its last frame. A live source's frames get the
// time they were read. The origin is the first frame's read time, unless
// that is not after the camera's last Time (a file read without real-time
// pacing runs ahead of the wall clock, and a source changed at run time
// must not take the camera back in time): then it is the last Time plus
// one frame, and a live source's times are moved on by as much.
type frameClock struct {
	fps    float64   // media frames per second; 0 for a live source
	after  time.Time // the camera's last Time before this connection; zero if none
	origin time.Time
	shift  time.Duration // live: Time minus read time
	n      int           // frames stamped
}

func (k *frameClock) stamp(read time.Time) time.Time {
	if k.n == 0 {
		k.origin = read
		gap := time.Millisecond
		if k.fps > 0 {
			gap = time.Duration(float64(time.Second) / k.fps)
		}
		if floor := k.after.Add(gap); !k.after.IsZero() && read.Before(floor) {
			k.origin = floor
		}
		k.shift = k.origin.Sub(read)
	}
	k.n++
	if k.fps <= 0 {
		return read.Add(k.shift)
	}
	return k.origin.Add(time.Duration(float64(k.n-1) * float64(time.Second) / k.fps))
}

// stalled reports a streaming camera stalled once timeout has passed
// since a frame last came in time.
func (c *Camera) stalled(timeout time.Duration) {
	c.mu.Lock()
	since := c.now().Sub(c.heard)
	if c.status.State != StateStreaming || since < timeout {
		c.mu.Unlock()
		return
	}
	err := fmt.Errorf("camera %q (%s): no frame for %v: the stream stopped delivering frames", c.id, Redact(c.cfg.URL), since.Round(time.Millisecond))
	c.setStateLocked(StateStalled, err)
	c.log.Warn().Err(err).Msg("camera stalled")
}

// rate measures events per second over a sliding window of recent events.
type rate struct {
	times [32]time.Time
	n     int
}

func (r *rate) add(t time.Time) {
	r.times[r.n%len(r.times)] = t
	r.n++
}

func (r *rate) value(now time.Time) float64 {
	k := min(r.n, len(r.times))
	if k < 2 {
		return 0
	}
	newest := r.times[(r.n-1)%len(r.times)]
	oldest := r.times[(r.n-k)%len(r.times)]
	if now.Sub(newest) > 5*time.Second {
		return 0 // stale: nothing arrives any more
	}
	span := newest.Sub(oldest).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(k-1) / span
}
