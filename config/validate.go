package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// fraction checks a threshold in (0,1], or in [0,1] when zeroOK.
func (p *problems) fraction(path string, v float64, zeroOK bool) {
	switch {
	case zeroOK && !(v >= 0 && v <= 1):
		p.add(path, "%g out of range; use a value in [0,1]", v)
	case !zeroOK && !(v > 0 && v <= 1):
		p.add(path, "%g out of range; use a value in (0,1]", v)
	}
}

// orList writes "a, b or c".
func orList(items ...string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

var (
	logLevels      = []string{"debug", "info", "warn", "error"}
	decoders       = []string{"auto", "yolov8", "yolov5", "end2end"}
	providers      = []string{ProviderCPU, ProviderCUDA, ProviderTensorRT}
	rtspTransports = []string{"tcp", "udp"}
)

// Validate checks the whole configuration and returns every problem found,
// joined (errors.Join); each is a *FieldError "field.path: problem; fix".
// No cameras is valid here: the caller then runs DemoCamera.
func (c *Config) Validate() error {
	var p problems
	if !contains(logLevels, c.LogLevel) {
		p.add("log_level", "unknown level %q; use %s", c.LogLevel, orList(logLevels...))
	}
	if strings.TrimSpace(c.DataDir) == "" {
		p.add("data_dir", "empty; name a directory for the JetStream store and the alert spool, e.g. data")
	}
	c.Model.validate(&p, "model")
	c.validateDetectors(&p)
	c.Tracker.validate(&p)
	c.validateCameras(&p)
	c.NATS.validate(&p)
	if c.HTTP.Enabled() {
		if msg := checkHostPort(c.HTTP.Listen); msg != "" {
			p.add("http.listen", "%s; e.g. 127.0.0.1:8080, or off to disable", msg)
		}
	}
	if c.Pipeline.MaxFrames < 0 {
		p.add("pipeline.max_frames", "%d is negative; use 0 to run until stopped", c.Pipeline.MaxFrames)
	}
	if c.Pipeline.WorkerNice < 0 || c.Pipeline.WorkerNice > 19 {
		p.add("pipeline.worker_nice", "%d; use a nice value from 0 (the process's priority) to 19 (the lowest)", c.Pipeline.WorkerNice)
	}
	if c.Pipeline.OpenCVThreads < 0 {
		p.add("pipeline.opencv_threads", "%d is negative; use 0 for OpenCV's default or a thread count", c.Pipeline.OpenCVThreads)
	}
	if c.Pipeline.QueueSize < 1 {
		p.add("pipeline.queue_size", "%d; use 1 or more frames", c.Pipeline.QueueSize)
	}
	c.LiveView.validate(&p)
	c.validateAlerts(&p)
	c.Fleet.validate(&p, &c.NATS)
	c.validateExamples(&p)
	c.validateMotion(&p)
	c.validateEvidence(&p)
	return errors.Join(p...)
}

// storeRef is a model in the model store: NAME or NAME@VERSION.
var storeRef = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}(@[1-9][0-9]{0,8})?$`)

// validate checks a model: the top-level one at path "model", a detector's
// at "detectors[i].model".
func (m *Model) validate(p *problems, path string) {
	if m.Store != "" {
		if !storeRef.MatchString(m.Store) {
			p.add(path+".store", "%q; name a model as NAME (its promoted version) or NAME@VERSION, NAME of letters, digits, _ and -, at most 64", m.Store)
		}
		if m.Path != "" {
			p.add(path+".store", "a store model and path %q: set one of them", m.Path)
		}
	}
	if !contains(decoders, m.Decoder) {
		p.add(path+".decoder", "unknown decoder %q; use %s", m.Decoder, orList(decoders...))
	}
	p.fraction(path+".confidence", m.Confidence, false)
	// In the order of the classes, not of the map: one file, one report.
	for _, class := range slices.Sorted(maps.Keys(m.ClassConfidence)) {
		v := m.ClassConfidence[class]
		at := fmt.Sprintf("%s.class_confidence[%q]", path, class)
		if strings.TrimSpace(class) == "" {
			p.add(at, "empty class; use a label such as person or a class id such as 0")
		}
		p.fraction(at, v, false)
	}
	p.fraction(path+".iou", m.IoU, false)
	if m.MaxDetections < 1 {
		p.add(path+".max_detections", "%d; use 1 or more", m.MaxDetections)
	}
	if len(m.Providers) == 0 {
		p.add(path+".providers", "empty; list one or more of %s", strings.Join(providers, ", "))
	}
	seen := map[string]bool{}
	for i, name := range m.Providers {
		at := fmt.Sprintf("%s.providers[%d]", path, i)
		switch {
		case !contains(providers, name):
			p.add(at, "unknown provider %q; use %s", name, orList(providers...))
		case seen[name]:
			p.add(at, "duplicate %q; list each provider once", name)
		}
		seen[name] = true
	}
	if m.IntraOpThreads < 0 {
		p.add(path+".intra_op_threads", "%d is negative; use 0 for onnxruntime's default or a thread count", m.IntraOpThreads)
	}
	if m.IntraOpSpinning != "on" && m.IntraOpSpinning != "off" {
		p.add(path+".intra_op_spinning", "%q; use off (threads sleep while they wait, leaving the cores to capture and decoding) or on (they spin)", m.IntraOpSpinning)
	}
	if m.CUDA.DeviceID < 0 {
		p.add(path+".cuda.device_id", "%d is negative; use a GPU index such as 0", m.CUDA.DeviceID)
	}
	if m.TensorRT.DeviceID < 0 {
		p.add(path+".tensorrt.device_id", "%d is negative; use a GPU index such as 0", m.TensorRT.DeviceID)
	}
	if m.TensorRT.INT8CalibrationTable != "" && !m.TensorRT.INT8 {
		p.add(path+".tensorrt.int8_calibration_table", "set, but %s.tensorrt.int8 is false; set int8: true to use it", path)
	}
	if m.TensorRT.WorkspaceMB < 0 {
		p.add(path+".tensorrt.workspace_mb", "%d is negative; use 0 for onnxruntime's default or a size in MiB", m.TensorRT.WorkspaceMB)
	}
	if levels := []string{"all", "extended", "basic", "disabled"}; !contains(levels, m.GraphOptimization) {
		p.add(path+".graph_optimization", "unknown level %q; use %s", m.GraphOptimization, orList(levels...))
	}
	m.Shadow.validate(p, path+".shadow")
	m.Remote.validate(p, path+".remote")
	if m.Remote.Subject != "" && m.Store != "" {
		p.add(path+".remote.subject", "a store model runs here; remote takes a model file (path): a whole model or a split's head.onnx")
	}
}

func (t *Tracker) validate(p *problems) {
	p.fraction("tracker.high_threshold", t.HighThreshold, false)
	p.fraction("tracker.low_threshold", t.LowThreshold, true)
	p.fraction("tracker.new_track_threshold", t.NewTrackThreshold, false)
	p.fraction("tracker.match_threshold", t.MatchThreshold, false)
	p.fraction("tracker.second_match_threshold", t.SecondMatchThreshold, false)
	p.fraction("tracker.unconfirmed_match_threshold", t.UnconfirmedMatchThreshold, false)
	if t.LowThreshold >= t.HighThreshold {
		p.add("tracker.low_threshold", "must be below tracker.high_threshold (%g >= %g)", t.LowThreshold, t.HighThreshold)
	}
	if t.BufferFrames < 1 {
		p.add("tracker.buffer_frames", "%d; use 1 or more frames", t.BufferFrames)
	}
	if t.MinHits < 1 {
		p.add("tracker.min_hits", "%d; use 1 or more", t.MinHits)
	}
	if !(t.ReportSpread >= 0 && t.ReportSpread <= 10) {
		p.add("tracker.report_spread", "%g; use 0 (report every confirmed track) to 10 standard deviations, e.g. 1.5", t.ReportSpread)
	}
}

func (c *Config) validateCameras(p *problems) {
	firstUse := map[string]int{}
	for i, cam := range c.Cameras {
		path := fmt.Sprintf("cameras[%d]", i)
		if cameraIDPattern.MatchString(cam.ID) {
			if j, dup := firstUse[cam.ID]; dup {
				p.add(path+".id", "duplicate %q; camera ids must be unique (cameras[%d] has it too)", cam.ID, j)
			} else {
				firstUse[cam.ID] = i
			}
		}
		cam.validate(p, path)
		c.validateCameraDetector(p, path, cam)
	}
}

// validate checks what a camera can be checked for on its own: not its
// rules (validateRules), nor whether its id is unique and its detector
// exists, which take the whole Config. path is "" for a camera alone.
func (cam *Camera) validate(p *problems, path string) {
	at := func(key string) string { return joinPath(path, key) }
	switch {
	case cam.ID == "":
		p.add(at("id"), "required; name the camera with 1-64 letters, digits, _ or - (it becomes a NATS subject token)")
	case !cameraIDPattern.MatchString(cam.ID):
		p.add(at("id"), "%q is not a valid id; use 1-64 letters, digits, _ or - (it becomes a NATS subject token)", cam.ID)
	}
	kind, err := cam.Kind()
	switch {
	case cam.URL == "":
		p.add(at("url"), "required; use rtsp://, http(s)://, a file path, /dev/videoN or testsrc")
	case err != nil:
		p.add(at("url"), "%s", err.Error())
	}
	switch kind {
	case KindRTSP, KindHTTP:
		u, err := url.Parse(cam.URL)
		switch {
		case err != nil:
			p.add(at("url"), "%q is not a valid URL; e.g. rtsp://192.168.1.10:554/stream", cam.RedactedURL())
		case u.Host == "":
			p.add(at("url"), "%q has no host; e.g. rtsp://192.168.1.10:554/stream", cam.RedactedURL())
		}
	}
	if !contains(rtspTransports, cam.RTSPTransport) {
		p.add(at("rtsp_transport"), "unknown transport %q; use %s", cam.RTSPTransport, orList(rtspTransports...))
	}
	switch {
	case !(cam.FPS >= 0) || math.IsInf(cam.FPS, 0):
		p.add(at("fps"), "%g; use 0 for no cap or a frame rate such as 10", cam.FPS)
	case kind == KindTestsrc && cam.FPS == 0:
		p.add(at("fps"), "0; a testsrc needs a frame rate above 0, e.g. %d", DefaultTestsrcFPS)
	}
	for _, d := range []struct {
		name string
		v    int
	}{{"width", cam.Width}, {"height", cam.Height}} {
		if d.v < 0 || (kind == KindTestsrc && d.v == 0) {
			p.add(at(d.name), "%d; use a size in pixels such as 640x480", d.v)
		}
	}
	lo, hi := cam.Reconnect.Min, cam.Reconnect.Max
	if lo <= 0 {
		p.add(at("reconnect.min"), "%s; use a pause above 0, e.g. 500ms", lo)
	}
	if hi <= 0 {
		p.add(at("reconnect.max"), "%s; use a pause above 0, e.g. 30s", hi)
	}
	if lo > 0 && hi > 0 && lo > hi {
		p.add(at("reconnect.max"), "%s is below reconnect.min %s; make min <= max", hi, lo)
	}
	if cam.IOTimeout != 0 && cam.IOTimeout < Duration(100*time.Millisecond) {
		p.add(at("io_timeout"), "%s; use at least 100ms, e.g. 5s (0: 5s)", cam.IOTimeout)
	}
	if cam.PasswordFile != "" {
		u, err := url.Parse(cam.URL)
		switch {
		case kind != KindRTSP && kind != KindHTTP:
			p.add(at("password_file"), "only for rtsp:// and http(s):// cameras")
		case err != nil || u.User == nil:
			p.add(at("password_file"), "needs a user in the URL, e.g. rtsp://admin@10.0.0.7/stream1")
		default:
			if _, set := u.User.Password(); set {
				p.add(at("password_file"), "the URL holds a password too; keep it in the file only")
			}
		}
	}
	validateLabels(p, at("require"), cam.Require)
	validateLabels(p, at("prefer"), cam.Prefer)
}

func (n *NATS) validate(p *problems) {
	if n.URL != "" {
		validateNATSURL(p, n.URL)
	}
	switch {
	case n.Listen == "" && n.URL == "":
		p.add("nats.listen", "empty; the embedded server needs an address, e.g. 127.0.0.1:4222")
	case n.Listen != "":
		if msg := checkHostPort(n.Listen); msg != "" {
			p.add("nats.listen", "%s; e.g. 127.0.0.1:4222", msg)
		}
	}
	validateSubjectPrefix(p, n.SubjectPrefix)
	if n.PasswordFile != "" && n.User == "" {
		p.add("nats.password_file", "needs nats.user; name the NATS user the password belongs to")
	}
	if n.TLS.Cert != "" && n.TLS.Key == "" {
		p.add("nats.tls.cert", "needs nats.tls.key, the certificate's private key file")
	}
	if n.TLS.Key != "" && n.TLS.Cert == "" {
		p.add("nats.tls.key", "needs nats.tls.cert, the certificate file")
	}
	if n.ServerName != "" && !serverNamePattern.MatchString(n.ServerName) {
		p.add("nats.server_name", "%q; use 1-64 letters, digits, ., _ or -", n.ServerName)
	}
	n.Cluster.validate(p, n)
}

var (
	serverNamePattern  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	clusterNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// validate checks the cluster as the embedded server would take it; like
// the other embedded-server keys it is not used with nats.url.
func (c *NATSCluster) validate(p *problems, n *NATS) {
	if !c.Enabled() {
		if c.Listen != "" || len(c.Routes) > 0 {
			p.add("nats.cluster.name", "empty, but nats.cluster has listen or routes; name the cluster (the same name on every server), e.g. vigil-plant")
		}
		return
	}
	if !clusterNamePattern.MatchString(c.Name) {
		p.add("nats.cluster.name", "%q; use 1-64 letters, digits, _ or -", c.Name)
	}
	if n.ServerName == "" {
		p.add("nats.server_name", "empty, but the embedded server is in a cluster: every server needs its own name, e.g. vigil-line-3")
	}
	if msg := checkHostPort(c.Listen); msg != "" {
		p.add("nats.cluster.listen", "%s; the address other servers' routes reach, e.g. 0.0.0.0:6222", msg)
	}
	for i, r := range c.Routes {
		if _, err := RouteURL(r); err != nil {
			p.add(fmt.Sprintf("nats.cluster.routes[%d]", i), "%v", err)
		}
	}
}

// RouteURL turns a route as written (host:port or nats-route://host:port)
// into the URL nats-server takes.
func RouteURL(route string) (*url.URL, error) {
	s := route
	if !strings.Contains(s, "://") {
		s = "nats-route://" + s
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q: %v; write host:port, e.g. 10.0.0.12:6222", route, err)
	case u.Scheme != "nats-route" && u.Scheme != "nats":
		return nil, fmt.Errorf("%q: scheme %q; write host:port or nats-route://host:port", route, u.Scheme)
	case u.Hostname() == "" || u.Port() == "":
		return nil, fmt.Errorf("%q: no host or port; write host:port, e.g. 10.0.0.12:6222", route)
	}
	if port, err := strconv.Atoi(u.Port()); err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("%q: port %q; use 1-65535", route, u.Port())
	}
	return u, nil
}

// validateNATSURL checks a server list as nats.go takes it: comma-separated,
// the scheme optional (nats:// is assumed).
func validateNATSURL(p *problems, list string) {
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			p.add("nats.url", "%q has an empty entry; separate server URLs with single commas", list)
			continue
		}
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		u, err := url.Parse(s)
		if err != nil {
			p.add("nats.url", "%q is not a valid URL; e.g. nats://127.0.0.1:4222", redactUserinfo(s))
			continue
		}
		if !contains([]string{"nats", "tls", "ws", "wss"}, strings.ToLower(u.Scheme)) {
			p.add("nats.url", "unsupported scheme %q; use nats://, tls://, ws:// or wss://", u.Scheme)
		}
		if u.Host == "" {
			p.add("nats.url", "%q has no host; e.g. nats://127.0.0.1:4222", u.Redacted())
		}
		if u.User != nil {
			p.add("nats.url", "%q holds credentials; use nats.user with nats.password_file, or nats.token_file, so that no secret is in the config", u.Redacted())
		}
	}
}

func redactUserinfo(s string) string {
	return Camera{URL: s}.RedactedURL()
}

func validateSubjectPrefix(p *problems, prefix string) {
	if prefix == "" {
		p.add("nats.subject_prefix", "empty; use a subject such as vigil")
		return
	}
	for _, tok := range strings.Split(prefix, ".") {
		switch {
		case tok == "":
			p.add("nats.subject_prefix", "%q has an empty token; separate tokens with single dots, e.g. site1.vigil", prefix)
			return
		case strings.ContainsAny(tok, "*> \t\r\n"):
			p.add("nats.subject_prefix", "%q holds a space or a wildcard (* or >); use letters, digits, - and _, e.g. site1.vigil", prefix)
			return
		}
	}
}

// checkHostPort returns "" for a valid "host:port" (host may be empty: all
// interfaces) and otherwise what is wrong.
func checkHostPort(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q has port %q, not a number from 0 to 65535", s, port)
	}
	return ""
}

// CheckFiles reports the files the configuration names that do not exist or
// are not regular files: camera files and devices, model, labels, runtime
// library, secrets and TLS files. These are warnings, not errors: a camera's
// file may appear after start, and the capture reports it at run time.
// Relative paths are taken from the working directory.
func (c *Config) CheckFiles() []error {
	var p problems
	check := func(path, name string) {
		if name == "" {
			return
		}
		fi, err := os.Stat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			p.add(path, "%q does not exist", name)
		case err != nil:
			p.add(path, "%v", err)
		case fi.IsDir():
			p.add(path, "%q is a directory; name a file", name)
		}
	}
	for i, cam := range c.Cameras {
		if cam.Enabled != nil && !*cam.Enabled {
			continue
		}
		if kind, err := cam.Kind(); err == nil && (kind == KindFile || kind == KindDevice) {
			check(fmt.Sprintf("cameras[%d].url", i), cam.URL)
		}
	}
	check("model.path", c.Model.Path)
	check("model.labels", c.Model.Labels)
	check("model.onnxruntime_lib", c.Model.Runtime)
	check("model.remote.plan.profile", c.Model.Remote.Plan.Profile)
	check("model.remote.plan.remote_profile", c.Model.Remote.Plan.RemoteProfile)
	for i, d := range c.Detectors {
		// What a detector inherits from model: was checked there.
		path := fmt.Sprintf("detectors[%d].model", i)
		for _, f := range []struct{ key, name, top string }{
			{"path", d.Model.Path, c.Model.Path},
			{"labels", d.Model.Labels, c.Model.Labels},
			{"onnxruntime_lib", d.Model.Runtime, c.Model.Runtime},
			{"remote.plan.profile", d.Model.Remote.Plan.Profile, c.Model.Remote.Plan.Profile},
			{"remote.plan.remote_profile", d.Model.Remote.Plan.RemoteProfile, c.Model.Remote.Plan.RemoteProfile},
		} {
			if f.name != f.top {
				check(path+"."+f.key, f.name)
			}
		}
	}
	check("nats.password_file", c.NATS.PasswordFile)
	check("nats.token_file", c.NATS.TokenFile)
	check("nats.creds_file", c.NATS.CredsFile)
	check("nats.tls.ca", c.NATS.TLS.CA)
	check("nats.tls.cert", c.NATS.TLS.Cert)
	check("nats.tls.key", c.NATS.TLS.Key)
	check("http.token_file", c.HTTP.TokenFile)
	for i, t := range c.LiveView.ICE.TURN {
		check(fmt.Sprintf("liveview.ice.turn[%d].credential_file", i), t.CredentialFile)
	}
	return p
}
