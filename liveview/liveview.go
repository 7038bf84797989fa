package liveview

import (
	"errors"
	"fmt"
	"image"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/pipeline"
)

// Options configure a Server. Zero values take the defaults in brackets.
type Options struct {
	Cameras []*capture.Camera // the cameras served at first, by ID; AddCamera adds more
	Codec   string            // "vp8" [vp8] or "h264" (a build with -tags x264)
	Bitrate int               // each camera encoder's target, bits per second [1500000]
	MaxFPS  float64           // frames per second drawn and sent at most [30]
	// ProcessedOnly draws only the frames the detector processed, with their
	// own tracks, instead of every captured frame with predicted tracks.
	ProcessedOnly bool
	ICE           ICE
	// Overlay returns a camera's rule zones and lines in the pixels of a
	// frame of the given size; nil draws none. It is called for every frame
	// drawn, from the camera's drawing goroutine, so it may follow rule
	// changes by itself.
	Overlay  func(camera string, width, height int) Overlay
	Registry prometheus.Registerer // nil: metrics are kept but not exported
	Logger   zerolog.Logger

	// In a fleet: Node is this node's name; Remote lists the fleet's
	// cameras that other nodes run, shown on the page with their owner;
	// Forward serves a request for a camera not run here from its owner
	// (a proxy), reporting whether it did. nil: none.
	Node    string
	Remote  func() []RemoteCamera
	Forward func(w http.ResponseWriter, r *http.Request, camera string) bool
}

// RemoteCamera is a fleet camera another node runs.
type RemoteCamera struct {
	Camera, Node, State string
}

// ICE configures how browsers reach the WebRTC sessions. With no servers
// the answer holds host candidates only, which is enough on a LAN.
type ICE struct {
	STUN       []string // stun:host:port
	TURN       []TURN
	UDPPortMin uint16 // both 0: any port
	UDPPortMax uint16
	NAT1To1IPs []string // public addresses that replace the host's own
	// Loopback gathers 127.0.0.1 candidates and nothing else: for tests, and
	// for a browser on this host started with --allow-loopback-in-peer-connection.
	Loopback bool
}

// TURN is one relay server with its long-term credential.
type TURN struct {
	URL, Username, Credential string
}

// Overlay is what the rules of a camera draw on its frames.
type Overlay struct {
	Zones []Zone
	Lines []Line
}

// Zone is a named polygon in frame pixels.
type Zone struct {
	Name   string
	Points []image.Point
}

// Line is a named counting line, drawn as an arrow from A to B.
type Line struct {
	Name string
	A, B image.Point
}

// Server is the live view of a set of cameras, which may change while it
// runs (AddCamera, RemoveCamera). It is a pipeline.Tap and a pipeline.Sink;
// Register adds its routes to an HTTP mux.
type Server struct {
	opts    Options
	log     zerolog.Logger
	m       *metrics
	codec   *codecSpec
	api     *webrtc.API
	iceJSON []iceServerJSON

	// edit serialises AddCamera, RemoveCamera and Close, which may wait for
	// a camera's goroutines; mu only guards the map, so that the tap and
	// the sink, which read it per frame, never wait for that.
	edit   sync.Mutex
	mu     sync.RWMutex
	cams   map[string]*camera
	order  []string // camera IDs in the order they were added
	closed atomic.Bool
}

var (
	_ pipeline.Tap  = (*Server)(nil)
	_ pipeline.Sink = (*Server)(nil)
)

