package examples

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/dataset"
	"github.com/vigil-vision/vigil/internal/promreg"
	"gocv.io/x/gocv"
)

// Capture takes the frames its Sampler wants and puts them in its Store:
// Offer decides on the frame path and clones the picture; one worker
// encodes the JPEG and writes it. A full queue drops the example and
// counts it; Offer never blocks.
type Capture struct {
	Store      Store
	Sampler    *Sampler
	Quality    int    // JPEG quality 1-100; 0: 90
	QueueSize  int    // examples waiting for the worker; 0: 8
	Node       string // in every ID, so that a fleet's IDs never collide; "": random
	Registerer prometheus.Registerer
	Logger     zerolog.Logger
	PutTimeout time.Duration // one Put; 0: 30s

	taken, skipped *prometheus.CounterVec
	queue          chan job
	done           chan struct{}
	mu             sync.RWMutex // Offer's send against Close
	closed         bool
	seq            atomic.Uint64
	lastWarn       atomic.Int64
}

type job struct {
	img     gocv.Mat // a clone, the worker's to close
	example dataset.Example
	reasons []string
}

// Initialize registers the metrics and starts the worker.
func (c *Capture) Initialize() error {
	if c.Store == nil || c.Sampler == nil {
		return fmt.Errorf("examples: a Capture needs a Store and a Sampler")
	}
	if c.Quality == 0 {
		c.Quality = 90
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 8
	}
	if c.PutTimeout <= 0 {
		c.PutTimeout = 30 * time.Second
	}
	if c.Node == "" {
		var b [3]byte
		rand.Read(b[:])
		c.Node = hex.EncodeToString(b[:])
	}
	c.taken = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_examples_taken_total",
		Help: "Hard examples stored, by camera and strategy (an example with two reasons counts under both)."}, []string{"camera", "reason"})
	c.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_examples_skipped_total",
		Help: "Frames a strategy wanted but not stored, by camera and why: limit, duplicate, queue_full, error."}, []string{"camera", "why"})
	if err := promreg.Reuse(c.Registerer, &c.taken); err != nil {
		return err
	}
	if err := promreg.Reuse(c.Registerer, &c.skipped); err != nil {
		return err
	}
	c.queue, c.done = make(chan job, c.QueueSize), make(chan struct{})
	go c.run()
	return nil
}

// Offer looks at one processed frame of f.Camera under the camera's
// strategies; img is its picture, which Offer does not keep (it clones
// what it takes). It returns the reasons when the frame is taken.
func (c *Capture) Offer(s Strategies, f *Frame, img gocv.Mat) []string {
	why := c.Sampler.Decide(s, f)
	if len(why) == 0 {
		return nil
	}
	return c.Take(f, img, why)
}

// Take stores f for the reasons why (each "strategy: details"), within
// the camera's limits and unless it repeats the camera's last example: the
// way in for a strategy that decides away from the frame path (a shadow
// model's disagreements). img is not kept. It returns why when the frame
// is taken.
func (c *Capture) Take(f *Frame, img gocv.Mat, why []string) []string {
	if skip := c.Sampler.Allowed(f.Camera); skip != "" {
		c.skipped.WithLabelValues(f.Camera, skip).Inc()
		return nil
	}
	h, labels := HashOf(img), f.Labels()
	if c.Sampler.Duplicate(f.Camera, h, labels) {
		c.skipped.WithLabelValues(f.Camera, SkipDuplicate).Inc()
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil
	}
	t := f.Time.UTC()
	j := job{img: img.Clone(), reasons: why, example: dataset.Example{
		ID:     fmt.Sprintf("%s_%s-%s-%d", f.Camera, t.Format("20060102T150405.000Z"), c.Node, c.seq.Add(1)),
		Camera: f.Camera, Time: t, Width: f.Width, Height: f.Height,
		Boxes: labels, Reason: strings.Join(why, "; "),
	}}
	select {
	case c.queue <- j:
		c.Sampler.Took(f.Camera, h, labels)
		return why
	default:
		j.img.Close()
		c.skipped.WithLabelValues(f.Camera, SkipQueueFull).Inc()
		c.warn(fmt.Errorf("queue of %d full", c.QueueSize), "examples: the store is too slow, dropping examples")
		return nil
	}
}

func (c *Capture) run() {
	defer close(c.done)
	for j := range c.queue {
		c.store(j)
	}
}

func (c *Capture) store(j job) {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, j.img, []int{gocv.IMWriteJpegQuality, c.Quality})
	j.img.Close()
	if err == nil {
		j.example.JPEG = append([]byte(nil), buf.GetBytes()...)
		buf.Close()
		ctx, cancel := context.WithTimeout(context.Background(), c.PutTimeout)
		err = c.Store.Put(ctx, j.example)
		cancel()
	}
	cam := j.example.Camera
	if err != nil {
		c.skipped.WithLabelValues(cam, SkipError).Inc()
		c.warn(err, "examples: storing an example failed")
		return
	}
	for _, r := range j.reasons {
		name, _, _ := strings.Cut(r, ":")
		c.taken.WithLabelValues(cam, name).Inc()
	}
}

// warn logs at most once a minute.
func (c *Capture) warn(err error, msg string) {
	now := time.Now().UnixNano()
	last := c.lastWarn.Load()
	if now-last < int64(time.Minute) || !c.lastWarn.CompareAndSwap(last, now) {
		return
	}
	c.Logger.Warn().Err(err).Msg(msg)
}

// Close stores what is queued, then stops the worker.
func (c *Capture) Close() {
	c.mu.Lock()
	if c.closed || c.queue == nil {
		c.closed = true
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.queue)
	c.mu.Unlock()
	<-c.done
}
