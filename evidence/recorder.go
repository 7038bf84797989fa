package evidence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/internal/promreg"
	"gocv.io/x/gocv"
)

// Options configure a Recorder.
type Options struct {
	Conn          *nats.Conn
	Prefix        string // subject prefix; default alerts.DefaultPrefix
	Bucket        BucketOptions
	SpoolDir      string
	SpoolMaxBytes int64 // default 256 MiB
	Quality       int   // JPEG quality 1-100; default 85
	Thumbnail     int   // the thumbnail's longer side in pixels; default 160
	QueueSize     int   // frames waiting for the encoder; default 16
	// KeepFrame keeps each snapshot's frame as captured too (frame.jpg),
	// for hard examples made from reviewed events.
	KeepFrame  bool
	Clip       ClipOptions
	RetryMin   time.Duration
	RetryMax   time.Duration
	Registerer prometheus.Registerer
	Logger     zerolog.Logger
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = alerts.DefaultPrefix
	}
	if o.Bucket.Name == "" {
		o.Bucket.Name = DefaultBucket
	}
	if o.SpoolMaxBytes <= 0 {
		o.SpoolMaxBytes = 256 << 20
	}
	if o.Quality <= 0 || o.Quality > 100 {
		o.Quality = 85
	}
	if o.Thumbnail <= 0 {
		o.Thumbnail = 160
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 16
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 200 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Second
	}
	return o
}

// Request asks for one event's evidence: a snapshot of the frame it
// happened on, a clip of the video around it, or both.
type Request struct {
	Event alerts.Message
	Shot  *Shot   // nil: no snapshot
	Clip  *Window // nil: no clip
}

// Recorder makes and keeps events' evidence. Capture, on the frame path,
// clones the frame and queues it (never blocking: a full queue drops the
// evidence and counts it); one worker draws and encodes the snapshot and
// thumbnail and writes them to the Spool; one uploader puts the spool's
// events in the Bucket, oldest first, then publishes each event's Record,
// and only then removes it from the spool. NATS being away only delays the
// uploads; a restart resumes them.
type Recorder struct {
	o     Options
	js    jetstream.JetStream
	spool *Spool
	log   zerolog.Logger

	mu     sync.RWMutex // Capture's send against Close
	closed bool
	jobs   chan job
	stop   context.CancelFunc
	ctx    context.Context
	worked chan struct{}
	upDone chan struct{}

	bucket atomic.Pointer[Bucket]

	clips *clips

	stored, dropped, pruned *prometheus.CounterVec
	ringSkipped             prometheus.Counter
	waiting, waitingBytes   prometheus.GaugeFunc
	coreWarned              atomic.Bool
	clipsDone               chan struct{}
}

type job struct {
	frame gocv.Mat // a clone, the worker's to close
	reqs  []Request
}

