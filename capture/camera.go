package capture

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"gocv.io/x/gocv"
)

// State is where a camera is in its life.
type State string

const (
	StateConnecting State = "connecting"
	StateStreaming  State = "streaming"
	StateDown       State = "down"    // failed; a reconnect is scheduled
	StateEnded      State = "ended"   // a file without loop reached its end
	StateStopped    State = "stopped" // shut down
)

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
	IOTimeout     time.Duration
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
	seq       uint64 // the last frame's; Run's own, and kept for a next Run
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
		cfg.Backoff.Max = max(30*time.Second, cfg.Backoff.Min)
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
	c.cfg, c.kind = cfg, kind
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
	failures := 0
	for ctx.Err() == nil {
		// conn ends with ctx, or early when Reconfigure changes the source.
		conn, reconnect := context.WithCancel(ctx)
		c.mu.Lock()
		c.reconnect = reconnect
		cfg, kind := c.cfg, c.kind
		c.mu.Unlock()
		c.setState(StateConnecting, nil)
		src, err := open(sourceOptions{
			Kind: kind, URL: cfg.URL, RTSPTransport: cfg.RTSPTransport,
			Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, IOTimeout: cfg.IOTimeout,
		})
		if err == nil {
			var got int
			got, err = c.stream(conn, src, cfg, kind, seq, emit)
			src.Close()
			if got > 0 {
				failures = 0
			}
			if err == nil {
				if conn.Err() != nil && ctx.Err() == nil {
					reconnect()
					failures = 0
					continue // reconfigured: connect to the new source
				}
				reconnect()
				if ctx.Err() == nil {
					c.setState(StateEnded, nil)
					c.log.Info().Uint64("frames", *seq).Msg("file ended")
				}
				return nil
			}
		}
		err = fmt.Errorf("open camera %q (%s): %w", cfg.ID, Redact(cfg.URL), err)
		delay := cfg.Backoff.Delay(failures)
		failures++
		c.mu.Lock()
		c.status.Reconnects++
		c.mu.Unlock()
		c.setState(StateDown, err)
		c.log.Warn().Err(err).Dur("retry_in", delay).Msg("camera down")
		select {
		case <-conn.Done():
			if ctx.Err() == nil {
				failures = 0 // reconfigured: try the new source at once
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
	if kind == KindFile && cfg.Realtime && fps <= 0 {
		fps = src.FPS()
		if fps <= 0 {
			fps = 25
		}
	}
	if kind == KindTestsrc || kind == KindFile && cfg.Realtime || fps > 0 && kind != KindFile {
		if fps > 0 {
			interval = time.Duration(float64(time.Second) / fps)
		}
	}
	next := c.now()
	got := 0
	for ctx.Err() == nil {
		if interval > 0 {
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
		if got == 0 {
			c.setState(StateStreaming, nil)
			c.log.Info().Int("width", img.Cols()).Int("height", img.Rows()).Float64("fps", src.FPS()).Msg("streaming")
		}
		got++
		*seq++
		t := c.now()
		c.mu.Lock()
		c.status.Frames++
		c.fps.add(t)
		c.mu.Unlock()
		emit(&Frame{Camera: cfg.ID, Seq: *seq, Time: t, Image: img, Lossless: lossless})
	}
	return got, nil
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
