package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/evidence"
	"github.com/vigil-vision/vigil/fleet"
	"github.com/vigil-vision/vigil/internal/cvthreads"
	"github.com/vigil-vision/vigil/liveview"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/sinks"
)

// alertsFlush bounds how long a stopping node waits for the spool to reach
// NATS; what is left stays on disk for the next start.
const alertsFlush = 5 * time.Second

// Options configure a Node.
type Options struct {
	Logger zerolog.Logger
	// Load reads the desired state again (the config file, with the
	// command line's overrides) for Reload; nil: the node has no file.
	Load func() (*config.Config, error)
	// OpenMats counts gocv Mats still open, for the last log line; nil or
	// negative: not counted.
	OpenMats func() int
	// Version is vigil's, told to the fleet.
	Version string
}

// Node is one running vigil.
type Node struct {
	o     Options
	log   zerolog.Logger
	reg   *prometheus.Registry
	start time.Time

	nc        *nats.Conn
	natsd     *sinks.Embedded // nil with an external server
	stopNATS  func()
	pub       *sinks.TracksPublisher
	stopPub   context.CancelFunc
	pubDone   chan struct{}
	alerts    atomic.Pointer[alerts.Alerts]     // nil until a camera has rules
	examples  *examplesState                    // nil unless a camera captures examples
	evidence  atomic.Pointer[evidence.Recorder] // nil until a camera has rules (or with evidence off)
	stopIndex func()                            // stops the events API's index; nil without one
	live      *liveview.Server                  // nil without HTTP
	web       *sinks.HTTPServer
	token     string
	p         *pipeline.Pipeline
	overlays  atomic.Pointer[map[string][]config.Rule]
	models    atomic.Pointer[map[string]string] // detector → model@version, for readers that must not wait for a change
	store     storeModels                       // the model store, and the watches of the names detectors follow
	shadows   shadowState                       // candidate models checked beside the live ones (shadow.go)
	desired   atomic.Pointer[config.Config]     // cfg, for readers that must not wait for a change
	reloadReq chan struct{}

	fleet    fleetState                   // the cameras the fleet handed this node
	member   atomic.Pointer[fleet.Member] // nil until joined, or without a fleet
	fleetErr atomic.Pointer[error]        // why the node has not joined yet

	mu   sync.Mutex // one change at a time; guards cfg and dets
	cfg  *config.Config
	dets map[string]*detector
	// remotes are the remote detectors (model.remote) by name, for their
	// metrics (remoteCollector).
	remotes sync.Map

	status statusBoard
	closed bool // n.mu held
}