// New opens the spool and registers the metrics; Start starts the work.
func New(o Options) (*Recorder, error) {
	o = o.withDefaults()
	if o.Conn == nil {
		return nil, errors.New("evidence: a Recorder needs a NATS connection")
	}
	js, err := jetstream.New(o.Conn)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	sp, err := OpenSpool(o.SpoolDir, o.SpoolMaxBytes)
	if err != nil {
		return nil, err
	}
	r := &Recorder{o: o, js: js, spool: sp, log: o.Logger.With().Str("stage", "evidence").Logger(), jobs: make(chan job, o.QueueSize)}
	r.clips = newClips(o.Clip, r)
	r.stored = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_evidence_stored_total",
		Help: "Events whose evidence reached the bucket and whose record was published, by camera."}, []string{"camera"})
	r.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_evidence_dropped_total",
		Help: "Evidence not kept, by why: queue_full (the encoder was behind), encode_error, clip_error (no clip could be made), spool_error (the disk refused it), spool_full (the oldest, beyond evidence.spool_max_bytes), unreadable (a spooled event's files were damaged)."}, []string{"reason"})
	r.ringSkipped = prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_evidence_ring_skipped_total",
		Help: "Frames the clip rings did not take because their encoder was behind: a clip shows a gap there."})
	r.pruned = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_evidence_pruned_total",
		Help: "Events whose evidence was deleted from the bucket, oldest first, to stay within evidence.max_bytes."}, []string{"bucket"})
	for _, c := range []**prometheus.CounterVec{&r.stored, &r.dropped, &r.pruned} {
		if err := promreg.Reuse(o.Registerer, c); err != nil {
			return nil, err
		}
	}
	if err := promreg.Reuse(o.Registerer, &r.ringSkipped); err != nil {
		return nil, err
	}
	if o.Registerer != nil {
		// A node restarted in one process registers these again: replace.
		r.waiting = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_evidence_spooled",
			Help: "Events whose evidence waits in the spool for the bucket."}, func() float64 { return float64(sp.Len()) })
		r.waitingBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_evidence_spool_bytes",
			Help: "Bytes of evidence waiting in the spool."}, func() float64 { return float64(sp.Bytes()) })
		ring := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_evidence_ring_bytes",
			Help: "Bytes the cameras' clip rings hold: their last seconds, VP8."}, func() float64 { return float64(r.clips.ringBytes()) })
		encoding := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_evidence_ring_cameras",
			Help: "Cameras whose frames are encoded into a clip ring (those with rules that want clips, once frames came)."}, func() float64 { return float64(r.clips.encoders.Load()) })
		for _, g := range []prometheus.Collector{r.waiting, r.waitingBytes, ring, encoding} {
			o.Registerer.Unregister(g)
			if err := o.Registerer.Register(g); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// Start starts the encoder and the uploader.
func (r *Recorder) Start() {
	r.ctx, r.stop = context.WithCancel(context.Background())
	r.worked, r.upDone, r.clipsDone = make(chan struct{}), make(chan struct{}), make(chan struct{})
	go r.work()
	go r.clips.run()
	go r.encodeClips()
	go r.upload(r.ctx)
}

// Frame is the pipeline tap that keeps each clip camera's last seconds.
func (r *Recorder) Frame(f *capture.Frame) { r.clips.frame(f) }

// SetClipCameras names the cameras whose rules want clips, each with the
// seconds its ring keeps (its rules' longest pre-roll and post-roll, and
// some); the others keep none.
func (r *Recorder) SetClipCameras(keep map[string]time.Duration) { r.clips.setCameras(keep) }

// RemoveCamera forgets a camera taken out of the configuration: its
// series of vigil_evidence_stored_total goes (its ring goes with
// SetClipCameras). Evidence of its events still spooled is stored as
// before, and counted again.
func (r *Recorder) RemoveCamera(camera string) { r.stored.DeleteLabelValues(camera) }

// encodeClips cuts each clip once its post-roll has come, and spools
// it with a record for each of its events.
func (r *Recorder) encodeClips() {
	defer close(r.clipsDone)
	for j := range r.clips.out {
		data, err := makeClip(j, r.clips.o.vp8Options())
		if err != nil {
			r.dropped.WithLabelValues("clip_error").Add(float64(len(j.p.records)))
			r.log.Error().Err(err).Str("camera", j.p.camera).Str("event", j.p.records[0].Event.ID).Msg("clip not made")
			continue
		}
		for i, rec := range j.p.records {
			it := &Item{Record: rec}
			if i == 0 {
				it.Clip = data // the others name it
			}
			r.spoolItem(it)
		}
	}
}

// Bucket is the bucket once the uploader opened it; nil before.
func (r *Recorder) Bucket() *Bucket { return r.bucket.Load() }

// Spool is the recorder's spool.
func (r *Recorder) Spool() *Spool { return r.spool }

// Capture queues evidence for the events seen on frame, which it clones:
// the caller keeps frame.
func (r *Recorder) Capture(frame gocv.Mat, reqs []Request) {
	if len(reqs) == 0 {
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return
	}
	j := job{frame: frame.Clone(), reqs: reqs}
	select {
	case r.jobs <- j:
	default:
		j.frame.Close()
		r.dropped.WithLabelValues("queue_full").Add(float64(len(reqs)))
		r.log.Warn().Str("camera", reqs[0].Event.Camera).Int("events", len(reqs)).
			Msg("evidence dropped: the encoder is behind (too many events at once)")
	}
}

func (r *Recorder) work() {
	defer close(r.worked)
	for j := range r.jobs {
		for _, q := range j.reqs {
			r.record(j.frame, q)
		}
		j.frame.Close()
	}
}

func (r *Recorder) record(frame gocv.Mat, q Request) {
	ev := q.Event
	rec := Record{Schema: RecordSchema, Event: ev, Bucket: r.o.Bucket.Name, Width: frame.Cols(), Height: frame.Rows()}
	if q.Shot != nil {
		snap, thumb, err := Render(frame, *q.Shot, r.o.Quality, r.o.Thumbnail)
		if err != nil {
			r.dropped.WithLabelValues("encode_error").Inc()
			r.log.Error().Err(err).Str("camera", ev.Camera).Str("event", ev.ID).Msg("evidence not made")
		} else {
			rec.Snapshot, rec.Thumbnail, rec.Box = SnapshotName(ev.Camera, ev.ID), ThumbnailName(ev.Camera, ev.ID), boxOf(q.Shot.Box)
			rec.Objects = q.Shot.objects()
			it := &Item{Record: rec, Snapshot: snap, Thumbnail: thumb}
			if r.o.KeepFrame {
				if it.Frame, err = encode(frame, 90); err == nil {
					it.Record.Frame = FrameName(ev.Camera, ev.ID)
					rec.Frame = it.Record.Frame
				}
			}
			r.spoolItem(it)
		}
	}
	if q.Clip != nil {
		r.clips.request(rec, *q.Clip)
	}
}

func (r *Recorder) spoolItem(it *Item) {
	ev := it.Record.Event
	dropped, err := r.spool.Add(it)
	if err != nil {
		r.dropped.WithLabelValues("spool_error").Inc()
		r.log.Error().Err(err).Str("camera", ev.Camera).Str("event", ev.ID).
			Msg("evidence dropped: the spool cannot be written; free disk space under evidence.spool_dir")
		return
	}
	if dropped > 0 {
		r.dropped.WithLabelValues("spool_full").Add(float64(dropped))
		r.log.Warn().Int("events", dropped).Int64("spool_max_bytes", r.o.SpoolMaxBytes).
			Msg("evidence spool full: the oldest events' evidence dropped (is NATS away?); raise evidence.spool_max_bytes to keep more")
	}
}

// upload moves the spool's events to the bucket, oldest first.
func (r *Recorder) upload(ctx context.Context) {
	defer close(r.upDone)
	wait := r.o.RetryMin
	backoff := func(err error, what string) bool {
		r.log.Warn().Err(err).Dur("retry_in", wait).Msg(what)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, r.o.RetryMax)
		return true
	}
	for ctx.Err() == nil {
		it, name, ok, err := r.spool.Head()
		if err != nil {
			r.dropped.WithLabelValues("unreadable").Inc()
			r.log.Error().Err(err).Msg("evidence dropped")
			continue
		}
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-r.spool.Ready():
			}
			continue
		}
		b := r.bucket.Load()
		if b == nil {
			octx, cancel := context.WithTimeout(ctx, 10*time.Second)
			b, err = OpenBucket(octx, r.js, r.o.Bucket)
			cancel()
			if err != nil {
				if !backoff(err, "evidence bucket not reachable; evidence waits in the spool") {
					return
				}
				continue
			}
			r.bucket.Store(b)
		}
		if err := r.store(ctx, b, it); err != nil {
			if !backoff(err, "evidence not stored yet; it waits in the spool") {
				return
			}
			continue
		}
		wait = r.o.RetryMin
		r.stored.WithLabelValues(it.Record.Event.Camera).Inc() // counted before the spool shows it gone
		r.spool.Remove(name)
	}
}