// New checks the options, builds the WebRTC stack and starts one idle
// drawing goroutine per camera. It may have no cameras yet.
func New(o Options) (*Server, error) {
	if o.Codec == "" {
		o.Codec = "vp8"
	}
	spec, ok := codecSpecs[o.Codec]
	if !ok {
		if o.Codec == "h264" {
			return nil, errors.New(`liveview.codec "h264": this binary was built without H.264; build with -tags x264 (needs libx264-dev), or use vp8`)
		}
		return nil, fmt.Errorf("liveview.codec %q: unknown; use %s", o.Codec, strings.Join(codecNames(), " or "))
	}
	if o.Bitrate <= 0 {
		o.Bitrate = 1_500_000
	}
	if !(o.MaxFPS > 0) {
		o.MaxFPS = 30
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	s := &Server{
		opts: o, log: o.Logger.With().Str("stage", "liveview").Logger(),
		codec: spec, cams: map[string]*camera{},
	}
	var err error
	if s.api, s.iceJSON, err = newAPI(o.ICE, spec); err != nil {
		return nil, err
	}
	if spec.name == "vp8" {
		if err := checkVP8Speed(); err != nil {
			s.log.Warn().Err(err).Msg("VP8 encodes at libvpx's default speed, which costs several times more CPU")
		}
	}
	seen := map[string]bool{}
	for _, c := range o.Cameras {
		if seen[c.ID()] {
			return nil, fmt.Errorf("liveview: camera %q twice", c.ID())
		}
		seen[c.ID()] = true
	}
	s.m = newMetrics(o.Registry)
	for _, c := range o.Cameras {
		s.addCamera(c)
	}
	return s, nil
}

// AddCamera starts serving src: a new tile on the page (which polls
// /api/live), with its own drawing goroutine and metric series. Until then
// the tap and the sink ignore src's frames. It fails for an ID already
// served and after Close.
func (s *Server) AddCamera(src *capture.Camera) error {
	s.edit.Lock()
	defer s.edit.Unlock()
	if s.closed.Load() {
		return fmt.Errorf("liveview: add camera %q: the live view is closed", src.ID())
	}
	if s.camera(src.ID()) != nil {
		return fmt.Errorf("liveview: add camera %q: already served", src.ID())
	}
	s.addCamera(src)
	return nil
}

// addCamera starts serving src; s.edit held (or s not yet shared).
func (s *Server) addCamera(src *capture.Camera) {
	c := newCamera(s, src)
	s.m.initCamera(c.id)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.drawLoop()
	}()
	s.mu.Lock()
	s.cams[c.id] = c
	s.order = append(s.order, c.id)
	s.mu.Unlock()
}

// RemoveCamera stops serving camera id; an ID it does not serve is
// ignored. Its WebRTC sessions end, its MJPEG streams and waiting snapshot
// requests are answered, its encoder and drawing goroutine have stopped and
// every frame it held is closed when RemoveCamera returns, and its metric
// series are deleted. From then on its frames and results are ignored, its
// routes answer 404, and the ID may be added again. The other cameras'
// viewers are not touched.
func (s *Server) RemoveCamera(id string) {
	s.edit.Lock()
	defer s.edit.Unlock()
	s.mu.Lock()
	c := s.cams[id]
	if c != nil {
		delete(s.cams, id)
		s.order = slices.DeleteFunc(s.order, func(x string) bool { return x == id })
	}
	s.mu.Unlock()
	if c == nil {
		return
	}
	c.stop("camera removed")
	s.m.deleteCamera(id)
	c.log.Info().Msg("camera removed from the live view")
}

// camera is the camera served as id, or nil. The tap and the sink call it
// per frame: it only holds the read lock for the lookup.
func (s *Server) camera(id string) *camera {
	s.mu.RLock()
	c := s.cams[id]
	s.mu.RUnlock()
	return c
}

// cameras lists the cameras served now, in the order they were added.
func (s *Server) cameras() []*camera {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*camera, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.cams[id])
	}
	return out
}

// Frame is the pipeline tap: it clones f's image only while someone
// watches the camera, and only as often as MaxFPS allows.
func (s *Server) Frame(f *capture.Frame) {
	if s.opts.ProcessedOnly {
		return
	}
	c := s.camera(f.Camera)
	if c == nil || !c.active.Load() || s.closed.Load() {
		return
	}
	if !c.admit(f.Read) {
		return
	}
	c.in.put(&job{img: f.Image.Clone(), at: f.Read, seq: f.Seq})
}

// Consume is the pipeline sink: it keeps each camera's latest tracks (and,
// with ProcessedOnly, queues the processed frame itself for drawing).
func (s *Server) Consume(r *pipeline.Result) {
	c := s.camera(r.Frame.Camera)
	if c == nil || s.closed.Load() {
		return
	}
	res := c.setResult(r)
	if s.opts.ProcessedOnly && c.active.Load() && c.admit(r.Frame.Read) {
		c.in.put(&job{img: r.Frame.Image.Clone(), at: r.Frame.Read, seq: r.Frame.Seq, res: res})
	}
}

// Close ends every viewer session, stops the encoders and the drawing
// goroutines, and closes every frame still held. Call it after the pipeline
// has stopped; frames given after Close are ignored.
func (s *Server) Close() {
	s.edit.Lock()
	defer s.edit.Unlock()
	if s.closed.Swap(true) {
		return
	}
	cams := s.cameras()
	for _, c := range cams {
		c.shutdown("server closing")
	}
	for _, c := range cams {
		c.wait()
	}
}

// Viewers is the number of WebRTC viewers camera has now.
func (s *Server) Viewers(camera string) int {
	c := s.camera(camera)
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

// cameraIDs lists the served cameras, for error messages.
func (s *Server) cameraIDs() string {
	s.mu.RLock()
	ids := slices.Clone(s.order)
	s.mu.RUnlock()
	if len(ids) == 0 {
		return "none"
	}
	sort.Strings(ids)
	return strings.Join(ids, ", ")
}

// now is the wall clock; one place to change for tests.
var now = time.Now
