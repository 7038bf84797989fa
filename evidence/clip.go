package evidence

import (
	"bytes"
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/internal/webm"
	"github.com/vigil-vision/vigil/liveview"
	"gocv.io/x/gocv"
)

// ClipOptions say how clips are made. A clip is cut from a ring of each
// camera's last seconds, kept as JPEGs (bench: BenchmarkRingJPEG against
// BenchmarkRingVP8), and encoded to VP8 in WebM when an event's post-roll
// has passed.
type ClipOptions struct {
	FPS      float64       // frames kept a second at most; default 10
	MaxWidth int           // wider frames are scaled down to it; default 1280
	Quality  int           // JPEG quality of the kept frames; default 80
	Bitrate  int           // VP8 bits a second; default 1,000,000
	MaxLen   time.Duration // a clip that overlapping events keep extending ends here; default 60s
}

func (o ClipOptions) withDefaults() ClipOptions {
	if o.FPS <= 0 {
		o.FPS = 10
	}
	if o.MaxWidth <= 0 {
		o.MaxWidth = 1280
	}
	if o.Quality <= 0 || o.Quality > 100 {
		o.Quality = 80
	}
	if o.Bitrate <= 0 {
		o.Bitrate = 1_000_000
	}
	if o.MaxLen <= 0 {
		o.MaxLen = time.Minute
	}
	return o
}

// Window is how much of a camera's video around an event its clip holds.
type Window struct {
	Pre, Post time.Duration
}

// ClipName is a clip's object name: under the first event it shows.
func ClipName(camera, id string) string { return camera + "/" + id + "/clip.webm" }

// ringFrame is a kept frame.
type ringFrame struct {
	at   time.Time // capture time
	jpeg []byte
}

// pendingClip is a clip waiting for its post-roll: from start to end of
// the camera's video, for events (in order).
type pendingClip struct {
	camera     string
	start, end time.Time
	records    []Record // each event's record, its snapshot and thumbnail named
	due        time.Time
}

// clips keeps the rings and the clips waiting for them. Frame (a
// pipeline tap) clones frames on the camera's goroutine; one goroutine
// encodes them into the rings; another encodes the clips.
type clips struct {
	o   ClipOptions
	rec *Recorder

	mu      sync.Mutex
	keep    map[string]time.Duration // cameras whose rules want clips: how much to keep
	rings   map[string][]ringFrame
	lastIn  map[string]time.Time // the last frame taken, for FPS
	pending []*pendingClip
	bytes   int
	closed  bool // in is closed: frames are not taken

	in   chan ringJob
	out  chan clipJob
	done chan struct{}
}

// clipJob is a clip to encode: its events and the frames it shows.
type clipJob struct {
	p      *pendingClip
	frames []ringFrame
}

type ringJob struct {
	camera string
	at     time.Time
	img    gocv.Mat // the clone, the ring goroutine's to close
}

func newClips(o ClipOptions, rec *Recorder) *clips {
	return &clips{o: o.withDefaults(), rec: rec, keep: map[string]time.Duration{}, rings: map[string][]ringFrame{},
		lastIn: map[string]time.Time{}, in: make(chan ringJob, 32), out: make(chan clipJob, 16), done: make(chan struct{})}
}

// setCameras says which cameras keep a ring, and how many seconds: a
// camera left out drops its ring.
func (c *clips) setCameras(keep map[string]time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keep = keep
	for cam, r := range c.rings {
		if _, ok := keep[cam]; !ok {
			for _, f := range r {
				c.bytes -= len(f.jpeg)
			}
			delete(c.rings, cam)
			delete(c.lastIn, cam)
		}
	}
}

// frame takes a captured frame into its camera's ring, at most FPS a
// second; it never blocks (a full queue skips the frame, counted).
func (c *clips) frame(f *capture.Frame) {
	c.mu.Lock()
	_, want := c.keep[f.Camera]
	last := c.lastIn[f.Camera]
	take := want && (last.IsZero() || f.Time.Sub(last) >= time.Duration(float64(time.Second)/c.o.FPS*0.9) || f.Time.Before(last))
	if take {
		c.lastIn[f.Camera] = f.Time
	}
	c.mu.Unlock()
	if !take || f.Image.Empty() {
		return
	}
	img := gocv.NewMat()
	if w := f.Image.Cols(); w > c.o.MaxWidth {
		h := f.Image.Rows() * c.o.MaxWidth / w
		gocv.Resize(f.Image, &img, image.Pt(c.o.MaxWidth, h&^1), 0, 0, gocv.InterpolationArea)
	} else {
		f.Image.CopyTo(&img)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		img.Close()
		return
	}
	select {
	case c.in <- ringJob{camera: f.Camera, at: f.Time, img: img}:
	default:
		img.Close()
		c.rec.ringSkipped.Inc()
	}
}

// close stops taking frames; run then makes every waiting clip with the
// frames there are, and ends.
func (c *clips) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.in)
	}
}

