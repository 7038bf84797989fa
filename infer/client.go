package infer

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// RemoteOptions configure a Remote detector.
type RemoteOptions struct {
	Conn    *nats.Conn
	Subject string
	// Timeout bounds each request, round trip included (1s when 0): a
	// frame never waits longer for a server.
	Timeout time.Duration
	// Head, when set, runs the head of a split model here and sends the
	// cut tensors in Transport (Uint8 when 0); nil sends the frame as a
	// JPEG of JPEGQuality (90 when 0) to a whole-model server.
	Head        *detect.Head
	Transport   DType
	JPEGQuality int
	// Source, for frames, is the digest of the whole model the server
	// must serve (FileSource of the same file); "" takes the model of the
	// first server that answers.
	Source string
	// Fallback runs the whole model here when no server answers in time,
	// or the one that does cannot serve the frame (an error reply); nil:
	// such a frame fails (pipeline: dropped, counted). Its labels must be
	// the server's.
	Fallback *detect.Detector
}

// ErrNoServer wraps the error of a request that no server answered in
// time, when there is no fallback.
var ErrNoServer = errors.New("no inference server answered")

// Remote is a detector whose model runs on another node, whole or from a
// cut on: its Detect sends the frame (or the cut tensors of the head it
// runs here) over NATS and returns the detections the server found, in
// frame coordinates, as a local detector would. It is a pipeline.Detector.
// Not safe for concurrent use.
type Remote struct {
	o      RemoteOptions
	info   Info
	labels []string

	req                           Request
	buf                           []byte // the encoded request
	quant                         [][]byte
	jpeg                          []int
	fellBack, failed, sent, bytes atomic.Uint64
	rtt                           atomic.Int64 // the last answered request's round trip, ns
	link                          link

	// A clone of a frame, taken when asked for (wantSample) for a Watch to
	// measure what sending costs on this camera's frames.
	wantSample atomic.Bool
	sampleMu   sync.Mutex
	sample     *gocv.Mat
	closed     bool
}

// RemoteStats count a Remote's requests.
type RemoteStats struct {
	Sent     uint64        // requests sent
	Bytes    uint64        // request bytes sent
	Fallback uint64        // frames the local fallback detected, no server having answered
	Failed   uint64        // frames that failed: no server answered, or none could serve them, and no fallback
	RTT      time.Duration // the last answered request's round trip
}

