package config

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/vigil-vision/vigil/track"
)

// Config is the whole of vigil's configuration. After Parse or Load every
// field holds a value: absent keys take the defaults of Default.
type Config struct {
	LogLevel string `yaml:"log_level"` // debug|info|warn|error
	DataDir  string `yaml:"data_dir"`  // JetStream store, alert spool
	Model    Model  `yaml:"model"`     // the detector named "default"
	// Detectors are more detectors, each serving the cameras that name it
	// (detectors.go).
	Detectors []Detector `yaml:"detectors"`
	Tracker   Tracker    `yaml:"tracker"`
	Cameras   []Camera   `yaml:"cameras"`
	NATS      NATS       `yaml:"nats"`
	HTTP      HTTP       `yaml:"http"`
	Pipeline  Pipeline   `yaml:"pipeline"`
	LiveView  LiveView   `yaml:"liveview"`
	Alerts    Alerts     `yaml:"alerts"`   // rule events: spool, stream, counts (alerts.go)
	Fleet     Fleet      `yaml:"fleet"`    // one node of many sharing cameras (fleet.go)
	Examples  Examples   `yaml:"examples"` // hard-example capture (examples.go)
	Motion    Motion     `yaml:"motion"`   // motion gating of the detector (motion.go)
	Evidence  Evidence   `yaml:"evidence"` // each event's snapshot and thumbnail (evidence.go)
}

// Model configures a detector: the ONNX model, its output decoding, NMS and
// the onnxruntime execution providers.
type Model struct {
	Path string `yaml:"path"` // "" = the caller's default model
	// Store names a model in the model store (vigil model push) instead of
	// a file: NAME follows its promoted version, swapped in when another
	// is promoted; NAME@VERSION pins one.
	Store            string             `yaml:"store"`
	Labels           string             `yaml:"labels"`  // "" = labels from the model metadata
	Decoder          string             `yaml:"decoder"` // auto|yolov8|yolov5|end2end
	Confidence       float64            `yaml:"confidence"`
	ClassConfidence  map[string]float64 `yaml:"class_confidence"` // label or class id -> threshold
	IoU              float64            `yaml:"iou"`
	ClassAgnosticNMS bool               `yaml:"class_agnostic_nms"`
	MaxDetections    int                `yaml:"max_detections"`
	Runtime          string             `yaml:"onnxruntime_lib"` // "" = the caller's default library
	Providers        []string           `yaml:"providers"`       // tried in order: cpu|cuda|tensorrt
	FallbackToCPU    bool               `yaml:"fallback_to_cpu"`
	IntraOpThreads   int                `yaml:"intra_op_threads"` // 0 = onnxruntime's choice
	// IntraOpSpinning is whether onnxruntime's intra-op threads spin ("on")
	// or sleep ("off") while they wait for work; off leaves the cores to
	// capture and decoding (detect.DefaultIntraOpSpinning, bench/README.md).
	IntraOpSpinning string   `yaml:"intra_op_spinning"`
	CUDA            CUDA     `yaml:"cuda"`
	TensorRT        TensorRT `yaml:"tensorrt"`
	// GraphOptimization is onnxruntime's level: all|extended|basic|disabled.
	GraphOptimization string `yaml:"graph_optimization"`
	// OptimizedModelCache keeps the optimized graph between runs (cpu
	// provider only); "" = none.
	OptimizedModelCache string `yaml:"optimized_model_cache"`
	// Shadow checks a store model's candidate version beside the live one
	// (shadow.go); only for store: NAME.
	Shadow Shadow `yaml:"shadow"`
	// Remote runs the model, or its tail, on another node (remote.go).
	Remote Remote `yaml:"remote"`
}

// CUDA configures the CUDA execution provider.
type CUDA struct {
	DeviceID int `yaml:"device_id"`
}

// TensorRT configures the TensorRT execution provider.
type TensorRT struct {
	FP16 bool `yaml:"fp16"`
	// EngineCacheDir keeps built engines between runs: building one takes
	// minutes. "" = no cache.
	EngineCacheDir string `yaml:"engine_cache_dir"`
	DeviceID       int    `yaml:"device_id"`
	// INT8 builds INT8 engines: from the scales inside a QDQ model (vigil
	// model quantize), or from Int8CalibrationTable for a float model.
	INT8                 bool   `yaml:"int8"`
	INT8CalibrationTable string `yaml:"int8_calibration_table"` // a table TensorRT wrote
	WorkspaceMB          int    `yaml:"workspace_mb"`           // 0 = onnxruntime's default
}