// Start brings a node up on cfg (valid, as config.Parse returns it): the
// detectors its cameras use, NATS, the publisher, the rules, the live view
// and the HTTP server. Run runs it.
func Start(cfg *config.Config, o Options) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	n := &Node{o: o, log: o.Logger, start: time.Now(), reg: prometheus.NewRegistry(), dets: map[string]*detector{}, reloadReq: make(chan struct{}, 1),
		fleet: fleetState{ids: map[string]bool{}}}
	defer func() {
		if err != nil {
			n.shutdown(false)
		}
	}()
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), remoteCollector{&n.remotes})
	n.status.init(n.reg)
	n.status.log = n.logReport
	cvthreads.Set(cfg.Pipeline.OpenCVThreads)

	// NATS first: a detector may run a model from the store in it.
	if n.nc, n.natsd, n.stopNATS, err = connectNATS(cfg, n.log); err != nil {
		return nil, err
	}
	plan, err := n.prepare(cfg)
	if err != nil {
		return nil, err
	}
	var groups, idle []pipeline.Group
	for _, name := range plan.load {
		d := plan.loaded[name]
		n.dets[name] = d
		g := pipeline.Group{Name: name, Detector: d.det, Labels: d.det.Labels(), Model: d.model, Cameras: plan.served[name]}
		if len(g.Cameras) == 0 {
			idle, g.Cameras = append(idle, g), nil // New wants groups with cameras
			continue
		}
		groups = append(groups, g)
	}

	po := sinks.PublisherOptions{
		Prefix: cfg.NATS.SubjectPrefix, Registerer: n.reg, Logger: n.log, // the publisher names its stage
	}
	if cfg.Fleet.Enabled {
		if po.Node, err = cfg.Fleet.NodeName(); err != nil {
			return nil, err
		}
		po.Fence = n.fence
	}
	n.pub, err = sinks.NewTracksPublisher(n.nc, po)
	if err != nil {
		return nil, err
	}
	pubCtx, stopPub := context.WithCancel(context.Background())
	n.stopPub, n.pubDone = stopPub, make(chan struct{})
	go func() { defer close(n.pubDone); n.pub.Run(pubCtx) }()

	if len(plan.rules) > 0 {
		if err := n.startAlerts(cfg, plan.rules); err != nil {
			return nil, err
		}
	}
	n.setOverlays(cfg)
	if cfg.ExamplesUsed() {
		if err := n.startExamples(cfg); err != nil {
			return nil, err
		}
	}

	if cfg.HTTP.Enabled() {
		if n.token, err = cfg.HTTPToken(); err != nil {
			return nil, err
		}
		var fleetView liveview.Options
		if cfg.Fleet.Enabled {
			fleetView = liveview.Options{Node: po.Node, Remote: n.remoteCameras, Forward: n.forwardCamera}
		}
		if n.live, err = newLiveView(cfg, plan.cameras, n.overlay, fleetView, n.reg, n.log); err != nil {
			return nil, err
		}
	}
	sinkList := []pipeline.Sink{sinks.NATSSink{Publisher: n.pub}, pipeline.SinkFunc(n.observeRules), pipeline.SinkFunc(n.observeShadow)}
	if n.examples != nil {
		sinkList = append(sinkList, pipeline.SinkFunc(n.observeExamples))
	}
	var taps []pipeline.Tap
	if cfg.EvidenceOn() {
		taps = append(taps, evidenceTap{n}) // clips: the cameras' last seconds
	}
	if n.live != nil {
		sinkList = append(sinkList, n.live)
		taps = append(taps, n.live)
	}
	n.p, err = pipeline.New(pipeline.Options{
		Cameras: plan.cameras, Groups: groups, Tracker: cfg.Tracker.TrackConfig(),
		Sinks: sinkList, MaxFrames: cfg.Pipeline.MaxFrames, QueueSize: cfg.Pipeline.QueueSize, WorkerNice: cfg.Pipeline.WorkerNice,
		Registry: n.reg, Logger: n.log, Taps: taps, Gates: gatesOf(cfg, plan.rules),
	})
	if err != nil {
		return nil, err
	}
	for _, g := range idle {
		if err := n.p.AddGroup(g); err != nil {
			return nil, err
		}
	}
	n.setDesired(cfg)
	n.followModels(cfg)
	if cfg.HTTP.Enabled() {
		if err := n.startHTTP(cfg); err != nil {
			return nil, err
		}
	}
	n.status.started()
	ids := make([]string, len(plan.cameras))
	for i, c := range plan.cameras {
		ids[i] = c.ID() + "=" + c.Status().URL
	}
	n.log.Info().Strs("cameras", ids).Str("nats", sinks.RedactURL(n.nc.ConnectedUrlRedacted())).
		Str("subjects", sinks.TracksSubject(cfg.NATS.SubjectPrefix, "<camera>")).Msg("vigil running")
	return n, nil
}

// observeRules runs the cameras' rules on every processed frame, in the
// pipeline's sink goroutine; an event costs one synced spool write.
func (n *Node) observeRules(r *pipeline.Result) {
	if al := n.alerts.Load(); al != nil {
		f := r.Frame
		if msgs := al.Observe(f.Camera, f.Seq, f.Time, f.Image.Cols(), f.Image.Rows(), r.Tracks, r.Labels); len(msgs) > 0 {
			n.captureEvidence(r, msgs) // after the events are accepted: evidence never delays them
		}
	}
}

// Run runs the pipeline until ctx ends (or, with max_frames or files that
// end, until it is done), answering reload requests meanwhile, then stops
// everything, flushing what it holds: tracks, then alerts to NATS.
//
// In a fleet, the node joins it and runs the cameras it is handed; when
// ctx ends it gives their leases up first, so that other nodes take them
// while this one stops.
func (n *Node) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	reloads := make(chan struct{})
	go func() { defer close(reloads); n.serveReloads(runCtx) }()
	fleetDone := make(chan struct{})
	go func() {
		defer close(fleetDone)
		if cfg := n.Config(); cfg.Fleet.Enabled {
			n.runFleet(runCtx, cfg)
		}
	}()
	runErr := n.p.Run(runCtx)
	cancel()
	<-reloads
	<-fleetDone
	n.shutdown(true)
	return runErr
}

