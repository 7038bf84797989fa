package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, path ...string) *Config {
	t.Helper()
	cfg, err := Load(filepath.Join(append([]string{"testdata"}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// shared lists the pointers, slices and maps that a and b, two values of one
// type, hold in common: none for a deep copy.
func shared(a, b reflect.Value, path string) []string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return nil
		}
		if a.Pointer() == b.Pointer() {
			return []string{path}
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Map:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			return []string{path}
		}
	case reflect.Slice:
		if a.Len() == 0 || b.Len() == 0 {
			return nil
		}
		if a.Pointer() == b.Pointer() {
			return []string{path}
		}
		var out []string
		for i := 0; i < min(a.Len(), b.Len()); i++ {
			out = append(out, shared(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case reflect.Struct:
		var out []string
		for i := 0; i < a.NumField(); i++ {
			out = append(out, shared(a.Field(i), b.Field(i), joinPath(path, a.Type().Field(i).Name))...)
		}
		return out
	}
	return nil
}

func ids(c *Config) string {
	var s []string
	for _, cam := range c.Cameras {
		s = append(s, cam.ID+"@"+cam.URL)
	}
	return strings.Join(s, " ")
}

func TestWithCamera(t *testing.T) {
	parsed := func(yaml string) Camera {
		cam, err := ParseCamera([]byte(yaml), "test")
		if err != nil {
			t.Fatal(err)
		}
		return cam
	}
	noJetStream := func(c *Config) { c.NATS.JetStream = boolPtr(false) }
	cases := []struct {
		name  string
		base  func(*Config) // changes the fixture first
		cam   Camera
		want  string // ids@urls after, or
		error string // the whole error
	}{
		{name: "replaced in place", cam: parsed("id: dock-2\nurl: rtsp://10.0.0.9/s\ndetector: docks\n"),
			want: "gate-1@testsrc dock-1@testsrc dock-2@rtsp://10.0.0.9/s yard@testsrc gate-2@testsrc"},
		{name: "appended", cam: parsed(`{"id": "gate-3", "url": "testsrc", "detector": "forklifts"}`),
			want: "gate-1@testsrc dock-1@testsrc dock-2@testsrc yard@testsrc gate-2@testsrc gate-3@testsrc"},
		{name: "unknown detector", cam: parsed("id: gate-3\nurl: testsrc\ndetector: dcoks\n"),
			error: `cameras[5].detector: unknown detector "dcoks"; did you mean "docks"? (known: default, docks, forklifts, spare)`},
		{name: "invalid camera built in code", cam: Camera{ID: "yard", URL: "rtmp://x", RTSPTransport: "tcp", Reconnect: Backoff{Min: 1, Max: 1}},
			error: `cameras[3].url: unsupported scheme "rtmp"; use rtsp://, http(s)://, a file path or /dev/videoN`},
		{name: "rules without JetStream", base: noJetStream,
			cam:   parsed("id: gate-1\nurl: testsrc\nrules: [{name: door, type: line, points: [[0, 0], [9, 9]]}]\n"),
			error: "nats.jetstream: false, but cameras have rules; their events go to JetStream: set nats.jetstream: true"},
		{name: "rules with JetStream", cam: parsed("id: gate-1\nurl: testsrc\nrules: [{name: door, type: line, points: [[0, 0], [9, 9]]}]\n"),
			want: "gate-1@testsrc dock-1@testsrc dock-2@testsrc yard@testsrc gate-2@testsrc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := load(t, "good", "detectors.yaml")
			if tc.base != nil {
				tc.base(orig)
			}
			before := cloneConfig(orig)
			got, err := orig.WithCamera(tc.cam)
			if !reflect.DeepEqual(orig, before) {
				t.Fatal("WithCamera changed the config it was called on")
			}
			if tc.error != "" {
				if got != nil || err == nil || err.Error() != tc.error {
					t.Fatalf("got %v, %v; want the error %s", got != nil, err, tc.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != tc.want {
				t.Errorf("cameras %s\nwant    %s", ids(got), tc.want)
			}
			i := got.cameraIndex(tc.cam.ID)
			if !reflect.DeepEqual(got.Cameras[i], tc.cam) {
				t.Errorf("camera %+v\nwant %+v", got.Cameras[i], tc.cam)
			}
			if s := shared(reflect.ValueOf(*got), reflect.ValueOf(*orig), ""); len(s) > 0 {
				t.Errorf("shares with the original: %s", s)
			}
			if s := shared(reflect.ValueOf(got.Cameras[i]), reflect.ValueOf(tc.cam), ""); len(s) > 0 {
				t.Errorf("shares with the camera given: %s", s)
			}
			// Changing the copy leaves the original alone.
			*got.Cameras[0].Enabled = !*got.Cameras[0].Enabled
			got.Model.ClassConfidence["person"] = 0.9
			got.Detectors[0].Model.Providers[0] = ProviderCUDA
			if !reflect.DeepEqual(orig, before) {
				t.Error("changing the result changed the original")
			}
		})
	}
}

func TestWithoutCamera(t *testing.T) {
	cases := []struct {
		id   string
		want string // ids@urls after; "" with ok false
		ok   bool
	}{
		{"dock-1", "gate-1@testsrc dock-2@testsrc yard@testsrc gate-2@testsrc", true},
		{"gate-2", "gate-1@testsrc dock-1@testsrc dock-2@testsrc yard@testsrc", true},
		{"dock-3", "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			orig := load(t, "good", "detectors.yaml")
			before := cloneConfig(orig)
			got, ok := orig.WithoutCamera(tc.id)
			if !reflect.DeepEqual(orig, before) {
				t.Fatal("WithoutCamera changed the config it was called on")
			}
			if ok != tc.ok || (got == nil) == ok {
				t.Fatalf("got %v, %v; want ok %v", got != nil, ok, tc.ok)
			}
			if !ok {
				return
			}
			if ids(got) != tc.want {
				t.Errorf("cameras %s\nwant    %s", ids(got), tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Error(err)
			}
			if s := shared(reflect.ValueOf(*got), reflect.ValueOf(*orig), ""); len(s) > 0 {
				t.Errorf("shares with the original: %s", s)
			}
			got.Cameras[0].ID = "changed"
			*got.Cameras[0].Loop = false
			if !reflect.DeepEqual(orig, before) {
				t.Error("changing the result changed the original")
			}
		})
	}

	t.Run("the last one", func(t *testing.T) {
		orig := load(t, "good", "rules.yaml")
		got, ok := orig.WithoutCamera("walkway")
		if !ok || len(got.Cameras) != 0 || len(orig.Cameras) != 1 {
			t.Fatalf("ok %v, %d cameras left, %d in the original", ok, len(got.Cameras), len(orig.Cameras))
		}
	})
}

func TestCameraByID(t *testing.T) {
	cfg := load(t, "good", "full.yaml")
	cam, ok := cfg.Camera("cell-4")
	if !ok || !reflect.DeepEqual(cam, cfg.Cameras[0]) {
		t.Fatalf("Camera(cell-4) = %+v, %v", cam, ok)
	}
	if s := shared(reflect.ValueOf(cam), reflect.ValueOf(cfg.Cameras[0]), ""); len(s) > 0 {
		t.Errorf("shares with the config: %s", s)
	}
	if _, ok := cfg.Camera("cell-5"); ok {
		t.Error("Camera(cell-5) found")
	}
}

func TestRestartNeeded(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		// Restart.
		{"data_dir", func(c *Config) { c.DataDir = "/srv/vigil" }, []string{"data_dir"}},
		{"model.onnxruntime_lib", func(c *Config) {
			c.Model.Runtime = "/opt/ort2/libonnxruntime.so.1"
			c.Detectors[0].Model.Runtime = c.Model.Runtime
		}, []string{"model.onnxruntime_lib"}},
		{"nats.url", func(c *Config) { c.NATS.URL = "nats://10.0.0.7:4222" }, []string{"nats"}},
		{"nats.subject_prefix", func(c *Config) { c.NATS.SubjectPrefix = "plant2.vigil" }, []string{"nats"}},
		{"nats.jetstream", func(c *Config) { *c.NATS.JetStream = true }, []string{"nats"}},
		{"nats.mqtt.listen", func(c *Config) { c.NATS.MQTT.Listen = "0.0.0.0:1885" }, []string{"nats"}},
		{"nats.tls.ca", func(c *Config) { c.NATS.TLS.CA = "/etc/vigil/ca2.pem" }, []string{"nats"}},
		{"http.listen", func(c *Config) { c.HTTP.Listen = "off" }, []string{"http.listen"}},
		{"http.token_file", func(c *Config) { c.HTTP.TokenFile = "" }, []string{"http.token_file"}},
		{"pipeline.max_frames", func(c *Config) { c.Pipeline.MaxFrames = 0 }, []string{"pipeline.max_frames"}},
		{"pipeline.queue_size", func(c *Config) { c.Pipeline.QueueSize = 16 }, []string{"pipeline.queue_size"}},
		{"pipeline.worker_nice", func(c *Config) { c.Pipeline.WorkerNice = 0 }, []string{"pipeline.worker_nice"}},
		{"pipeline.opencv_threads", func(c *Config) { c.Pipeline.OpenCVThreads = 1 }, []string{"pipeline.opencv_threads"}},
		{"liveview.codec", func(c *Config) { c.LiveView.Codec = CodecVP8 }, []string{"liveview.codec"}},
		{"liveview.bitrate", func(c *Config) { c.LiveView.Bitrate = 2_000_000 }, []string{"liveview.bitrate"}},
		{"liveview.max_fps", func(c *Config) { c.LiveView.MaxFPS = 10 }, []string{"liveview.max_fps"}},
		{"liveview.processed_only", func(c *Config) { c.LiveView.ProcessedOnly = false }, []string{"liveview.processed_only"}},
		{"liveview.ice.stun", func(c *Config) { c.LiveView.ICE.STUN = nil }, []string{"liveview.ice"}},
		{"liveview.ice.turn[0].username", func(c *Config) { c.LiveView.ICE.TURN[0].Username = "vigil2" }, []string{"liveview.ice"}},
		{"alerts.spool_dir", func(c *Config) { c.Alerts.SpoolDir = "" }, []string{"alerts.spool_dir"}},
		{"alerts.spool_max_bytes", func(c *Config) { c.Alerts.SpoolMaxBytes = 1 << 30 }, []string{"alerts.spool_max_bytes"}},
		{"alerts.spool_max_age", func(c *Config) { c.Alerts.SpoolMaxAge = Duration(time.Hour) }, []string{"alerts.spool_max_age"}},
		{"alerts.stream.replicas", func(c *Config) { c.Alerts.Stream.Replicas = 1 }, []string{"alerts.stream"}},
		{"alerts.stream.name", func(c *Config) { c.Alerts.Stream.Name = "EVENTS" }, []string{"alerts.stream"}},
		{"alerts.counts_bucket", func(c *Config) { c.Alerts.CountsBucket = "COUNTS" }, []string{"alerts.counts_bucket"}},
		{"several, sorted", func(c *Config) {
			c.Pipeline.QueueSize = 2
			c.DataDir = "/srv"
			c.LiveView.Codec = CodecVP8
			c.NATS.User = "other"
			c.Alerts.Stream.MaxAge = 0
			c.LogLevel = "info"
		}, []string{"alerts.stream", "data_dir", "liveview.codec", "nats", "pipeline.queue_size"}},

		// Live.
		{"nothing", func(*Config) {}, nil},
		{"log_level", func(c *Config) { c.LogLevel = "warn" }, nil},
		{"model.path", func(c *Config) { c.Model.Path = "/opt/models/yolov8m.onnx" }, nil},
		{"model.providers", func(c *Config) { c.Model.Providers = []string{ProviderCPU} }, nil},
		{"model.tensorrt.fp16", func(c *Config) { c.Model.TensorRT.FP16 = false }, nil},
		{"model.class_confidence", func(c *Config) { c.Model.ClassConfidence["person"] = 0.7 }, nil},
		{"detectors[0].model.path", func(c *Config) { c.Detectors[0].Model.Path = "/opt/models/other.onnx" }, nil},
		{"detectors, one more", func(c *Config) {
			c.Detectors = append(c.Detectors, Detector{Name: "more", Model: cloneModel(c.Model)})
		}, nil},
		{"detectors, none", func(c *Config) { c.Detectors = nil }, nil},
		{"tracker", func(c *Config) { c.Tracker.BufferFrames = 90; c.Tracker.ClassAware = true }, nil},
		{"cameras[0].url", func(c *Config) { c.Cameras[0].URL = "clips/cell5.mp4" }, nil},
		{"cameras[0].rules", func(c *Config) { c.Cameras[0].Rules[0].Points[0][0] = 0.2 }, nil},
		{"cameras[1].detector", func(c *Config) { c.Cameras[1].Detector = "docks" }, nil},
		{"cameras, one fewer", func(c *Config) { c.Cameras = c.Cameras[1:] }, nil},
		{"alerts.restore_counts", func(c *Config) { *c.Alerts.RestoreCounts = true }, nil},
	}
	old := load(t, "good", "full.yaml")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := cloneConfig(old)
			tc.change(next)
			if got := RestartNeeded(old, next); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("RestartNeeded = %q, want %q", got, tc.want)
			}
			if got := RestartNeeded(next, old); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("and back = %q, want %q", got, tc.want)
			}
		})
	}
}

