package evidence

import (
	"bytes"
	"fmt"
	"image"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/internal/vp8"
	"github.com/vigil-vision/vigil/internal/webm"
	"gocv.io/x/gocv"
)

// ClipOptions say how clips are made. Each clip camera's frames are
// encoded to VP8 as they come and its last seconds kept in a ring; a clip
// is cut from the ring once an event's post-roll has passed and written
// as WebM. Only the frames between the keyframe before the pre-roll and
// the pre-roll's first frame are encoded again, so that the clip starts
// where its window does.
//
// Why continuous VP8 and not a ring of JPEGs encoded when an event asks:
// measured on the sample video (768×576) on the 2-core reference machine,
// a JPEG costs 1.6 ms to keep and 7.0 ms to decode and encode into a clip
// (BenchmarkRingJPEG, BenchmarkClipFromJPEG); a VP8 frame costs 2.0–2.9 ms
// at the settings below (BenchmarkRingVP8), whatever the rate of events,
// and a sixth of the bytes. All of evidence together (evidence-bench, one
// camera at 10 fps): 0.040 of a core with an event a minute and 0.116 with
// one every 10 s for the JPEG ring, 0.035 and 0.048 for this one
// (bench/README.md, "Evidence").
type ClipOptions struct {
	FPS      float64       // frames kept a second at most; default 10
	MaxWidth int           // wider frames are scaled down to it; default 1280
	Bitrate  int           // VP8 bits a second; default 1,000,000
	MaxLen   time.Duration // a clip that overlapping events keep extending ends here; default 60s
}

// Clip encoding: a keyframe every keyEvery (a clip starts at most this
// much after the keyframe it is cut from, and the frames between are
// encoded again); libvpx's encode breakout at clipStatic, which saves a
// quarter of the work on the sample video for about 0.05 dB; libvpx's
// fastest speed, clipSpeed, about a sixth less work than the live view's
// -6 for 0.2 dB (300 frames of the sample video at 1 Mbit/s: 2.46 ms and
// 37.00 dB at -6, 2.23 ms and 36.98 dB at -10, 2.03 ms and 36.79 dB at
// -16). Evidence is looked at after the fact, at the bitrate asked for;
// what it costs is paid on every frame of every clip camera.
const (
	keyEvery   = 2 * time.Second
	clipStatic = 2000
	clipSpeed  = -16
)

// vp8Options are the clip encoder's settings.
func (o ClipOptions) vp8Options() vp8.Options {
	return vp8.Options{Bitrate: o.Bitrate, FPS: o.FPS, KeyInterval: max(1, int(o.FPS*keyEvery.Seconds()+0.5)),
		Speed: clipSpeed, StaticThreshold: clipStatic}
}