// Tracker configures ByteTrack. Scores are detection confidences; match
// thresholds are the minimum overlap for a detection to continue a track:
// IoU × the detection's score in the first association and for unconfirmed
// tracks, plain IoU in the second (low-score) one. new_track_threshold is
// the score a detection needs to start a track, and also to confirm one or
// to find a lost one again. It is track.Config with YAML names: the two
// convert into each other, and the defaults are track.DefaultConfig's.
type Tracker struct {
	HighThreshold             float64 `yaml:"high_threshold"`
	LowThreshold              float64 `yaml:"low_threshold"`
	NewTrackThreshold         float64 `yaml:"new_track_threshold"`
	MatchThreshold            float64 `yaml:"match_threshold"`
	SecondMatchThreshold      float64 `yaml:"second_match_threshold"`
	UnconfirmedMatchThreshold float64 `yaml:"unconfirmed_match_threshold"`
	BufferFrames              int     `yaml:"buffer_frames"` // a lost track is kept this many frames at 30 fps of frame time (30: 1 s), whatever the processed rate
	MinHits                   int     `yaml:"min_hits"`      // hits before a track is confirmed
	ClassAware                bool    `yaml:"class_aware"`   // match only within a class
	ReportSpread              float64 `yaml:"report_spread"` // tracks scoring this many standard deviations below the class's followed objects are not reported; 0: all are
}

// Camera is one video source. The pointer fields are never nil after Parse
// or DemoCamera; nil means the default where a Camera is built in code.
type Camera struct {
	ID            string  `yaml:"id"`             // becomes a NATS subject token
	URL           string  `yaml:"url"`            // see Kind
	Loop          *bool   `yaml:"loop"`           // files: start again at the end
	Realtime      *bool   `yaml:"realtime"`       // files: pace at the file's fps
	RTSPTransport string  `yaml:"rtsp_transport"` // tcp|udp
	FPS           float64 `yaml:"fps"`            // testsrc rate; a cap for others, 0 = none
	Width         int     `yaml:"width"`          // testsrc only
	Height        int     `yaml:"height"`         // testsrc only
	Reconnect     Backoff `yaml:"reconnect"`
	// IOTimeout: a network camera silent this long is reported stalled,
	// and its connection given up a moment later; 0 means 5s.
	IOTimeout Duration `yaml:"io_timeout"`
	Enabled   *bool    `yaml:"enabled"`
	Rules     []Rule   `yaml:"rules,omitempty"` // zones and lines in this camera's picture (alerts.go)
	Detector  string   `yaml:"detector"`        // name of a detectors: entry; "" or "default" = model:
	// Require and Prefer are fleet node labels: only a node with every
	// required label runs the camera; one with the preferred labels gets
	// it first.
	Require []string `yaml:"require,omitempty"`
	Prefer  []string `yaml:"prefer,omitempty"`
	// PasswordFile holds the camera's password, read by the node that
	// runs it; the URL names the user (rtsp://admin@10.0.0.7/stream1).
	// It keeps the password out of the file, and out of a fleet's bucket,
	// which every node can read.
	PasswordFile string `yaml:"password_file,omitempty"`
	// Examples overrides examples: for this camera (examples.go).
	Examples *CameraExamples `yaml:"examples,omitempty"`
	// Motion overrides motion: for this camera, and holds its motion
	// masks (motion.go).
	Motion *CameraMotion `yaml:"motion,omitempty"`
}

// Backoff paces reconnect attempts: for the first Fast of an outage each
// waits about Min; later ones grow to at most Max.
type Backoff struct {
	Min  Duration `yaml:"min"`
	Max  Duration `yaml:"max"`
	Fast Duration `yaml:"fast"` // 0: none
}

