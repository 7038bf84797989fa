package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/cvthreads"
	"github.com/vigil-vision/vigil/internal/jsonnum"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/sinks"
)

// stringsFlag collects a repeatable flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// runFlags override the config file, field by field.
type runFlags struct {
	config, logLevel, logFormat, model, runtime, http, natsURL, natsListen, dataDir string
	sources                                                                         stringsFlag
	maxFrames, threads                                                              int
	realtime                                                                        bool
	set                                                                             map[string]bool
}

func parseRunFlags(args []string, stderr io.Writer) (*runFlags, error) {
	f := &runFlags{set: map[string]bool{}}
	fs := flag.NewFlagSet("vigil run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "YAML config `file` (default: the demo)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (overrides log_level)")
	fs.StringVar(&f.logFormat, "log-format", "auto", "auto (console on a terminal, JSON otherwise), console or json")
	fs.StringVar(&f.model, "model", "", "ONNX detector `path` (overrides model.path)")
	fs.StringVar(&f.runtime, "onnxruntime-lib", "", "libonnxruntime.so `path` (overrides model.onnxruntime_lib)")
	fs.StringVar(&f.http, "http", "", "HTTP listen `address`, or off (overrides http.listen)")
	fs.StringVar(&f.natsURL, "nats-url", "", "external NATS `url` (overrides nats.url; default: embedded server)")
	fs.StringVar(&f.natsListen, "nats-listen", "", "embedded NATS `address` (overrides nats.listen)")
	fs.StringVar(&f.dataDir, "data-dir", "", "`dir` for JetStream and state (overrides data_dir)")
	fs.Var(&f.sources, "source", "camera `url` (repeatable; replaces the config's cameras, ids cam1, cam2, …)")
	fs.IntVar(&f.maxFrames, "max-frames", 0, "stop after `n` processed frames (overrides pipeline.max_frames)")
	fs.IntVar(&f.threads, "threads", 0, "onnxruntime intra-op `threads` (overrides model.intra_op_threads)")
	fs.BoolVar(&f.realtime, "realtime", true, "pace --source files at their frame rate (false: as fast as possible, no drops)")
	if err := parseFlagsOnly(fs, args); err != nil {
		return nil, err
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return f, nil
}

// loadConfig reads the file (or the demo defaults) and applies the flags.
func loadConfig(f *runFlags) (*config.Config, error) {
	cfg := config.Default()
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
	}
	if f.set["log-level"] {
		cfg.LogLevel = f.logLevel
	}
	if f.set["model"] {
		cfg.Model.Path = f.model
	}
	if f.set["onnxruntime-lib"] {
		cfg.Model.Runtime = f.runtime // one library per process: every detector's
		for i := range cfg.Detectors {
			cfg.Detectors[i].Model.Runtime = f.runtime
		}
	}
	if f.set["http"] {
		cfg.HTTP.Listen = f.http
	}
	if f.set["nats-url"] {
		cfg.NATS.URL = f.natsURL
	}
	if f.set["nats-listen"] {
		cfg.NATS.Listen = f.natsListen
	}
	if f.set["data-dir"] {
		cfg.DataDir = f.dataDir
	}
	if f.set["max-frames"] {
		cfg.Pipeline.MaxFrames = f.maxFrames
	}
	if f.set["threads"] {
		cfg.Model.IntraOpThreads = f.threads
	}
	if len(f.sources) > 0 {
		cfg.Cameras = nil
		for i, s := range f.sources {
			c := config.DemoCamera(s)
			c.ID = "cam" + strconv.Itoa(i+1)
			c.Realtime = &f.realtime
			c.Loop = &f.realtime // a file read as fast as possible ends; a paced one loops like a camera
			cfg.Cameras = append(cfg.Cameras, c)
		}
	}
	if len(cfg.Cameras) == 0 {
		cfg.Cameras = []config.Camera{config.DemoCamera(assets.Media("vtest.avi"))}
	}
	if err := cfg.Validate(); err != nil {
		name := f.config
		if name == "" {
			name = "flags"
		}
		return nil, fmt.Errorf("invalid configuration (%s):\n%w", name, err)
	}
	return cfg, nil
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	f, err := parseRunFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(f)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel, f.logFormat)
	if err != nil {
		return err
	}
	ctx, stop := signalContext(log)
	defer stop()
	return runPipeline(ctx, cfg, log)
}