// NewRemote asks the subject's servers what they serve and checks that it
// fits: a whole model for frames, or the tail split with o.Head (the same
// source model, the same cut). With no server answering, it starts anyway
// when it has a fallback (and checks the first server that answers);
// without one it fails, naming the subject.
func NewRemote(o RemoteOptions) (*Remote, error) {
	if o.Conn == nil || o.Subject == "" {
		return nil, errors.New("remote detector: a NATS connection and a subject are needed")
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Transport == 0 {
		o.Transport = Uint8
	}
	if o.Transport.Size() == 0 {
		return nil, fmt.Errorf("remote detector: transport %s: use float32, float16 or uint8", o.Transport)
	}
	if o.JPEGQuality <= 0 {
		o.JPEGQuality = 90
	}
	r := &Remote{o: o, jpeg: []int{gocv.IMWriteJpegQuality, o.JPEGQuality}}
	if o.Head != nil {
		r.req = Request{Kind: KindTensors, Source: o.Head.Source()}
		r.quant = make([][]byte, len(o.Head.Cut()))
	} else {
		r.req = Request{Kind: KindJPEG, Source: o.Source}
	}
	if o.Fallback != nil {
		r.labels = o.Fallback.Labels()
	}
	if o.Head != nil {
		n := 0
		for _, c := range o.Head.Cut() {
			n += c.Len() * o.Transport.Size()
		}
		// 0 while not connected: the server's limit is not known yet.
		if max := o.Conn.MaxPayload(); max > 0 && int64(n) > max {
			return nil, fmt.Errorf("remote detector: the cut at %s is %s a frame, and the NATS server takes messages up to %s: send uint8 or float16 (remote.transport), or raise the NATS servers' max_payload",
				o.Transport, mb(n), mb(int(max)))
		}
	}
	if err := r.check(); err != nil {
		if o.Fallback == nil || !errors.Is(err, ErrNoServer) {
			return nil, err
		}
	}
	return r, nil
}

// check asks for the server's Info and compares it with what this side
// sends.
func (r *Remote) check() error {
	b, err := AppendRequest(nil, &Request{Kind: KindInfo})
	if err != nil {
		return err
	}
	m, err := r.o.Conn.Request(r.o.Subject, b, r.o.Timeout)
	if err != nil {
		return r.noServer(err)
	}
	rep, err := ParseReply(m.Data)
	if err != nil {
		return fmt.Errorf("remote detector: the server on %s: %w", r.o.Subject, err)
	}
	if rep.Error != "" || rep.Info == nil {
		return fmt.Errorf("remote detector: the server on %s does not describe itself: %s", r.o.Subject, rep.Error)
	}
	if err := r.fits(rep.Info); err != nil {
		return fmt.Errorf("remote detector on %s: %w", r.o.Subject, err)
	}
	r.info = *rep.Info
	if r.labels == nil {
		r.labels = rep.Info.Labels
	}
	if r.o.Head == nil && r.o.Source == "" {
		r.req.Source = rep.Info.Source // a server swapped for another model later is refused
	}
	return nil
}

func (r *Remote) fits(in *Info) error {
	if r.o.Fallback != nil && !slices.Equal(r.o.Fallback.Labels(), in.Labels) {
		return fmt.Errorf("the server's model has %d classes (%s), the local fallback %d (%s): give both the same model",
			len(in.Labels), preview(in.Labels), len(r.o.Fallback.Labels()), preview(r.o.Fallback.Labels()))
	}
	h := r.o.Head
	if h == nil {
		if in.Part != "whole" {
			return fmt.Errorf("the server serves a %s of %s, and frames need a whole model: serve the whole model there, or run its head here (model: HEAD.onnx)", in.Part, short(in.Source))
		}
		if r.o.Source != "" && in.Source != r.o.Source {
			return fmt.Errorf("the server serves the model %s, and this node's is %s: serve the same model file on both", short(in.Source), short(r.o.Source))
		}
		return nil
	}
	if in.Part != "tail" {
		return fmt.Errorf("the server serves a %s model, and this head needs its tail: serve tail.onnx from the same split", in.Part)
	}
	if in.Source != h.Source() {
		return fmt.Errorf("the server's tail was split from %s, this head from %s: serve the tail.onnx written with this head.onnx", short(in.Source), short(h.Source()))
	}
	cut := h.Cut()
	same := len(in.Inputs) == len(cut)
	for i := 0; same && i < len(cut); i++ {
		same = in.Inputs[i].Name == cut[i].Name && slices.Equal(in.Inputs[i].Shape, cut[i].Shape)
	}
	if !same {
		return fmt.Errorf("the server's tail starts at %s, this head ends at %s: serve the tail.onnx written with this head.onnx", specs(in.Inputs), specs(cut))
	}
	return nil
}

// Labels are the class names: the fallback's, or the server's.
func (r *Remote) Labels() []string { return r.labels }

// Stats counts the requests so far.
func (r *Remote) Stats() RemoteStats {
	return RemoteStats{Sent: r.sent.Load(), Bytes: r.bytes.Load(), Fallback: r.fellBack.Load(), Failed: r.failed.Load(),
		RTT: time.Duration(r.rtt.Load())}
}

// Link is the link as the answered requests and probes of the last two
// minutes measured it.
func (r *Remote) Link() LinkEstimate { return r.link.estimate(time.Now()) }

// Probe measures the round trip alone: it asks the server to describe
// itself, a request of a few bytes answered at once, and keeps the round
// trip less the server's time for Link. Safe to call beside Detect.
func (r *Remote) Probe() error {
	b, err := AppendRequest(nil, &Request{Kind: KindInfo})
	if err != nil {
		return err
	}
	t0 := time.Now()
	m, err := r.o.Conn.Request(r.o.Subject, b, r.o.Timeout)
	rtt := time.Since(t0)
	if err != nil {
		return r.noServer(err)
	}
	rep, err := ParseReply(m.Data)
	if err != nil {
		return fmt.Errorf("remote detector: probe %s: %w", r.o.Subject, err)
	}
	r.link.add(t0, 0, rtt, rep.Took)
	return nil
}

// takeSample gives a clone of a frame Detect saw since the last call
// (the caller owns it) and asks for the next; nil when none came yet.
func (r *Remote) takeSample() *gocv.Mat {
	r.sampleMu.Lock()
	defer r.sampleMu.Unlock()
	m := r.sample
	r.sample = nil
	r.wantSample.Store(!r.closed)
	return m
}

func (r *Remote) keepSample(img gocv.Mat) {
	r.sampleMu.Lock()
	defer r.sampleMu.Unlock()
	if r.closed || r.sample != nil {
		return
	}
	m := img.Clone()
	r.sample = &m
	r.wantSample.Store(false)
}

// Close lets go of the frame kept for a Watch. The Remote detects no more
// frames after it.
func (r *Remote) Close() error {
	r.sampleMu.Lock()
	defer r.sampleMu.Unlock()
	r.closed = true
	r.wantSample.Store(false)
	if r.sample != nil {
		r.sample.Close()
		r.sample = nil
	}
	return nil
}

// Detect runs the model on a BGR frame, remotely, and appends what it
// finds to dst. Timings: Preprocess is this side's work before sending
// (the head and encoding), Infer the round trip, Postprocess reading the
// reply. With no answer in time, the fallback detects the frame here.
func (r *Remote) Detect(img gocv.Mat, dst []detect.Detection) ([]detect.Detection, detect.Timings, error) {
	var tm detect.Timings
	if r.wantSample.Load() {
		r.keepSample(img)
	}
	t0 := time.Now()
	var lb *detect.Letterbox
	if h := r.o.Head; h != nil {
		l, htm, err := h.Run(img)
		if err != nil {
			return dst, tm, err
		}
		lb = &l
		r.req.Tensors = r.req.Tensors[:0]
		for i, x := range h.Outputs() {
			c := h.Cut()[i]
			t, err := EncodeTensor(c.Name, c.Shape, x, r.o.Transport, r.quant[i])
			if err != nil {
				return dst, tm, err
			}
			r.quant[i] = t.Data
			r.req.Tensors = append(r.req.Tensors, t)
		}
		tm.Infer = htm.Infer // the head's share; the round trip adds to it
	} else {
		b, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, r.jpeg)
		if err != nil {
			return dst, tm, fmt.Errorf("remote detector: encode the frame: %w", err)
		}
		r.req.Image = append(r.req.Image[:0], b.GetBytes()...)
		b.Close()
	}
	var err error
	if r.buf, err = AppendRequest(r.buf[:0], &r.req); err != nil {
		return dst, tm, err
	}
	t1 := time.Now()
	tm.Preprocess = t1.Sub(t0) - tm.Infer
	r.sent.Add(1)
	r.bytes.Add(uint64(len(r.buf)))
	m, err := r.o.Conn.Request(r.o.Subject, r.buf, r.o.Timeout)
	t2 := time.Now()
	tm.Infer += t2.Sub(t1)
	if errors.Is(err, nats.ErrMaxPayload) {
		r.failed.Add(1)
		return dst, tm, fmt.Errorf("remote detector: the request is %s, and the NATS server takes messages up to %s: lower remote.jpeg_quality, send uint8 tensors, or raise the NATS servers' max_payload",
			mb(len(r.buf)), mb(int(r.o.Conn.MaxPayload())))
	}
	if err != nil {
		return r.fallback(img, dst, tm, r.noServer(err))
	}
	r.rtt.Store(int64(t2.Sub(t1)))
	rep, err := ParseReply(m.Data)
	if err == nil && rep.Error != "" {
		err = errors.New(rep.Error)
	}
	if err != nil { // a server that cannot serve this frame: as if none answered
		return r.fallback(img, dst, tm, fmt.Errorf("remote detector on %s: %w", r.o.Subject, err))
	}
	r.link.add(t1, len(r.buf), t2.Sub(t1), rep.Took)
	if r.info.Part == "" {
		if err := r.check(); err != nil { // the first server to answer after a start without one
			return r.fallback(img, dst, tm, err)
		}
	}
	for _, d := range rep.Detections {
		if lb != nil {
			d.Box = lb.ToFrame(d.Box)
			if d.Box.Area() <= 0 {
				continue
			}
		}
		if d.Class >= 0 && d.Class < len(r.labels) {
			d.Label = r.labels[d.Class]
		}
		dst = append(dst, d)
	}
	tm.Postprocess = time.Since(t2)
	return dst, tm, nil
}

