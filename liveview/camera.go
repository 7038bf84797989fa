package liveview

import (
	"bytes"
	"image"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/track"
	"gocv.io/x/gocv"
)

// job is one frame on its way to being drawn and sent. Its img has one
// owner at a time: the slot holding it, then the drawing goroutine, then
// the encoder; whoever holds it last closes it.
type job struct {
	img gocv.Mat
	at  time.Time // capture.Frame.Read: pacing and the latency stamp are wall time
	seq uint64
	res *result // ProcessedOnly: the frame's own result
}

func (j *job) close() {
	if j.img.Ptr() != nil {
		j.img.Close()
	}
	j.img = gocv.Mat{}
}

// slot is a latest-wins hand-off of one job: a put replaces (and closes)
// the job nobody took yet.
type slot struct {
	mu     sync.Mutex
	j      *job
	closed bool
	ready  chan struct{}
	onDrop func()
}

func newSlot(onDrop func()) *slot {
	return &slot{ready: make(chan struct{}, 1), onDrop: onDrop}
}

// put hands j over; it reports false (and closes j) once the slot is closed.
func (s *slot) put(j *job) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		j.close()
		return false
	}
	old := s.j
	s.j = j
	if old != nil {
		// Counted under the lock, so that no drop is counted once drain has
		// returned: a removed camera's series stay deleted.
		s.onDrop()
	}
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	select {
	case s.ready <- struct{}{}:
	default:
	}
	return true
}

func (s *slot) take() *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.j
	s.j = nil
	return j
}

// drain closes the slot and the job it holds; later puts close theirs.
func (s *slot) drain() {
	s.mu.Lock()
	s.closed = true
	j := s.j
	s.j = nil
	s.mu.Unlock()
	if j != nil {
		j.close()
	}
}

// result is what one processed frame says about the scene.
type result struct {
	at     time.Time // read time of the processed frame
	seq    uint64
	tracks []track.Track
	labels []string
	infer  time.Duration
	// step is the smoothed time between this camera's processed frames: the
	// tracker's velocities are per step. 0 until two results were seen.
	step time.Duration
	// What motion gating saw and did on the frame, for the motion overlay:
	// its motion blobs, the crops the detector looked in, the gate's
	// reason, and whether the detector skipped it.
	motion  []image.Rectangle
	regions []image.Rectangle
	gate    string
	skipped bool
}

// camera is the live view of one camera.
type camera struct {
	id  string
	src *capture.Camera
	s   *Server
	log zerolog.Logger
	in  *slot

	// active: someone waits for frames, so the tap clones them.
	active atomic.Bool
	// overlay: motion gating's view is drawn too (PUT .../overlay).
	overlay atomic.Bool
	due     time.Time // MaxFPS pacing, touched by the one goroutine that feeds in

	resMu sync.Mutex
	res   *result

	// quit stops the drawing goroutine and the encoder: the camera was
	// removed or the server closes. wg counts both.
	quit     chan struct{}
	quitOnce sync.Once
	wg       sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*session
	viewers  atomic.Pointer[[]*session] // sessions, read by the encoder per frame
	enc      *encoder                   // running while there are sessions
	mjpeg    map[*mjpegClient]struct{}
	snaps    []*snapWaiter
	stopped  bool

	statMu  sync.Mutex
	drawn   []time.Time // recent draw times, for the output rate
	objects int
	lastAt  time.Time
}

func newCamera(s *Server, src *capture.Camera) *camera {
	c := &camera{
		id: src.ID(), src: src, s: s, log: s.log.With().Str("camera", src.ID()).Logger(),
		sessions: map[string]*session{}, mjpeg: map[*mjpegClient]struct{}{}, quit: make(chan struct{}),
	}
	c.in = newSlot(func() { s.m.dropped.WithLabelValues(c.id, "draw_busy").Inc() })
	empty := []*session{}
	c.viewers.Store(&empty)
	return c
}

// admit paces frames to MaxFPS: a frame passes when it is not much earlier
// than one interval after the last one that passed, so a 60 fps camera under
// a 30 fps cap sends every other frame and a 25 fps one sends all of them.
func (c *camera) admit(t time.Time) bool {
	interval := time.Duration(float64(time.Second) / c.s.opts.MaxFPS)
	if t.Before(c.due.Add(-interval / 4)) {
		return false
	}
	base := c.due
	if t.Sub(base) > interval {
		base = t // after a pause, start again from this frame
	}
	c.due = base.Add(interval)
	return true
}

