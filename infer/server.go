package infer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// DefaultQueue is the queue group servers join when ServerOptions.Queue
// is empty: servers of one subject share its requests.
const DefaultQueue = "vigil-infer"

// ServerOptions configure a Server: exactly one of Detector (a whole model:
// requests carry frames) and Tail (the tail of a split model: requests
// carry the cut tensors).
type ServerOptions struct {
	Conn    *nats.Conn
	Subject string
	Queue   string // DefaultQueue when ""
	// Detector serves a whole model; Source is its digest (FileSource).
	Detector *detect.Detector
	Source   string
	Tail     *detect.Tail
	Logger   zerolog.Logger
}

// Server answers inference requests on a NATS subject, in a queue group so
// that several servers share the load. A request it cannot serve (garbage,
// another model's tensors, a frame that does not decode) gets a reply
// with Error, and the server goes on. Requests are served one at a time,
// in the order they come; the server owns its model while it runs.
type Server struct {
	o    ServerOptions
	info Info
	sub  *nats.Subscription

	mu   sync.Mutex // one request at a time
	dets []detect.Detection
	out  []byte

	served, failed atomic.Uint64
}

// FileSource is a whole model's digest as servers and clients name it:
// "sha256:" and the file's sha256, hex.
func FileSource(path string) (string, error) {
	sum, err := detect.FileSHA256(path)
	if err != nil {
		return "", err
	}
	return "sha256:" + sum, nil
}

// Serve subscribes and serves until Close.
func Serve(o ServerOptions) (*Server, error) {
	if o.Conn == nil || o.Subject == "" {
		return nil, errors.New("infer server: a NATS connection and a subject are needed")
	}
	if (o.Detector == nil) == (o.Tail == nil) {
		return nil, errors.New("infer server: serve a whole model or a tail, one of the two")
	}
	if o.Queue == "" {
		o.Queue = DefaultQueue
	}
	s := &Server{o: o}
	if o.Tail != nil {
		s.info = Info{Part: "tail", Source: o.Tail.Source(), Labels: o.Tail.Labels(), Inputs: o.Tail.Cut()}
	} else {
		w, h := o.Detector.InputSize()
		s.info = Info{Part: "whole", Source: o.Source, Labels: o.Detector.Labels(), InputW: w, InputH: h}
	}
	sub, err := o.Conn.QueueSubscribe(o.Subject, o.Queue, s.handle)
	if err != nil {
		return nil, fmt.Errorf("infer server: subscribe %s: %w", o.Subject, err)
	}
	// A slow model must not cost the connection: requests wait in the
	// subscription, bounded, and a client times out on its own.
	if err := sub.SetPendingLimits(64, 256<<20); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("infer server: %w", err)
	}
	s.sub = sub
	// Ready means the NATS server routes requests here: a client that asks
	// right after gets an answer, not "no responders".
	if err := o.Conn.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("infer server: subscribe %s: %w", o.Subject, err)
	}
	o.Logger.Info().Str("subject", o.Subject).Str("queue", o.Queue).Str("part", s.info.Part).Str("source", s.info.Source).Msg("inference server ready")
	return s, nil
}

// Info is what the server tells a client that asks.
func (s *Server) Info() Info { return s.info }

// Counts are the requests served and those answered with an error.
func (s *Server) Counts() (served, failed uint64) { return s.served.Load(), s.failed.Load() }

// Close stops taking requests; the one being served is answered first.
func (s *Server) Close() error {
	err := s.sub.Unsubscribe()
	s.mu.Lock() // wait for the request in hand
	s.mu.Unlock()
	return err
}

func (s *Server) handle(m *nats.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t0 := time.Now()
	rep, err := s.serve(m.Data)
	if err != nil {
		s.failed.Add(1)
		s.o.Logger.Warn().Err(err).Str("subject", m.Subject).Msg("inference request refused")
		rep = &Reply{Error: err.Error(), Source: s.info.Source}
	} else {
		s.served.Add(1)
	}
	rep.Took = time.Since(t0)
	if m.Reply == "" {
		return // nobody to answer
	}
	b, err := AppendReply(s.out[:0], rep)
	if err != nil {
		b, _ = AppendReply(s.out[:0], &Reply{Error: "infer server: reply: " + err.Error(), Source: s.info.Source})
	}
	s.out = b
	if err := m.Respond(b); err != nil {
		s.o.Logger.Warn().Err(err).Msg("inference reply not sent")
	}
}