// A detector that names another onnxruntime library than the one running
// (which Validate refuses, but a Config built in code may hold) needs it
// loaded; back, every detector uses the one loaded.
func TestRestartNeededDetectorLibrary(t *testing.T) {
	old := load(t, "good", "full.yaml")
	for name, change := range map[string]func(*Config){
		"changed": func(c *Config) { c.Detectors[0].Model.Runtime = "/opt/ort2/libonnxruntime.so.1" },
		"added": func(c *Config) {
			c.Detectors = append(c.Detectors, Detector{Name: "more", Model: cloneModel(c.Model)})
			c.Detectors[1].Model.Runtime = ""
		},
	} {
		next := cloneConfig(old)
		change(next)
		if got := RestartNeeded(old, next); !reflect.DeepEqual(got, []string{"model.onnxruntime_lib"}) {
			t.Errorf("%s: RestartNeeded = %q, want model.onnxruntime_lib", name, got)
		}
		if got := RestartNeeded(next, old); len(got) != 0 {
			t.Errorf("%s: and back = %q, want none", name, got)
		}
	}
}

// TestRestartKeysCoverConfig: every key of Config is live or needs a restart
// by a listed key or its nearest listed ancestor, and every listed key is one.
func TestRestartKeysCoverConfig(t *testing.T) {
	listed := map[string]string{}
	for _, k := range restartKeys {
		listed[k] = "restart"
	}
	for _, k := range liveKeys {
		if listed[k] != "" {
			t.Errorf("%s is live and needs a restart", k)
		}
		listed[k] = "live"
	}
	seen := map[string]bool{}
	var walk func(typ reflect.Type, path string, covered bool)
	walk = func(typ reflect.Type, path string, covered bool) {
		for i := 0; i < typ.NumField(); i++ {
			name := yamlName(typ.Field(i))
			if name == "" {
				continue
			}
			p := joinPath(path, name)
			seen[p] = true
			c := covered || listed[p] != ""
			if ft := typ.Field(i).Type; ft.Kind() == reflect.Struct {
				walk(ft, p, c)
			} else if !c {
				t.Errorf("%s is in neither liveKeys nor restartKeys (RestartNeeded lists it when it changes); decide, and document it", p)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "", false)
	for k := range listed {
		if !seen[k] {
			t.Errorf("listed key %s is not a key of Config", k)
		}
	}
}