// run encodes frames into the rings, and hands each clip whose post-roll
// has come to the clip encoder; a clip whose camera stopped sending is
// handed over a few seconds after it was due.
func (c *clips) run() {
	defer close(c.done)
	defer close(c.out)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case j, ok := <-c.in:
			if !ok {
				c.flush(true)
				return
			}
			buf, err := encode(j.img, c.o.Quality)
			j.img.Close()
			if err != nil {
				c.rec.ringSkipped.Inc()
				continue
			}
			c.add(j.camera, ringFrame{at: j.at, jpeg: buf})
		case <-tick.C:
			c.flush(false)
		}
	}
}

func (c *clips) add(camera string, f ringFrame) {
	c.mu.Lock()
	keep, ok := c.keep[camera]
	if !ok {
		c.mu.Unlock()
		return
	}
	r := append(c.rings[camera], f)
	c.bytes += len(f.jpeg)
	// Keep the camera's last seconds, and all a waiting clip shows: one
	// that events extended is longer than the ring (up to MaxLen).
	floor := f.at.Add(-keep)
	for _, p := range c.pending {
		if p.camera == camera && p.start.Before(floor) {
			floor = p.start
		}
	}
	i := 0
	for i < len(r) && r[i].at.Before(floor) {
		c.bytes -= len(r[i].jpeg)
		i++
	}
	c.rings[camera] = append(r[:0:0], r[i:]...)
	c.mu.Unlock()
	c.flush(false)
}

// request adds an event to its camera's waiting clip when their windows
// overlap (the clip is extended, up to MaxLen), or starts a new one.
func (c *clips) request(rec Record, w Window) {
	ev := rec.Event
	start, end := ev.Time.Add(-w.Pre), ev.Time.Add(w.Post)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pending {
		if p.camera == ev.Camera && !start.After(p.end) && end.Sub(p.start) <= c.o.MaxLen {
			p.end = maxTime(p.end, end)
			p.due = time.Now().Add(p.end.Sub(ev.Time) + 3*time.Second)
			rec.Clip = p.records[0].Clip
			p.records = append(p.records, rec)
			return
		}
	}
	rec.Clip = ClipName(ev.Camera, ev.ID)
	c.pending = append(c.pending, &pendingClip{camera: ev.Camera, start: start, end: end, records: []Record{rec},
		due: time.Now().Add(end.Sub(ev.Time) + 3*time.Second)})
}

// waiting says whether a clip waits with the event id among its events.
func (c *clips) waiting(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pending {
		for _, r := range p.records {
			if r.Event.ID == id {
				return true
			}
		}
	}
	return false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// flush hands over the clips whose ring reached their end, or that are
// overdue (all of them with force).
func (c *clips) flush(force bool) {
	now := time.Now()
	c.mu.Lock()
	var ready []*pendingClip
	keep := c.pending[:0]
	for _, p := range c.pending {
		r := c.rings[p.camera]
		if force || now.After(p.due) || (len(r) > 0 && !r[len(r)-1].at.Before(p.end)) {
			ready = append(ready, p)
		} else {
			keep = append(keep, p)
		}
	}
	c.pending = keep
	// The frames each clip shows, taken now: the ring moves on.
	frames := make([][]ringFrame, len(ready))
	for i, p := range ready {
		for _, f := range c.rings[p.camera] {
			if !f.at.Before(p.start) && !f.at.After(p.end) {
				frames[i] = append(frames[i], f)
			}
		}
	}
	c.mu.Unlock()
	for i, p := range ready {
		c.out <- clipJob{p: p, frames: frames[i]} // the clip encoder's queue; a full one holds the rings back
	}
}

// ringBytes is what the rings hold.
func (c *clips) ringBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// encodeClip makes a WebM of frames: VP8, a keyframe a second.
func encodeClip(frames []ringFrame, bitrate int, fps float64) ([]byte, error) {
	if len(frames) == 0 {
		return nil, fmt.Errorf("no frames kept for the clip (the camera sent none in its window)")
	}
	enc, err := liveview.NewFrameEncoder("vp8", bitrate, fps)
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	v := webm.Video{App: "vigil"}
	var lastKey time.Time
	for i, f := range frames {
		img, err := gocv.IMDecode(f.jpeg, gocv.IMReadColor)
		if err != nil {
			return nil, fmt.Errorf("decode a kept frame: %w", err)
		}
		forceKey := i == 0 || f.at.Sub(lastKey) >= time.Second
		data, key, err := enc.Encode(img, forceKey)
		v.Width, v.Height = img.Cols()&^1, img.Rows()&^1
		img.Close()
		if err != nil {
			return nil, err
		}
		if key {
			lastKey = f.at
		}
		if len(data) == 0 {
			continue // the encoder dropped the frame
		}
		v.Frames = append(v.Frames, webm.Frame{Data: data, Key: key, At: f.at.Sub(frames[0].at)})
	}
	var buf bytes.Buffer
	if err := webm.Write(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