// signalContext ends on SIGINT or SIGTERM; a second signal exits at once.
func signalContext(log zerolog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s, ok := <-ch
		if !ok {
			return
		}
		log.Info().Str("signal", s.String()).Msg("shutting down: finishing frames in flight (signal again to quit at once)")
		cancel()
		if _, ok := <-ch; ok {
			log.Warn().Msg("second signal: quitting without flushing")
			os.Exit(130)
		}
	}()
	return ctx, func() { signal.Stop(ch); close(ch); cancel() }
}

// detectorOptions maps a model section of the config to a detector.
func detectorOptions(m config.Model, log zerolog.Logger) detect.Options {
	cc := map[string]float32{}
	for k, v := range m.ClassConfidence {
		cc[k] = float32(v)
	}
	path := m.Path
	if path == "" {
		path = assets.Model()
	}
	return detect.Options{
		Model: path, Labels: m.Labels, Decoder: m.Decoder,
		Confidence: float32(m.Confidence), ClassConfidence: cc,
		IoU: float32(m.IoU), ClassAgnostic: m.ClassAgnosticNMS, MaxDetections: m.MaxDetections,
		Providers: m.Providers, FallbackToCPU: m.FallbackToCPU, IntraOpThreads: m.IntraOpThreads,
		IntraOpSpinning: m.IntraOpSpinning, CUDADeviceID: m.CUDA.DeviceID,
		TensorRT: detect.TensorRTOptions{DeviceID: m.TensorRT.DeviceID, FP16: m.TensorRT.FP16, EngineCacheDir: m.TensorRT.EngineCacheDir,
			INT8: m.TensorRT.INT8, INT8CalibrationTable: m.TensorRT.INT8CalibrationTable, WorkspaceBytes: int64(m.TensorRT.WorkspaceMB) << 20},
		GraphOptimization: m.GraphOptimization, OptimizedModelCache: m.OptimizedModelCache,
		Logger: log.With().Str("stage", "detect").Logger(),
	}
}

func runtimePath(cfg *config.Config) string {
	if cfg.Model.Runtime != "" {
		return cfg.Model.Runtime
	}
	return assets.Library()
}

// namedDetector is one detector of the config (model: is "default") and
// the cameras it serves.
type namedDetector struct {
	name    string
	det     *detect.Detector
	cameras []string
}

// startDetectors loads every detector that an enabled camera uses, each
// with its own model, execution providers and threads. The detectors keep
// detections down to the tracker's low threshold: ByteTrack's second
// association needs them, and only confirmed tracks leave vigil.
func startDetectors(cfg *config.Config, log zerolog.Logger) ([]namedDetector, error) {
	if err := detect.InitRuntime(runtimePath(cfg)); err != nil {
		return nil, err
	}
	served := map[string][]string{}
	for _, c := range cfg.Cameras {
		if c.Enabled == nil || *c.Enabled {
			served[cfg.DetectorOf(c)] = append(served[cfg.DetectorOf(c)], c.ID)
		}
	}
	index := map[string]int{}
	for i, d := range cfg.Detectors {
		index[d.Name] = i
	}
	var out []namedDetector
	for _, d := range cfg.DetectorModels() {
		path := "model" // where the detector's options stand in the config
		if d.Name != config.DefaultDetector {
			path = fmt.Sprintf("detectors[%d].model", index[d.Name])
		}
		dlog := log.With().Str("detector", d.Name).Logger()
		o := detectorOptions(d.Model, dlog)
		o.ConfigPath = path
		o.Confidence = min(o.Confidence, float32(cfg.Tracker.LowThreshold))
		det, err := detect.New(o)
		if err != nil {
			closeDetectors(out)
			if d.Name != config.DefaultDetector {
				err = fmt.Errorf("detector %q: %w", d.Name, err)
			}
			return nil, err
		}
		out = append(out, namedDetector{name: d.Name, det: det, cameras: served[d.Name]})
		w, h := det.InputSize()
		dlog.Info().Str("model", o.Model).Str("decoder", det.Layout().String()).Int("classes", len(det.Labels())).
			Str("input", fmt.Sprintf("%dx%d", w, h)).Strs("providers", det.Providers()).Int("intra_op_threads", d.Model.IntraOpThreads).
			Strs("cameras", served[d.Name]).Msg("detector ready")
	}
	return out, nil
}