// NATS configures the message bus. Secrets are never held here: only the
// files that hold them (or the environment, see ReadSecrets).
type NATS struct {
	URL           string `yaml:"url"`            // "" = start the embedded server
	Listen        string `yaml:"listen"`         // embedded server address, host:port
	JetStream     *bool  `yaml:"jetstream"`      // embedded server only
	SubjectPrefix string `yaml:"subject_prefix"` // one or more subject tokens
	User          string `yaml:"user"`
	PasswordFile  string `yaml:"password_file"` // else env VIGIL_NATS_PASSWORD
	TokenFile     string `yaml:"token_file"`    // else env VIGIL_NATS_TOKEN
	CredsFile     string `yaml:"creds_file"`
	TLS           TLS    `yaml:"tls"`
	MQTT          MQTT   `yaml:"mqtt"` // embedded server only
	// ServerName names the embedded server; every server of a cluster
	// needs its own. "" = vigil-embedded (one server alone).
	ServerName string `yaml:"server_name"`
	// Cluster makes the embedded server one of a NATS cluster: three vigil
	// boxes whose embedded servers route to each other are one NATS, with
	// no server of its own to run. Embedded server only.
	Cluster NATSCluster `yaml:"cluster"`
}

// NATSCluster is the embedded server's part in a NATS cluster; a Name
// turns it on.
type NATSCluster struct {
	Name   string `yaml:"name"`   // the cluster's name, the same on every server
	Listen string `yaml:"listen"` // host:port where the other servers' routes connect
	// Routes are the other servers' cluster addresses, host:port or
	// nats-route://host:port; listing this server too is harmless, so every
	// box can carry the same list.
	Routes []string `yaml:"routes"`
}

// Enabled says whether the embedded server joins a cluster.
func (c NATSCluster) Enabled() bool { return c.Name != "" }