// fallback detects img here when no server answered, or none could serve
// the frame; without a fallback the frame fails, counted.
func (r *Remote) fallback(img gocv.Mat, dst []detect.Detection, tm detect.Timings, cause error) ([]detect.Detection, detect.Timings, error) {
	if r.o.Fallback == nil {
		r.failed.Add(1)
		return dst, tm, cause
	}
	r.fellBack.Add(1)
	dst, ftm, err := r.o.Fallback.Detect(img, dst)
	tm.Preprocess += ftm.Preprocess
	tm.Infer += ftm.Infer
	tm.Postprocess += ftm.Postprocess
	return dst, tm, err
}

func (r *Remote) noServer(err error) error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%w on %s: none is subscribed; start one with `vigil serve infer --subject %s`", ErrNoServer, r.o.Subject, r.o.Subject)
	case errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%w on %s within %v", ErrNoServer, r.o.Subject, r.o.Timeout)
	}
	return fmt.Errorf("%w on %s: %v", ErrNoServer, r.o.Subject, err)
}

func mb(n int) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }

func preview(s []string) string {
	if len(s) > 3 {
		return fmt.Sprintf("%s, %s, %s, …", s[0], s[1], s[2])
	}
	return fmt.Sprint(s)
}

func specs(ts []TensorSpec) string {
	var s []string
	for _, t := range ts {
		s = append(s, fmt.Sprintf("%s %v", t.Name, t.Shape))
	}
	return fmt.Sprint(s)
}