func closeDetectors(ds []namedDetector) {
	for _, d := range ds {
		d.det.Close()
	}
}

func runPipeline(ctx context.Context, cfg *config.Config, log zerolog.Logger) (err error) {
	start := time.Now()
	cvthreads.Set(cfg.Pipeline.OpenCVThreads)
	dets, err := startDetectors(cfg, log)
	if err != nil {
		return err
	}
	defer func() { closeDetectors(dets) }() // early returns; the end of the run closes them itself
	groups := make([]pipeline.Group, len(dets))
	labels := map[string][]string{}
	for i, d := range dets {
		groups[i] = pipeline.Group{Name: d.name, Detector: d.det, Labels: d.det.Labels(), Cameras: d.cameras}
		labels[d.name] = d.det.Labels()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	nc, shutdownNATS, err := connectNATS(cfg, log)
	if err != nil {
		return err
	}
	defer shutdownNATS()
	pub, err := sinks.NewTracksPublisher(nc, sinks.PublisherOptions{
		Prefix: cfg.NATS.SubjectPrefix, Registerer: reg, Logger: log.With().Str("stage", "publish").Logger(),
	})
	if err != nil {
		return err
	}
	pubCtx, stopPub := context.WithCancel(context.Background())
	pubDone := make(chan struct{})
	go func() { defer close(pubDone); pub.Run(pubCtx) }()

	al, err := startAlerts(cfg, nc, func(detector string) []string { return labels[detector] }, reg, log)
	if err != nil {
		stopPub()
		return err
	}
	sinkList := []pipeline.Sink{sinks.NATSSink{Publisher: pub}}
	if al != nil {
		defer al.Close(0) // early returns; the shutdown below flushes first
		sinkList = append(sinkList, alertsSink(al))
	}

	var cams []*capture.Camera
	for _, c := range cfg.Cameras {
		if c.Enabled != nil && !*c.Enabled {
			continue
		}
		cam, err := capture.New(captureConfig(c), log)
		if err != nil {
			stopPub()
			return err
		}
		cams = append(cams, cam)
	}
	live, err := newLiveView(cfg, cams, reg, log)
	if err != nil {
		stopPub()
		return err
	}
	if live != nil {
		defer live.Close() // early returns; after the run it closes before the HTTP server
	}
	liveSinks, liveTaps := liveViewParts(live)
	sinkList = append(sinkList, liveSinks...)
	p, err := pipeline.New(pipeline.Options{
		Cameras: cams, Groups: groups, Tracker: cfg.Tracker.TrackConfig(),
		Sinks: sinkList, MaxFrames: cfg.Pipeline.MaxFrames, QueueSize: cfg.Pipeline.QueueSize, WorkerNice: cfg.Pipeline.WorkerNice,
		Registry: reg, Logger: log, Taps: liveTaps,
	})
	if err != nil {
		stopPub()
		return err
	}

	var web *sinks.HTTPServer
	if cfg.HTTP.Enabled() {
		token, err := cfg.HTTPToken()
		if err != nil {
			stopPub()
			return err
		}
		web, err = sinks.StartHTTP(sinks.HTTPOptions{
			Listen: cfg.HTTP.Listen, Gatherer: reg, Logger: log, Token: token,
			Health:  func() sinks.Health { return health(p, cams, pubDone) },
			Cameras: func() any { return cameraStates(p, cams) },
		})
		if err != nil {
			stopPub()
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			web.Shutdown(sctx)
		}()
		log.Info().Str("url", "http://"+web.Addr()).Msg("http: /healthz /metrics /api/cameras")
		serveLiveView(live, web, token != "", log)
	}
	ids := make([]string, len(cams))
	for i, c := range cams {
		ids[i] = c.ID() + "=" + c.Status().URL
	}
	log.Info().Strs("cameras", ids).Str("nats", sinks.RedactURL(nc.ConnectedUrlRedacted())).
		Str("subjects", sinks.TracksSubject(cfg.NATS.SubjectPrefix, "<camera>")).Msg("vigil running")

	runErr := p.Run(ctx)
	if live != nil {
		live.Close() // ends viewers and streams, so the HTTP server stops at once
	}

	// Flush: the publisher sends what is queued, then NATS shuts down.
	stopPub()
	<-pubDone
	if err := pub.Close(); err != nil {
		log.Warn().Err(err).Msg("flushing NATS")
	}
	if al != nil {
		if err := al.Close(alertsFlush); err != nil {
			log.Warn().Err(err).Msg("alerts not all delivered; they stay in the spool for the next start")
		}
		st := al.Stats()
		log.Info().Uint64("accepted", st.Accepted).Uint64("published", st.Published).Int("spooled", st.Pending).
			Uint64("dropped", st.Dropped).Msg("alerts stopped")
	}
	closeDetectors(dets) // before counting Mats: their resize buffers are some
	dets = nil
	st := pub.Stats()
	ev := log.Info().Int64("processed", p.Processed()).Uint64("published", st.Published).
		Uint64("publish_dropped", st.Dropped).Uint64("publish_errors", st.Errors).
		Str("uptime", time.Since(start).Round(time.Millisecond).String())
	for _, c := range cams {
		pr, dr := p.CameraCounts(c.ID())
		ev = ev.Str("camera_"+c.ID(), fmt.Sprintf("processed=%d dropped=%d", pr, dr))
	}
	if n := openMats(); n >= 0 {
		ev = ev.Int("mats_open", n) // built with -tags matprofile
	}
	ev.Msg("vigil stopped")
	return runErr
}

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
		Backoff: capture.Backoff{Min: c.Reconnect.Min.D(), Max: c.Reconnect.Max.D()},
	}
}