// Member is the node's part in its fleet; nil without one, or before it
// has joined.
func (n *Node) Member() *fleet.Member { return n.member.Load() }

// RequestReload asks for the file to be read and applied again, soon, on
// the node's own goroutine (SIGHUP). Requests that come while one waits
// are one request: a storm of them ends in the file's last state.
func (n *Node) RequestReload() {
	select {
	case n.reloadReq <- struct{}{}:
	default:
	}
}

func (n *Node) serveReloads(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.reloadReq:
			n.Reload("file") // its result is logged and kept in the status
		}
	}
}

// Reload reads the desired state again (Options.Load) and applies it.
func (n *Node) Reload(source string) (Report, error) {
	if n.o.Load == nil {
		err := errors.New("this vigil was started without --config: there is no file to reload; start it with --config FILE, or change cameras through /api/config/cameras")
		return n.status.failed(source, err), err
	}
	cfg, err := n.o.Load()
	if err != nil {
		return n.status.failed(source, err), err
	}
	return n.Change(source, func(running *config.Config) (*config.Config, error) {
		return n.withFleetCameras(cfg, running)
	})
}

// Addr is the HTTP server's address; "" without one.
func (n *Node) Addr() string {
	if n.web == nil {
		return ""
	}
	return n.web.Addr()
}

// Config is the desired state the node runs now; the caller must not
// change it.
func (n *Node) Config() *config.Config { return n.desired.Load() }

// setDesired makes cfg the running state; n.mu held (or at start).
func (n *Node) setDesired(cfg *config.Config) {
	n.cfg = cfg
	n.desired.Store(cfg)
	models := map[string]string{}
	for name, d := range n.dets {
		models[name] = d.model
	}
	n.models.Store(&models)
}

// Pipeline is the node's pipeline.
func (n *Node) Pipeline() *pipeline.Pipeline { return n.p }

// Registry holds the node's metrics.
func (n *Node) Registry() *prometheus.Registry { return n.reg }

// shutdown stops what Start started, in order; after a run it flushes and
// logs the last line.
func (n *Node) shutdown(ran bool) {
	// Wait for a change in progress, refuse the next ones; then stop
	// without holding the lock, so that API requests waiting for it get
	// their answer and the HTTP server can stop.
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()
	n.stopModels()
	n.stopShadows() // before the detectors close, and the Mats are counted
	if n.live != nil {
		n.live.Close() // ends viewers and streams, so the HTTP server stops at once
	}
	if n.pub != nil {
		n.stopPub()
		<-n.pubDone
		if err := n.pub.Close(); err != nil {
			n.log.Warn().Err(err).Msg("flushing NATS")
		}
	}
	if al := n.alerts.Load(); al != nil {
		if err := al.Close(alertsFlush); err != nil {
			n.log.Warn().Err(err).Msg("alerts not all delivered; they stay in the spool for the next start")
		}
		st := al.Stats()
		n.log.Info().Uint64("accepted", st.Accepted).Uint64("published", st.Published).Int("spooled", st.Pending).
			Uint64("dropped", st.Dropped).Msg("alerts stopped")
	}
	n.stopEvidence()
	n.stopExamples() // stores what is queued, closing its Mats
	for name, d := range n.dets {
		d.close() // before counting Mats: their resize buffers are some
		delete(n.dets, name)
	}
	if n.stopIndex != nil {
		n.stopIndex()
	}
	if n.web != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		n.web.Shutdown(sctx)
		cancel()
	}
	if n.stopNATS != nil {
		n.stopNATS()
	}
	if ran {
		st := n.pub.Stats()
		ev := n.log.Info().Int64("processed", n.p.Processed()).Uint64("published", st.Published).
			Uint64("publish_dropped", st.Dropped).Uint64("publish_errors", st.Errors).
			Uint64("config_generation", n.status.generation()).
			Str("uptime", time.Since(n.start).Round(time.Millisecond).String())
		for _, c := range n.p.Cameras() {
			pr, dr := n.p.CameraCounts(c.ID())
			ev = ev.Str("camera_"+c.ID(), fmt.Sprintf("processed=%d dropped=%d", pr, dr))
		}
		if n.o.OpenMats != nil {
			if m := n.o.OpenMats(); m >= 0 {
				ev = ev.Int("mats_open", m) // built with -tags matprofile
			}
		}
		ev.Msg("vigil stopped")
	}
}