// store puts it in b and publishes its Record.
func (r *Recorder) store(ctx context.Context, b *Bucket, it *Item) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	it.Record.Stored = time.Now().UTC()
	pruned, err := b.Put(ctx, it)
	if pruned > 0 {
		r.pruned.WithLabelValues(b.Name()).Add(float64(pruned))
		r.log.Info().Int("events", pruned).Str("bucket", b.Name()).Msg("evidence bucket full: the oldest events' evidence deleted")
	}
	if err != nil {
		return err
	}
	data, err := json.Marshal(it.Record)
	if err != nil {
		return err
	}
	ev := it.Record.Event
	msg := &nats.Msg{Subject: Subject(r.o.Prefix, ev.Camera, ev.Rule), Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, MsgID(it.Record))
	_, err = r.js.PublishMsg(ctx, msg)
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		// No stream takes the subject (an events stream made by hand):
		// the record goes out once, without JetStream.
		if !r.coreWarned.Swap(true) {
			r.log.Warn().Str("subject", msg.Subject).Msg("no JetStream stream takes evidence records; they are published without one: add the subject to the events stream to keep them")
		}
		err = r.o.Conn.PublishMsg(msg)
	}
	if err != nil {
		return fmt.Errorf("publish evidence record of %s: %w", ev.ID, err)
	}
	return nil
}

// Close stops taking frames, spools what the encoder holds, and gives the
// uploader up to flush to empty the spool; what is left stays in the
// spool for the next run.
func (r *Recorder) Close(flush time.Duration) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	close(r.jobs)
	r.mu.Unlock()
	if r.worked == nil { // never started
		for j := range r.jobs {
			j.frame.Close()
		}
		r.clips.close()
		for j := range r.clips.in {
			j.img.Close()
		}
		return
	}
	<-r.worked
	r.clips.close() // the clips waiting are made with the frames there are
	<-r.clips.done
	<-r.clipsDone
	deadline := time.Now().Add(flush)
	for r.spool.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r.stop()
	<-r.upDone
}