// connectNATS starts the embedded server unless nats.url names one, and
// connects to it.
func connectNATS(cfg *config.Config, log zerolog.Logger) (*nats.Conn, func(), error) {
	url := cfg.NATS.URL
	var emb *sinks.Embedded
	if url == "" {
		host, portStr, err := net.SplitHostPort(cfg.NATS.Listen)
		if err != nil {
			return nil, nil, fmt.Errorf("nats.listen %q: %w", cfg.NATS.Listen, err)
		}
		port, _ := strconv.Atoi(portStr)
		if port == 0 {
			port = -1 // any free port
		}
		js := cfg.NATS.JetStream == nil || *cfg.NATS.JetStream
		emb, err = sinks.StartEmbedded(sinks.EmbeddedOptions{
			Host: host, Port: port, JetStream: js, StoreDir: cfg.DataDir, // nats-server adds jetstream/ itself
			MQTTListen: mqttListen(cfg),
			Logger:     log.With().Str("stage", "nats").Logger(),
		})
		if err != nil {
			return nil, nil, err
		}
		url = emb.ClientURL()
	}
	password, token, err := cfg.ReadSecrets()
	if err != nil {
		if emb != nil {
			emb.Shutdown()
		}
		return nil, nil, err
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
		return nil, nil, err
	}
	return nc, func() {
		nc.Close()
		if emb != nil {
			emb.Shutdown()
		}
	}, nil
}

// health is ready when every stage runs and the publisher is alive.
func health(p *pipeline.Pipeline, cams []*capture.Camera, pubDone <-chan struct{}) sinks.Health {
	stages := p.Stages()
	select {
	case <-pubDone:
		stages["publish"] = false
	default:
		stages["publish"] = true
	}
	ready := len(stages) >= 3+len(cams)
	for _, up := range stages {
		ready = ready && up
	}
	return sinks.Health{Ready: ready, Stages: stages, Cameras: cameraStates(p, cams)}
}

type cameraState struct {
	capture.Status
	Detector  string `json:"detector"` // the detectors: entry serving it; "default" is model:
	Processed uint64 `json:"processed"`
	Dropped   uint64 `json:"dropped"`
}

func cameraStates(p *pipeline.Pipeline, cams []*capture.Camera) []cameraState {
	out := make([]cameraState, 0, len(cams))
	for _, c := range cams {
		pr, dr := p.CameraCounts(c.ID())
		s := c.Status()
		s.FPS = jsonnum.Round(s.FPS, 2)
		out = append(out, cameraState{Status: s, Detector: p.DetectorOf(c.ID()), Processed: pr, Dropped: dr})
	}
	return out
}