// connectNATS starts the embedded server unless nats.url names one, and
// connects to it.
func connectNATS(cfg *config.Config, log zerolog.Logger) (*nats.Conn, *sinks.Embedded, func(), error) {
	url := cfg.NATS.URL
	var emb *sinks.Embedded
	if url == "" {
		host, portStr, err := net.SplitHostPort(cfg.NATS.Listen)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("nats.listen %q: %w", cfg.NATS.Listen, err)
		}
		port, _ := strconv.Atoi(portStr)
		if port == 0 {
			port = -1 // any free port
		}
		js := cfg.NATS.JetStream == nil || *cfg.NATS.JetStream
		var cluster sinks.ClusterOptions
		if c := cfg.NATS.Cluster; c.Enabled() {
			cluster = sinks.ClusterOptions{Name: c.Name, Listen: c.Listen}
			for _, r := range c.Routes {
				u, err := config.RouteURL(r) // valid: the config was validated
				if err != nil {
					return nil, nil, nil, err
				}
				cluster.Routes = append(cluster.Routes, u)
			}
		}
		emb, err = sinks.StartEmbedded(sinks.EmbeddedOptions{
			Host: host, Port: port, JetStream: js, StoreDir: cfg.DataDir, // nats-server adds jetstream/ itself
			MQTTListen: mqttListen(cfg), ServerName: cfg.NATS.ServerName, Cluster: cluster,
			Logger: log.With().Str("stage", "nats").Logger(),
		})
		if err != nil {
			return nil, nil, nil, err
		}
		url = emb.ClientURL()
	}
	password, token, err := cfg.ReadSecrets()
	if err != nil {
		if emb != nil {
			emb.Shutdown()
		}
		return nil, nil, nil, err
	}
	nc, err := sinks.Connect(sinks.ConnOptions{
		URL: url, Name: "vigil", User: cfg.NATS.User, Password: password, Token: token,
		CredsFile: cfg.NATS.CredsFile, TLSCA: cfg.NATS.TLS.CA, TLSCert: cfg.NATS.TLS.Cert, TLSKey: cfg.NATS.TLS.Key,
		TLSInsecureSkipVerify: cfg.NATS.TLS.InsecureSkipVerify, Logger: log.With().Str("stage", "nats").Logger(),
	})
	if err != nil {
		if emb != nil {
			emb.Shutdown()
		}
		return nil, nil, nil, err
	}
	return nc, emb, func() {
		nc.Close()
		if emb != nil {
			emb.Shutdown()
		}
	}, nil
}

// mqttListen is the embedded server's MQTT address, "" when off.
func mqttListen(cfg *config.Config) string {
	if !cfg.NATS.MQTT.Enabled {
		return ""
	}
	return cfg.NATS.MQTT.Listen
}

// sourceConfig is captureConfig with the URL to open: the password from
// the camera's password_file in it.
func sourceConfig(c config.Camera) (capture.Config, error) {
	cc := captureConfig(c)
	var err error
	cc.URL, err = c.SourceURL()
	return cc, err
}

// captureConfig maps a camera of the config to the capture package's.
func captureConfig(c config.Camera) capture.Config {
	b := func(p *bool, def bool) bool {
		if p == nil {
			return def
		}
		return *p
	}
	return capture.Config{
		ID: c.ID, URL: c.URL, Loop: b(c.Loop, true), Realtime: b(c.Realtime, true),
		RTSPTransport: c.RTSPTransport, FPS: c.FPS, Width: c.Width, Height: c.Height,
		Backoff:   capture.Backoff{Min: c.Reconnect.Min.D(), Max: c.Reconnect.Max.D(), Fast: cmp.Or(c.Reconnect.Fast.D(), -1)},
		IOTimeout: c.IOTimeout.D(),
	}
}