func (s *Server) serve(b []byte) (*Reply, error) {
	req, err := ParseRequest(b)
	if err != nil {
		return nil, err
	}
	if req.Kind == KindInfo {
		info := s.info
		return &Reply{Source: s.info.Source, Info: &info}, nil
	}
	if req.Source != "" && req.Source != s.info.Source {
		return nil, fmt.Errorf("this server serves %s (%s), the request is for %s: serve the model the client was given (for a split, the tail written with its head)",
			short(s.info.Source), s.info.Part, short(req.Source))
	}
	switch req.Kind {
	case KindJPEG, KindRaw:
		if s.o.Detector == nil {
			return nil, fmt.Errorf("this server serves a tail: send the cut tensors (%s), not a frame", s.cutNames())
		}
		return s.frame(req)
	case KindTensors:
		if s.o.Tail == nil {
			return nil, errors.New("this server serves a whole model: send a frame, not tensors")
		}
		return s.tensors(req)
	}
	return nil, fmt.Errorf("request kind %s: this server answers info, jpeg, raw and tensors", req.Kind)
}

func (s *Server) frame(req *Request) (*Reply, error) {
	var img gocv.Mat
	var err error
	if req.Kind == KindJPEG {
		img, err = gocv.IMDecode(req.Image, gocv.IMReadColor)
		if err != nil || img.Empty() {
			img.Close()
			return nil, fmt.Errorf("the frame (%d bytes) does not decode as a JPEG", len(req.Image))
		}
	} else {
		if req.Width <= 0 || req.Height <= 0 || req.Width > 1<<14 || req.Height > 1<<14 || len(req.Image) != req.Width*req.Height*3 {
			return nil, fmt.Errorf("raw frame %dx%d needs %d bytes of BGR, %d given", req.Width, req.Height, req.Width*req.Height*3, len(req.Image))
		}
		img, err = gocv.NewMatFromBytes(req.Height, req.Width, gocv.MatTypeCV8UC3, req.Image)
		if err != nil {
			return nil, fmt.Errorf("raw frame: %w", err)
		}
	}
	defer img.Close()
	s.dets, _, err = s.o.Detector.Detect(img, s.dets[:0])
	if err != nil {
		return nil, err
	}
	return &Reply{Source: s.info.Source, Detections: s.dets}, nil
}

func (s *Server) tensors(req *Request) (*Reply, error) {
	cut := s.o.Tail.Cut()
	if len(req.Tensors) != len(cut) {
		return nil, fmt.Errorf("%d tensors sent, the tail takes %d (%s)", len(req.Tensors), len(cut), s.cutNames())
	}
	ins := s.o.Tail.Inputs()
	for i, t := range req.Tensors {
		if t.Name != cut[i].Name || !slices.Equal(t.Shape, cut[i].Shape) {
			return nil, fmt.Errorf("tensor %d is %q %v, the tail takes %q %v: the head and the tail are from different splits",
				i, t.Name, t.Shape, cut[i].Name, cut[i].Shape)
		}
		if err := DecodeTensor(t, ins[i]); err != nil {
			return nil, err
		}
	}
	var err error
	s.dets, _, err = s.o.Tail.Run(s.dets[:0])
	if err != nil {
		return nil, err
	}
	return &Reply{Source: s.info.Source, Detections: s.dets}, nil
}

func (s *Server) cutNames() string {
	var n []string
	for _, c := range s.info.Inputs {
		n = append(n, c.Name)
	}
	return strings.Join(n, ",")
}

// short is a digest's first 12 hex digits, for messages.
func short(source string) string {
	if source == "" {
		return "no model"
	}
	if len(source) > 19 {
		return source[:19]
	}
	return source
}