func (o ClipOptions) withDefaults() ClipOptions {
	if o.FPS <= 0 {
		o.FPS = 10
	}
	if o.MaxWidth <= 0 {
		o.MaxWidth = 1280
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

// ringFrame is a kept frame, VP8.
type ringFrame struct {
	at   time.Time // capture time
	data []byte
	key  bool
	w, h int
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
// encodes them into the rings (encs, its own); another cuts the clips.
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

	encs     map[string]*ringEncoder // run's
	encoders atomic.Int32            // len(encs)

	in   chan ringJob
	out  chan clipJob
	done chan struct{}
}

// ringEncoder is a camera's ring encoder: frame times count from epoch.
type ringEncoder struct {
	enc         *vp8.Encoder
	epoch, last time.Time
}

// clipJob is a clip to cut: its events, and the ring's frames from the
// keyframe at or before the first frame it shows, frames[from].
type clipJob struct {
	p      *pendingClip
	frames []ringFrame
	from   int
}

type ringJob struct {
	camera string
	at     time.Time
	img    gocv.Mat // the frame as packed I420 (h*3/2 rows of w), the ring goroutine's to close
	w, h   int
}

func newClips(o ClipOptions, rec *Recorder) *clips {
	return &clips{o: o.withDefaults(), rec: rec, keep: map[string]time.Duration{}, rings: map[string][]ringFrame{},
		lastIn: map[string]time.Time{}, encs: map[string]*ringEncoder{}, in: make(chan ringJob, 32), out: make(chan clipJob, 16), done: make(chan struct{})}
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
				c.bytes -= len(f.data)
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
	// The copy the ring keeps is the encoder's own format: converting
	// costs what cloning would, and halves the bytes queued.
	src := f.Image
	if w := src.Cols(); w > c.o.MaxWidth {
		small := gocv.NewMat()
		defer small.Close()
		gocv.Resize(src, &small, image.Pt(c.o.MaxWidth, src.Rows()*c.o.MaxWidth/w), 0, 0, gocv.InterpolationArea)
		src = small
	}
	if src.Cols() < 16 || src.Rows() < 16 {
		c.rec.ringSkipped.Inc()
		return
	}
	img := gocv.NewMat()
	w, h := vp8.BGRToI420(src, &img)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		img.Close()
		return
	}
	select {
	case c.in <- ringJob{camera: f.Camera, at: f.Time, img: img, w: w, h: h}:
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
	defer func() {
		for cam, e := range c.encs {
			e.enc.Close()
			delete(c.encs, cam)
		}
		c.encoders.Store(0)
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case j, ok := <-c.in:
			if !ok {
				c.flush(true)
				return
			}
			f, err := c.encodeFrame(j)
			j.img.Close()
			if err != nil {
				c.rec.ringSkipped.Inc()
				c.rec.log.Warn().Err(err).Str("camera", j.camera).Msg("clip ring: frame not kept")
				continue
			}
			if len(f.data) > 0 {
				c.add(j.camera, f)
			}
		case <-tick.C:
			c.closeUnwanted()
			c.flush(false)
		}
	}
}

// encodeFrame encodes a frame into its camera's stream. Frames whose time
// went back (a file played again) start a new stream and a new ring.
func (c *clips) encodeFrame(j ringJob) (ringFrame, error) {
	e := c.encs[j.camera]
	if e == nil {
		e = &ringEncoder{enc: vp8.New(c.o.vp8Options()), epoch: j.at}
		c.encs[j.camera] = e
		c.encoders.Store(int32(len(c.encs)))
	} else if j.at.Before(e.last) {
		e.enc.Reset()
		e.epoch = j.at
		c.dropRing(j.camera)
	}
	e.last = j.at
	yuv, err := j.img.DataPtrUint8()
	if err != nil {
		return ringFrame{}, err
	}
	data, key, err := e.enc.EncodeI420(yuv, j.w, j.h, j.at.Sub(e.epoch), false)
	if err != nil {
		return ringFrame{}, err
	}
	return ringFrame{at: j.at, data: data, key: key, w: j.w, h: j.h}, nil
}

// dropRing empties a camera's ring (its waiting clips get what is kept
// from then on).
func (c *clips) dropRing(camera string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.rings[camera] {
		c.bytes -= len(f.data)
	}
	delete(c.rings, camera)
}

// closeUnwanted closes the encoders of cameras that no longer keep a ring.
func (c *clips) closeUnwanted() {
	c.mu.Lock()
	var gone []string
	for cam := range c.encs {
		if _, ok := c.keep[cam]; !ok {
			gone = append(gone, cam)
		}
	}
	c.mu.Unlock()
	for _, cam := range gone {
		c.encs[cam].enc.Close()
		delete(c.encs, cam)
	}
	c.encoders.Store(int32(len(c.encs)))
}

func (c *clips) add(camera string, f ringFrame) {
	c.mu.Lock()
	keep, ok := c.keep[camera]
	if !ok {
		c.mu.Unlock()
		return
	}
	r := append(c.rings[camera], f)
	c.bytes += len(f.data)
	// Keep the camera's last seconds, and all a waiting clip shows (one
	// that events extended is longer than the ring, up to MaxLen), from
	// the keyframe they need.
	floor := f.at.Add(-keep)
	for _, p := range c.pending {
		if p.camera == camera && p.start.Before(floor) {
			floor = p.start
		}
	}
	i := 0
	for k := range r {
		if r[k].at.After(floor) {
			break
		}
		if r[k].key {
			i = k
		}
	}
	for _, g := range r[:i] {
		c.bytes -= len(g.data)
	}
	if i > 0 {
		c.rings[camera] = append(r[:0:0], r[i:]...)
	} else {
		c.rings[camera] = r
	}
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
	// The frames each clip shows, taken now (the ring moves on), from the
	// keyframe it is cut from.
	jobs := make([]clipJob, len(ready))
	for i, p := range ready {
		jobs[i] = cut(p, c.rings[p.camera])
	}
	c.mu.Unlock()
	for _, j := range jobs {
		c.out <- j // the clip encoder's queue; a full one holds the rings back
	}
}

// cut takes the frames of ring that clip p shows, from the keyframe at or
// before its first.
func cut(p *pendingClip, ring []ringFrame) clipJob {
	j := clipJob{p: p}
	first, key := -1, 0
	for i, f := range ring {
		if f.at.After(p.end) {
			break
		}
		if f.at.Before(p.start) {
			if f.key {
				key = i
			}
			continue
		}
		if first < 0 {
			first = i
			if f.key {
				key = i
			}
		}
		j.frames = ring[key : i+1]
	}
	if first >= 0 {
		j.frames = append([]ringFrame(nil), j.frames...)
		j.from = first - key
	}
	return j
}

// ringBytes is what the rings hold.
func (c *clips) ringBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// makeClip makes a WebM of a clip's frames, from j.frames[j.from]: the
// frames before the ring's next keyframe are decoded from the keyframe
// before and encoded again, starting with a keyframe; the rest are copied.
func makeClip(j clipJob, o vp8.Options) ([]byte, error) {
	if len(j.frames) == 0 {
		return nil, fmt.Errorf("no frames kept for the clip (the camera sent none in its window)")
	}
	shown := j.frames[j.from:]
	t0 := shown[0].at
	v := webm.Video{App: "vigil"}
	next := j.from // the first frame copied as it is
	if !shown[0].key {
		for next < len(j.frames) && !j.frames[next].key {
			next++
		}
		head, err := reencode(j.frames[:next], j.from, t0, o)
		if err != nil {
			return nil, err
		}
		v.Frames = head
	}
	for _, f := range j.frames[next:] {
		v.Frames = append(v.Frames, webm.Frame{Data: f.data, Key: f.key, At: f.at.Sub(t0)})
	}
	last := j.frames[len(j.frames)-1]
	v.Width, v.Height = last.w, last.h
	var buf bytes.Buffer
	if err := webm.Write(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// reencode decodes frames (from a keyframe) and encodes frames[from:]
// again as a stream of their own, timed from t0.
func reencode(frames []ringFrame, from int, t0 time.Time, o vp8.Options) ([]webm.Frame, error) {
	dec, err := vp8.NewDecoder()
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	enc := vp8.New(o)
	defer enc.Close()
	var out []webm.Frame
	for i, f := range frames {
		yuv, w, h, err := dec.Decode(f.data)
		if err != nil {
			return nil, fmt.Errorf("decode a kept frame: %w", err)
		}
		if i < from || yuv == nil {
			continue
		}
		data, key, err := enc.EncodeI420(yuv, w, h, f.at.Sub(t0), false)
		if err != nil {
			return nil, err
		}
		if len(data) > 0 {
			out = append(out, webm.Frame{Data: data, Key: key, At: f.at.Sub(t0)})
		}
	}
	return out, nil
}