func (c *camera) setResult(r *pipeline.Result) *result {
	res := &result{
		at: r.Frame.Read, seq: r.Frame.Seq, tracks: slices.Clone(r.Tracks),
		labels: r.Labels, infer: r.Timings.Infer,
		regions: r.Regions, gate: r.Gate, skipped: r.Skipped,
	}
	if r.Motion != nil {
		res.motion = r.Motion.Boxes
	}
	c.resMu.Lock()
	defer c.resMu.Unlock()
	if prev := c.res; prev != nil && r.Skipped {
		// Held by motion gating: nothing moved, so the last detected
		// frame's tracks hold at this frame's time; the model's time and
		// rate stay those of the detected frames.
		res.infer, res.step = prev.infer, prev.step
	} else if prev != nil {
		res.step = prev.step
		if d := res.at.Sub(prev.at); d > 0 && d < 5*time.Second {
			if prev.step == 0 {
				res.step = d
			} else {
				res.step = prev.step + (d-prev.step)*3/10
			}
		}
	}
	c.res = res
	return res
}

func (c *camera) latest() *result {
	c.resMu.Lock()
	defer c.resMu.Unlock()
	return c.res
}

// updateActive recomputes whether the tap should clone frames; c.mu held.
func (c *camera) updateActive() {
	c.active.Store(!c.stopped && (len(c.sessions) > 0 || len(c.mjpeg) > 0 || len(c.snaps) > 0))
}

func (c *camera) drawLoop() {
	for {
		select {
		case <-c.quit:
			return
		case <-c.in.ready:
		}
		if j := c.in.take(); j != nil {
			c.process(j)
		}
	}
}

// process draws one frame and hands it to whoever waits: snapshot requests
// and MJPEG clients get a JPEG, the encoder gets the frame itself.
func (c *camera) process(j *job) {
	c.mu.Lock()
	wantRaw, wantJPEG := false, len(c.mjpeg) > 0
	for _, w := range c.snaps {
		wantRaw = wantRaw || w.raw
		wantJPEG = wantJPEG || !w.raw
	}
	enc := c.enc
	c.mu.Unlock()

	if wantRaw {
		if b, ok := encodeJPEG(j.img); ok {
			c.deliver(b, true)
		}
	}
	res := j.res
	if res == nil {
		res = c.latest()
	}
	n := c.draw(&j.img, j.at, j.seq, res, j.res != nil)
	c.noteDrawn(j.at, n)
	if wantJPEG {
		if b, ok := encodeJPEG(j.img); ok {
			c.deliver(b, false)
		}
	}
	if enc != nil && enc.put(j) {
		return
	}
	j.close()
}

func (c *camera) noteDrawn(at time.Time, objects int) {
	c.statMu.Lock()
	defer c.statMu.Unlock()
	c.drawn = append(c.drawn, now())
	if len(c.drawn) > 30 {
		c.drawn = c.drawn[len(c.drawn)-30:]
	}
	c.objects, c.lastAt = objects, at
}

// outFPS is the rate at which frames were drawn lately; 0 after a pause.
func (c *camera) outFPS() float64 {
	c.statMu.Lock()
	defer c.statMu.Unlock()
	n := len(c.drawn)
	if n < 2 || now().Sub(c.drawn[n-1]) > 2*time.Second {
		return 0
	}
	return float64(n-1) / c.drawn[n-1].Sub(c.drawn[0]).Seconds()
}

// encodeJPEG compresses img for MJPEG and snapshots.
func encodeJPEG(img gocv.Mat) ([]byte, bool) {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, 85})
	if err != nil {
		return nil, false
	}
	defer buf.Close()
	return bytes.Clone(buf.GetBytes()), true
}

// stop ends everything the camera runs and holds (see RemoveCamera).
func (c *camera) stop(reason string) {
	c.shutdown(reason)
	c.wait()
}

// shutdown ends the camera's sessions, MJPEG streams and snapshot requests,
// and tells its drawing goroutine and encoder to stop; wait waits for them.
func (c *camera) shutdown(reason string) {
	c.mu.Lock()
	c.stopped = true
	c.updateActive()
	sessions := make([]*session, 0, len(c.sessions))
	for _, s := range c.sessions {
		sessions = append(sessions, s)
	}
	for m := range c.mjpeg {
		m.stop()
	}
	c.mu.Unlock()
	c.quitOnce.Do(func() { close(c.quit) })
	for _, s := range sessions {
		s.end(reason)
	}
}

// wait waits for the goroutines shutdown stopped, then closes the frame
// still waiting to be drawn; frames given later are closed at once.
func (c *camera) wait() {
	c.wg.Wait()
	c.in.drain()
}