// TLS configures the client side of a TLS connection to NATS.
type TLS struct {
	CA                 string `yaml:"ca"`
	Cert               string `yaml:"cert"`
	Key                string `yaml:"key"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// HTTP configures the web server (live view, metrics).
type HTTP struct {
	Listen string `yaml:"listen"` // host:port; "" or "off" disables
	// TokenFile holds the bearer token that guards the page, the API and
	// WHEP; else env VIGIL_HTTP_TOKEN; neither: open (keep it on 127.0.0.1).
	TokenFile string `yaml:"token_file"`
}

// TrackConfig is the tracker's configuration as package track takes it.
func (t Tracker) TrackConfig() track.Config { return track.Config(t) }

// Enabled reports whether the web server should run.
func (h HTTP) Enabled() bool { return h.Listen != "" && h.Listen != "off" }

// Pipeline configures the stage graph.
type Pipeline struct {
	// MaxFrames stops the pipeline after the detector has taken this many
	// frames over all cameras (frames motion gating held are not counted);
	// 0 = run until stopped. For tests and benchmarks.
	MaxFrames int `yaml:"max_frames"`
	// QueueSize is the per-camera hand-off for lossless sources (files that
	// are not paced in real time); live sources are latest-wins.
	QueueSize int `yaml:"queue_size"`
	// WorkerNice is the nice value (0-19) of vigil's threads around the
	// model: video decoding, letterbox, output decoding, tracking, sinks.
	// Above 0 they take the CPU the model's threads leave idle instead of
	// stalling them; 0 runs them at the process's priority.
	WorkerNice int `yaml:"worker_nice"`
	// OpenCVThreads is how many threads OpenCV's loops (the letterbox
	// resize) use; 0 = OpenCV's default, one per core.
	OpenCVThreads int `yaml:"opencv_threads"`
}

// Defaults that depend on the kind of camera.
const (
	DefaultTestsrcFPS = 10
)

// Default returns a Config with every default set and no cameras: the caller
// adds DemoCamera when the file names none.
func Default() *Config {
	return &Config{
		LogLevel: "info",
		DataDir:  "data",
		Model: Model{
			Decoder:       "auto",
			Confidence:    0.25,
			IoU:           0.45,
			MaxDetections: 300,
			Providers:     []string{ProviderCPU},
			FallbackToCPU: true,
			// detect.DefaultIntraOpSpinning, written out: config does not
			// import detect (and its cgo).
			IntraOpSpinning:   "off",
			GraphOptimization: "all",
			Shadow:            defaultShadow(),
			Remote:            defaultRemote(),
		},
		Tracker: Tracker(track.DefaultConfig()),
		NATS: NATS{
			Listen:        "127.0.0.1:4222",
			JetStream:     boolPtr(true),
			SubjectPrefix: "vigil",
			MQTT:          defaultMQTT(),
		},
		HTTP:     HTTP{Listen: "127.0.0.1:8080"},
		Pipeline: Pipeline{QueueSize: 4},
		LiveView: defaultLiveView(),
		Alerts:   defaultAlerts(),
		Fleet:    defaultFleet(),
		Examples: defaultExamples(),
		Motion:   defaultMotion(),
		Evidence: defaultEvidence(),
	}
}

// defaultCamera holds the defaults of every camera field but ID and URL.
// FPS stays 0 here: its default depends on the kind (DefaultTestsrcFPS).
func defaultCamera() Camera {
	return Camera{
		Loop:          boolPtr(true),
		Realtime:      boolPtr(true),
		RTSPTransport: "tcp",
		Width:         640,
		Height:        480,
		Reconnect: Backoff{
			Min:  Duration(500 * time.Millisecond),
			Max:  Duration(10 * time.Second),
			Fast: Duration(10 * time.Second),
		},
		IOTimeout: Duration(5 * time.Second),
		Enabled:   boolPtr(true),
	}
}

// DemoCamera returns the camera vigil runs when the configuration names none:
// a looping, real-time paced file.
func DemoCamera(videoPath string) Camera {
	c := defaultCamera()
	c.ID = "demo"
	c.URL = videoPath
	return c
}

func boolPtr(b bool) *bool { return &b }

// Camera kinds, as returned by Camera.Kind.
const (
	KindFile    = "file"
	KindRTSP    = "rtsp"
	KindHTTP    = "http"
	KindDevice  = "device"
	KindTestsrc = "testsrc"
)

// Execution providers, as named in Model.Providers.
const (
	ProviderCPU      = "cpu"
	ProviderCUDA     = "cuda"
	ProviderTensorRT = "tensorrt"
)

var (
	devicePattern   = regexp.MustCompile(`^/dev/video[0-9]+$`)
	schemePattern   = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)
	cameraIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// Kind tells what kind of source the camera URL names: rtsp:// and rtsps://
// are KindRTSP, http:// and https:// (MJPEG) KindHTTP, /dev/videoN KindDevice,
// "testsrc" KindTestsrc, and anything without a scheme a file path. Any other
// scheme is an error.
func (c Camera) Kind() (string, error) {
	u := c.URL
	switch {
	case u == "":
		return "", fmt.Errorf("no url; use rtsp://, http(s)://, a file path, /dev/videoN or testsrc")
	case u == "testsrc":
		return KindTestsrc, nil
	case devicePattern.MatchString(u):
		return KindDevice, nil
	}
	m := schemePattern.FindStringSubmatch(u)
	if m == nil {
		return KindFile, nil
	}
	switch strings.ToLower(m[1]) {
	case "rtsp", "rtsps":
		return KindRTSP, nil
	case "http", "https":
		return KindHTTP, nil
	}
	return "", fmt.Errorf("unsupported scheme %q; use rtsp://, http(s)://, a file path or /dev/videoN", m[1])
}

// SourceURL is the URL to open: URL with the password from PasswordFile
// when there is one. The error names the file, never its content.
func (c Camera) SourceURL() (string, error) {
	if c.PasswordFile == "" {
		return c.URL, nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.User == nil {
		return "", fmt.Errorf("camera %s: password_file needs a user in the URL, e.g. rtsp://admin@10.0.0.7/stream1", c.ID)
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("camera %s: read password_file: %w", c.ID, err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("camera %s: password_file %q is empty; put the camera's password in it", c.ID, c.PasswordFile)
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String(), nil
}

// RedactedURL is the URL safe to log: a password in it (rtsp://user:pw@host)
// is replaced by "xxxxx".
func (c Camera) RedactedURL() string {
	m := schemePattern.FindString(c.URL)
	if m == "" {
		return c.URL
	}
	if u, err := url.Parse(c.URL); err == nil {
		return u.Redacted()
	}
	// Unparsable: drop whatever user information the authority may hold.
	rest := c.URL[len(m):]
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		return m + "xxxxx" + rest[at:]
	}
	return c.URL
}

// Redacted returns a copy of c that is safe to log: camera URLs lose their
// passwords. Everything else in a Config is already safe (secrets live in
// files or the environment, see ReadSecrets).
func (c *Config) Redacted() *Config {
	r := *c
	r.Cameras = make([]Camera, len(c.Cameras))
	for i, cam := range c.Cameras {
		cam.URL = cam.RedactedURL()
		r.Cameras[i] = cam
	}
	return &r
}
