package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// messages splits an error of Parse or Validate into its problems.
func messages(err error) []string {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}

func TestBadFixtures(t *testing.T) {
	cases := []struct {
		file string
		want []string // each a substring of one message, in order
	}{
		{"unknown_field.yaml", []string{
			// The typo leaves the camera without its url: both are said.
			`bad/unknown_field.yaml:5: cameras[1].url: required;`,
			`bad/unknown_field.yaml:6: cameras[1].urll: unknown field; did you mean "url"?`,
		}},
		{"unknown_and_value.yaml", []string{
			`:3: log_level: unknown level "verbose"`,
			`:5: model.confidence: 1.5 out of range`,
			`:7: tracker.high_treshold: unknown field; did you mean "high_threshold"?`,
			`:10: cameras[0].url: unsupported scheme "rtmp"`,
			`:11: cameras[0].fsp: unknown field; did you mean "fps"?`,
		}},
		{"unknown_in_rule.yaml", []string{
			`:10: cameras[0].rules[0].anchr: unknown field; did you mean "anchor"?`,
			`:11: cameras[0].rules[0].min_score: 2 out of range; use a value in [0,1]`,
			`:15: cameras[0].rules[1].dwel: unknown field; did you mean "dwell"?`,
			`:16: cameras[0].rtsp_transport: unknown transport "http"; use tcp or udp`,
		}},
		{"unknown_top.yaml", []string{`unknown_top.yaml:1: camera: unknown field; did you mean "cameras"?`}},
		{"unknown_many.yaml", []string{
			`:2: model.confidance: unknown field; did you mean "confidence"?`,
			`:4: tracker.buffer: unknown field; did you mean "buffer_frames"?`,
			`:6: http.port: unknown field; use one of listen`,
		}},
		{"nats_cluster.yaml", []string{
			`:1: nats.server_name: empty, but the embedded server is in a cluster: every server needs its own name`,
			`:3: nats.cluster.name: "plant 1"; use 1-64 letters, digits, _ or -`,
			`:4: nats.cluster.listen: `,
			`:7: nats.cluster.routes[1]: "http://10.0.0.12:6222": scheme "http"; write host:port or nats-route://host:port`,
			`:8: nats.cluster.routes[2]: "10.0.0.13": no host or port`,
		}},
		{"password_file.yaml", []string{
			`:2: cameras[0].password_file: needs a user in the URL`,
			`:3: cameras[1].password_file: the URL holds a password too`,
			`:4: cameras[2].password_file: only for rtsp:// and http(s):// cameras`,
		}},
		{"fleet.yaml", []string{
			`:6: cameras[0].require[1]: "line 3"; use 1-64 letters`,
			`:8: fleet.enabled: needs JetStream`,
			`:9: fleet.node: "box.1"; use 1-64 letters`,
			`:10: fleet.labels[1]: "no/slash"`,
			`:11: fleet.lease_ttl: 200ms; use 1s to 5m`,
			`:12: fleet.max_cameras: 0; use 1 or more`,
			`:13: fleet.max_load: 1.5;`,
			`:14: fleet.replicas: 7;`,
			`:15: fleet.advertise: "10.0.0.11:8080"; use this node's HTTP base URL`,
		}},
		{"nats_cluster_unnamed.yaml", []string{
			`:2: nats.server_name: "vigil line 3"; use 1-64 letters, digits, ., _ or -`,
			`:3: nats.cluster.name: empty, but nats.cluster has listen or routes; name the cluster`,
		}},
		{"scheme.yaml", []string{`:5: cameras[1].url: unsupported scheme "rtmp"; use rtsp://, http(s)://, a file path or /dev/videoN`}},
		{"duplicate_id.yaml", []string{`:6: cameras[2].id: duplicate "dock-1"; camera ids must be unique`}},
		{"camera_id.yaml", []string{`cameras[0].id: "dock 1" is not a valid id; use 1-64 letters, digits, _ or -`}},
		{"camera_no_url.yaml", []string{`:2: cameras[0].url: required;`}},
		{"remote.yaml", []string{
			`:3: model.remote.timeout: 0s; use a positive duration such as 1s`,
			`:4: model.remote.transport: unknown transport "int4"; use uint8, float16 or float32`,
			`:5: model.remote.jpeg_quality: 0; use 1 to 100, e.g. 90`,
		}},
		{"remote_plan.yaml", []string{
			`:4: model.remote.plan.goal: unknown goal "fps"; use latency, camera_cpu or bytes`,
			`:4: model.remote.plan.profile: required with goal; write this node's with ` + "`vigil model cuts MODEL --profile --json > here.json`",
			`:4: model.remote.plan.remote_profile: required with goal; write the server's with`,
			`:4: model.remote.plan.every: 100ms; use 1s or more, e.g. 30s`,
			`:4: model.remote.plan.margin: 2; use 0 to 1, e.g. 0.1`,
			`:10: detectors[0].model.remote.plan.goal: unknown goal "cost"`, // what it inherits is said once, at model:
			`:15: detectors[1].model.remote.plan.profile: set, but detectors[1].model.remote.plan.goal is empty; set goal: latency, camera_cpu or bytes to check the plan, or leave profile out`,
		}},
		{"provider.yaml", []string{`:2: model.providers[1]: unknown provider "rocm"; use cpu, cuda or tensorrt`}},
		{"model_optimization.yaml", []string{
			`:2: model.graph_optimization: unknown level "max"; use all, extended, basic or disabled`,
			`:4: model.tensorrt.int8_calibration_table: set, but model.tensorrt.int8 is false`,
			`:5: model.tensorrt.workspace_mb: -1 is negative`,
		}},
		{"intra_op_spinning.yaml", []string{`:2: model.intra_op_spinning: "spin"; use off (threads sleep while they wait, leaving the cores to capture and decoding) or on (they spin)`}},
		{"detector_keys.yaml", []string{
			`:6: detectors[0].model.provider: unknown field; did you mean "providers"?`,
			`:7: detectors[0].model.tensorrt.fp_16: unknown field; did you mean "fp16"?`,
			`:9: detectors[1].modle: unknown field; did you mean "model"?`,
		}},
		{"detector_names.yaml", []string{
			`:2: detectors[0].name: required; name the detector with 1-64 letters, digits, _ or -`,
			`:3: detectors[1].name: "default" is the top-level model:; pick another name`,
			`:4: detectors[2].name: "dock s" is not a valid name; use 1-64 letters, digits, _ or -`,
			`:6: detectors[4].name: duplicate "docks"; detector names must be unique (detectors[3] has it too)`,
		}},
		{"detector_model.yaml", []string{
			// Inherited by both detectors, reported once: where it is written.
			`:2: model.confidence: 1.5 out of range; use a value in (0,1]`,
			`:6: detectors[0].model.providers[1]: unknown provider "gpu"; use cpu, cuda or tensorrt`,
			`:9: detectors[1].model.tensorrt.int8_calibration_table: set, but detectors[1].model.tensorrt.int8 is false; set int8: true`,
			`:10: detectors[1].model.intra_op_spinning: "sometimes"; use off`,
			`:11: detectors[1].model.onnxruntime_lib: "/opt/ort-gpu/libonnxruntime.so.1" differs from model.onnxruntime_lib ""; a process loads one`,
		}},
		{"detector_unknown.yaml", []string{
			`:8: cameras[0].detector: unknown detector "dcoks"; did you mean "docks"? (known: default, docks, gate)`,
			`:11: cameras[1].detector: unknown detector "yard-model"; use default, docks or gate (default is the top-level model:), or add "yard-model" under detectors:`,
		}},
		{"provider_duplicate.yaml", []string{`model.providers[2]: duplicate "cuda"; list each provider once`}},
		{"providers_empty.yaml", []string{`model.providers: empty; list one or more of cpu, cuda, tensorrt`}},
		{"confidence.yaml", []string{`:2: model.confidence: 1.5 out of range; use a value in (0,1]`}},
		{"confidence_zero.yaml", []string{`:3: model.confidence: 0 out of range; use a value in (0,1]`}},
		{"class_confidence.yaml", []string{`:3: model.class_confidence["person"]: 2 out of range; use a value in (0,1]`}},
		{"decoder.yaml", []string{`model.decoder: unknown decoder "yolov11"; use auto, yolov8, yolov5 or end2end`}},
		{"log_level.yaml", []string{`:1: log_level: unknown level "verbose"; use debug, info, warn or error`}},
		{"listen.yaml", []string{`:2: nats.listen: "localhost" is not host:port; e.g. 127.0.0.1:4222`}},
		{"http_listen.yaml", []string{`http.listen: "8080" is not host:port; e.g. 127.0.0.1:8080, or off to disable`}},
		{"thresholds.yaml", []string{`:3: tracker.low_threshold: must be below tracker.high_threshold`}},
		{"type_int.yaml", []string{`:2: model.max_detections: "many" is not a whole number`}},
		{"type_fraction.yaml", []string{`:2: model.max_detections: 1.5 is not a whole number`}},
		{"type_bool.yaml", []string{`:4: cameras[0].loop: "yes" is not true or false`}},
		{"type_list.yaml", []string{`:2: cameras: expected a list, got a mapping`}},
		{"duration_unit.yaml", []string{`:5: cameras[0].reconnect.min: "5" has no unit; write e.g. 500ms, 30s or 1m`}},
		{"duration_negative.yaml", []string{`:5: cameras[0].reconnect.max: "-30s" is negative`}},
		{"backoff_order.yaml", []string{`:4: cameras[0].reconnect.max: 1s is below reconnect.min 5s; make min <= max`}},
		{"testsrc_fps.yaml", []string{`:4: cameras[0].fps: 0; a testsrc needs a frame rate above 0`}},
		{"rtsp_transport.yaml", []string{`cameras[0].rtsp_transport: unknown transport "http"; use tcp or udp`}},
		{"rtsp_no_host.yaml", []string{`cameras[0].url: "rtsp:///stream1" has no host`}},
		{"nats_url_scheme.yaml", []string{`nats.url: unsupported scheme "http"; use nats://, tls://, ws:// or wss://`}},
		{"nats_url_secret.yaml", []string{`nats.url: "nats://vigil:xxxxx@10.0.0.5:4222" holds credentials`}},
		{"password_no_user.yaml", []string{`:2: nats.password_file: needs nats.user`}},
		{"tls_no_key.yaml", []string{`:3: nats.tls.cert: needs nats.tls.key`}},
		{"subject_prefix.yaml", []string{`nats.subject_prefix: "vigil.>" holds a space or a wildcard`}},
		{"pipeline.yaml", []string{`:2: pipeline.queue_size: 0; use 1 or more frames`, `:3: pipeline.worker_nice: 20; use a nice value from 0`, `:4: pipeline.opencv_threads: -1 is negative`}},
		{"three_mistakes.yaml", []string{
			`:3: model.confidence: 1.5 out of range`,
			`:6: cameras[0].url: unsupported scheme "rtmp"`,
			`:8: nats.listen: "localhost" is not host:port`,
		}},
		{"two_documents.yaml", []string{`two_documents.yaml:3: a second YAML document`}},
		{"syntax.yaml", []string{`syntax.yaml:1: `}},
		{"duplicate_key.yaml", []string{`duplicate_key.yaml:2: mapping key "log_level" already defined`}},
		{"top_level_list.yaml", []string{`top_level_list.yaml:1: expected a mapping of settings at the top level, got a list`}},
		{"merge_order.yaml", []string{`merge_order.yaml:5: cameras[1].id: written before "<<", which would override it; put "<<" first`}},
		{"tag.yaml", []string{`tag.yaml:4: cameras[0].fps: tag !!str: settings take no YAML tags; write the value plainly, quoted to make it a string`}},
		{"alias_undefined.yaml", []string{`alias_undefined.yaml:2: `}},
		{"rules_self_intersect.yaml", []string{`:9: cameras[0].rules[2].points: polygon self-intersects between edges 1 (points 1→2) and 3 (points 3→0); reorder the points to go once around the zone`}},
		{"rules_line_zero.yaml", []string{`:7: cameras[0].rules[0].points: the line has zero length: both points are (320, 240); give two different points`}},
		{"rules_point.yaml", []string{
			`:7: cameras[0].rules[0].points[1]: has 3 numbers; write a point as [x, y]`,
			`:11: cameras[0].rules[1].points: point 1 (1.2, 0.5) is outside [0,1]; normalized points are fractions`,
		}},
		{"rules_fields.yaml", []string{
			`:5: cameras[0].rules[0].name: "door.1" is not a valid name; use 1-64 letters, digits, _ or -`,
			`:6: cameras[0].rules[0].type: unknown type "polygon"; use zone or line`,
			`:8: cameras[0].rules[0].anchor: unknown anchor "feet"; use bottom_center, center or top_center`,
			`:9: cameras[0].rules[0].min_score: 2 out of range; use a value in [0,1]`,
			`:10: cameras[0].rules[0].classes[0]: empty; use a label such as person`,
			`:14: cameras[0].rules[1].dwell: applies to zones only`,
			`:15: cameras[0].rules[1].directions: both directions are "in"; give them different names`,
			`:16: cameras[0].rules[2].name: duplicate "gate"; rule names must be unique per camera (rules[1] has it too)`,
			`:16: cameras[0].rules[2].points: required; a zone takes its corners`,
		}},
		{"rules_no_jetstream.yaml", []string{
			`:2: nats.jetstream: false, but cameras have rules; their events go to JetStream: set nats.jetstream: true`,
			`:3: nats.mqtt.listen: "localhost" is not host:port; e.g. 127.0.0.1:1883`,
			`:3: nats.mqtt.enabled: MQTT needs JetStream; set nats.jetstream: true`,
		}},
		{"alerts_limits.yaml", []string{`:2: alerts.spool_max_bytes: "64 bananas" is not a size; write e.g. 64MiB, 512KiB or 1GB`}},
		{"alerts_stream.yaml", []string{
			`:2: alerts.spool_max_bytes: 1KiB is too small; use at least 64KiB`,
			`:4: alerts.stream.name: "vigil events"; use 1-64 letters, digits, _ or -`,
			`:5: alerts.stream.max_age: 1m0s is shorter than alerts.stream.duplicate_window 2m0s`,
			`:7: alerts.stream.replicas: 0; use 1 to 5`,
		}},
		{"examples.yaml", []string{
			`:6: cameras[0].examples.strategies.count.max: 2 is below count.min 5; make min <= max`,
			`:10: examples.strategies.close_to_threshold.epsilon: 1.5 out of range; use a value in [0,1)`,
			`:11: examples.strategies.random.fraction: 2 out of range; use a value in [0,1]`,
			`:12: examples.limits.per_minute: -1 is negative`,
			`:13: examples.jpeg_quality: 101; use 1 to 100`,
		}},
		{"liveview_codec.yaml", []string{`:2: liveview.codec: unknown codec "av1"; use vp8 or h264`}},
		{"liveview_rates.yaml", []string{
			`:2: liveview.bitrate: 1000 bits/s out of range; use 50000 to 50000000`,
			`:3: liveview.max_fps: 0 out of range; use a rate above 0 and at most 120`,
		}},
		{"liveview_ports.yaml", []string{`:4: liveview.ice.udp_port_max: 50000 is below udp_port_min 50100; make min <= max`}},
		{"liveview_ice.yaml", []string{
			`liveview.ice.stun[0]: "stun.example.org:3478" is not a STUN URL; e.g. stun:`,
			`liveview.ice.turn[0].url: "http://turn.example.org" is not a TURN URL`,
			`liveview.ice.turn[0].username: required`,
			`liveview.ice.turn[0].credential_file: required`,
			`liveview.ice.nat_1to1_ips[0]: "my-public-ip" is not an IP address`,
		}},
	}
	tested := map[string]bool{}
	for _, tc := range cases {
		tested[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			cfg, err := Load(filepath.Join("testdata", "bad", tc.file))
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			if cfg != nil {
				t.Errorf("got a Config along with the error")
			}
			got := messages(err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tc.want), err)
			}
			for i, want := range tc.want {
				if !strings.Contains(got[i], want) {
					t.Errorf("problem %d:\n got  %s\n want %s", i, got[i], want)
				}
			}
		})
	}
	// Every fixture has a case, so none rots unchecked.
	all, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	for _, f := range all {
		if !tested[filepath.Base(f)] {
			t.Errorf("%s has no case in TestBadFixtures", f)
		}
	}
}

func TestErrorsAreFieldErrors(t *testing.T) {
	_, err := Load(filepath.Join("testdata", "bad", "three_mistakes.yaml"))
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T does not hold a list", err)
	}
	var paths []string
	for _, e := range j.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is a %T, not a *FieldError", e, e)
		}
		if fe.File != filepath.Join("testdata", "bad", "three_mistakes.yaml") || fe.Line == 0 {
			t.Errorf("%v: file %q line %d", e, fe.File, fe.Line)
		}
		paths = append(paths, fe.Path)
	}
	want := []string{"model.confidence", "cameras[0].url", "nats.listen"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths %q, want %q", paths, want)
	}
}

// An unknown key fails the load, but not before the values of the keys that
// are known have been validated: one report holds both, in the order of the
// lines, so that one pass over the file fixes it.
func TestUnknownKeysDoNotHideValues(t *testing.T) {
	type problem struct {
		line int
		path string
	}
	cases := []struct {
		name string
		data string
		want []problem
	}{
		{"testdata/bad/unknown_and_value.yaml", "", []problem{
			{3, "log_level"}, {5, "model.confidence"}, {7, "tracker.high_treshold"},
			{10, "cameras[0].url"}, {11, "cameras[0].fsp"},
		}},
		{"testdata/bad/unknown_in_rule.yaml", "", []problem{
			{10, "cameras[0].rules[0].anchr"}, {11, "cameras[0].rules[0].min_score"},
			{15, "cameras[0].rules[1].dwel"}, {16, "cameras[0].rtsp_transport"},
		}},
		// A key merged in is blamed where it is written.
		{"merged.yaml", "cameras:\n  - &c {id: a, url: testsrc, fsp: 0}\n  - {<<: *c, id: b}\n  - {id: a, url: testsrc}\n", []problem{
			{2, "cameras[0].fsp"}, {2, "cameras[1].fsp"}, {4, "cameras[2].id"},
		}},
		// The same problem twice is said once.
		{"twice.yaml", "nats:\n  url: nats://a:4222,,nats://b:4222,\n  lisen: x\n", []problem{{2, "nats.url"}, {3, "nats.lisen"}}},
		// A value that cannot be read leaves nothing to validate: the
		// walk's problems alone, the unknown key among them.
		{"mistyped.yaml", "model:\n  confidence: 1.5\n  max_detections: many\ntracker: {buffer: 3}\n", []problem{
			{3, "model.max_detections"}, {4, "tracker.buffer"},
		}},
		// The decoder reads what is under an unknown key too: where it
		// cannot, the unknown keys are the report.
		{"alias.yaml", "foo: *nope\nlog_level: verbose\n", []problem{{1, "foo"}}},
		// Malformed YAML stops at once.
		{"syntax.yaml", "treshold: 1\nlog_level: verbose\ncameras: [\n", []problem{{3, ""}}},
	}
	for _, tc := range cases {
		t.Run(filepath.Base(tc.name), func(t *testing.T) {
			data := []byte(tc.data)
			if tc.data == "" {
				var err error
				if data, err = os.ReadFile(tc.name); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := Parse(data, tc.name)
			if err == nil || cfg != nil {
				t.Fatalf("got %v, %v; want an error alone", cfg, err)
			}
			var got []problem
			for _, e := range unwrapAll(err) {
				var fe *FieldError
				if !errors.As(e, &fe) || fe.File != tc.name {
					t.Fatalf("%v is a %T of file %q, not a *FieldError of %q", e, e, fe.File, tc.name)
				}
				got = append(got, problem{fe.Line, fe.Path})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v:\n%v", got, tc.want, err)
			}
		})
	}
}

// FuzzConfig feeds Parse, the reading of every configuration file, anything:
// it must not panic; it must say the same of the same bytes; a rejection is
// *FieldErrors of the file, in the order of their lines, each once; and a
// Config it accepts is valid, and reads back the same once written out.
func FuzzConfig(f *testing.F) {
	seeds := []string{filepath.Join("..", "assets", "vigil.example.yaml")}
	for _, dir := range []string{"good", "bad"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
		seeds = append(seeds, files...)
	}
	for _, file := range seeds {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz")
		again, errAgain := Parse(data, "fuzz")
		if fmt.Sprint(err) != fmt.Sprint(errAgain) {
			t.Fatalf("%q: read twice, says\n%v\nthen\n%v", data, err, errAgain)
		}
		if err != nil {
			if cfg != nil {
				t.Fatalf("%q: a Config along with %v", data, err)
			}
			line, seen := 0, map[string]bool{}
			for _, e := range unwrapAll(err) {
				var fe *FieldError
				if !errors.As(e, &fe) || fe.File != "fuzz" {
					t.Fatalf("%q: %v is not a *FieldError of file fuzz", data, e)
				}
				if fe.Line < line || seen[e.Error()] {
					t.Fatalf("%q: out of order or repeated at %v:\n%v", data, e, err)
				}
				line, seen[e.Error()] = fe.Line, true
			}
			return
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("%q: read twice, gives\n%+v\nthen\n%+v", data, cfg, again)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%q: accepted, but %v", data, err)
		}
		// Written out as JSON (which is YAML, and writes every string
		// whole), it reads back the same.
		out, err := yaml.MarshalWithOptions(cfg, yaml.JSON())
		if err != nil {
			t.Fatalf("%q: marshal: %v", data, err)
		}
		back, err := Parse(out, "marshalled")
		if err != nil {
			t.Fatalf("%q: written as\n%s\nreads back with %v", data, out, err)
		}
		if err := equal(back, cfg); err != nil {
			t.Fatalf("%q: written as\n%s\nreads back otherwise: %v", data, out, err)
		}
	})
}

func TestSecretsStayOutOfErrors(t *testing.T) {
	_, err := Load(filepath.Join("testdata", "bad", "nats_url_secret.yaml"))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v; want one without the password", err)
	}
	cfg := Default()
	cfg.Cameras = []Camera{DemoCamera("rtsp://admin:hunter2@10.0.0.9/x")}
	cfg.Cameras[0].RTSPTransport = "quic"
	if err := cfg.Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v; want one without the password", err)
	}
}

func TestFullFixture(t *testing.T) {
	path := filepath.Join("testdata", "good", "full.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, w, err := parse(data, path)
	if err != nil {
		t.Fatal(err)
	}

	// The fixture is the reference: it must set every field of the schema.
	for _, p := range leafPaths(reflect.TypeOf(Config{}), "") {
		switch p {
		case "cameras[0].password_file": // the first camera is a file; an RTSP one sets it
			p = "cameras[1].password_file"
		case "model.store": // model: names a file; a detector names a store model
			p = "detectors[1].model.store"
		}
		if !w.set[p] {
			t.Errorf("full.yaml does not set %s", p)
		}
	}

	f, tr := false, true
	want := &Config{
		LogLevel: "debug",
		DataDir:  "/var/lib/vigil",
		Model: Model{
			Path:             "/opt/models/yolov8s.onnx",
			Labels:           "/opt/models/coco.names",
			Decoder:          "yolov8",
			Confidence:       0.35,
			ClassConfidence:  map[string]float64{"person": 0.5, "2": 0.6},
			IoU:              0.5,
			ClassAgnosticNMS: true,
			MaxDetections:    100,
			Runtime:          "/opt/ort/libonnxruntime.so.1",
			Providers:        []string{"tensorrt", "cuda", "cpu"},
			FallbackToCPU:    false,
			IntraOpThreads:   4,
			IntraOpSpinning:  "on",
			CUDA:             CUDA{DeviceID: 1},
			TensorRT: TensorRT{FP16: true, EngineCacheDir: "/var/cache/vigil/trt", DeviceID: 1,
				INT8: true, INT8CalibrationTable: "/opt/models/calib.flatbuffers", WorkspaceMB: 2048},
			GraphOptimization:   "extended",
			OptimizedModelCache: "/var/cache/vigil/ort",
			Shadow: Shadow{Enabled: false, Every: 5, Threads: 2, Nice: 15, Promote: "auto", MinFrames: 1000,
				MinAgreement: 0.95, MinSpeedRatio: 1.2, MatchIoU: 0.6, ReportEvery: Duration(30 * time.Second)},
			Remote: Remote{Subject: "vigil.infer.line", Timeout: Duration(250 * time.Millisecond), Transport: "float16",
				JPEGQuality: 80, Fallback: "/opt/models/yolov8n.onnx",
				Plan: RemotePlan{Goal: "camera_cpu", Profile: "/opt/models/here.json", RemoteProfile: "/opt/models/server.json", Every: Duration(time.Minute), Margin: 0.2}},
		},
		Detectors: []Detector{{Name: "docks", Model: Model{
			Path:             "/opt/models/yolov8n-int8.onnx",
			Labels:           "/opt/models/coco.names",
			Decoder:          "yolov8",
			Confidence:       0.35,
			ClassConfidence:  map[string]float64{"person": 0.5, "2": 0.6},
			IoU:              0.5,
			ClassAgnosticNMS: true,
			MaxDetections:    100,
			Runtime:          "/opt/ort/libonnxruntime.so.1",
			Providers:        []string{"cpu"},
			FallbackToCPU:    false,
			IntraOpThreads:   1,
			IntraOpSpinning:  "on",
			CUDA:             CUDA{DeviceID: 1},
			TensorRT: TensorRT{FP16: false, EngineCacheDir: "/var/cache/vigil/trt", DeviceID: 1,
				INT8: true, INT8CalibrationTable: "/opt/models/calib.flatbuffers", WorkspaceMB: 2048},
			GraphOptimization:   "extended",
			OptimizedModelCache: "/var/cache/vigil/ort",
			Shadow: Shadow{Enabled: false, Every: 5, Threads: 2, Nice: 15, Promote: "auto", MinFrames: 1000,
				MinAgreement: 0.95, MinSpeedRatio: 1.2, MatchIoU: 0.6, ReportEvery: Duration(30 * time.Second)},
			Remote: Remote{Subject: "vigil.infer.line", Timeout: Duration(250 * time.Millisecond), Transport: "float16",
				JPEGQuality: 80, Fallback: "/opt/models/yolov8n.onnx",
				Plan: RemotePlan{Goal: "camera_cpu", Profile: "/opt/models/here.json", RemoteProfile: "/opt/models/server.json", Every: Duration(time.Minute), Margin: 0.2}}, // model:'s
		}}},
		Tracker: Tracker{
			HighThreshold: 0.6, LowThreshold: 0.2, NewTrackThreshold: 0.7,
			MatchThreshold: 0.25, SecondMatchThreshold: 0.4, UnconfirmedMatchThreshold: 0.35,
			BufferFrames: 60, MinHits: 2, ClassAware: false, ReportSpread: 2,
		},
		Cameras: []Camera{
			{
				ID: "cell-4", URL: "clips/cell4.mp4", Loop: &f, Realtime: &f,
				RTSPTransport: "udp", FPS: 5, Width: 1280, Height: 720,
				Reconnect: Backoff{Min: Duration(time.Second), Max: Duration(time.Minute), Fast: Duration(5 * time.Second)},
				IOTimeout: Duration(3 * time.Second),
				Enabled:   &f,
				Detector:  "docks",
				Rules: []Rule{{
					Name: "robot_cell", Type: "zone", Points: [][]float64{{0.1, 0.2}, {0.6, 0.2}, {0.6, 0.9}, {0.1, 0.9}},
					Normalized: true, Classes: []string{"person", "2"}, MinScore: 0.4, Anchor: "center", Hysteresis: 4,
					Cooldown: Duration(2 * time.Second), Armed: &f, Dwell: Duration(30 * time.Second), OccupancyThreshold: 2,
					ExitAfter: Duration(5 * time.Second), Directions: Directions{AToB: "in", BToA: "out"},
					Evidence: &RuleEvidence{Snapshot: &f, Clip: &f, Pre: Duration(3 * time.Second), Post: Duration(8 * time.Second)},
				}},
				Require: []string{"gpu"}, Prefer: []string{"line-3"},
				Examples: &CameraExamples{Enabled: &tr, Strategies: &ExampleStrategies{
					Classes: []string{"forklift"}, Tracker: TrackerStrategy{Missed: true}}},
				Motion: &CameraMotion{Enabled: &tr, Threshold: ptr(40.0), MinArea: ptr(0.002), IdleInterval: ptr(Duration(10 * time.Second)),
					StationaryInterval: ptr(Duration(3 * time.Second)), MinSpeed: ptr(0.2),
					Regions: &MotionRegions{Enabled: true, Max: 3, MinScale: 1.5, FullInterval: Duration(2 * time.Second)},
					Masks:   []MotionMask{{Points: [][]float64{{0.8, 0}, {1, 0}, {1, 0.1}, {0.8, 0.1}}, Normalized: true}}},
			},
			func() Camera {
				c := withID(DemoCamera("rtsps://admin@192.168.1.10:322/stream1"), "dock-1")
				c.PasswordFile = "/run/secrets/dock-1"
				return c
			}(),
			withID(DemoCamera("https://10.0.0.7/mjpeg"), "gate"),
			withID(DemoCamera("/dev/video0"), "bench"),
			func() Camera {
				c := withID(DemoCamera("testsrc"), "pattern")
				c.FPS = DefaultTestsrcFPS
				return c
			}(),
		},
		NATS: NATS{
			URL:           "nats://10.0.0.5:4222,nats://10.0.0.6:4222",
			Listen:        "0.0.0.0:4333",
			JetStream:     &f,
			SubjectPrefix: "plant1.vigil",
			User:          "vigil",
			PasswordFile:  "/run/secrets/nats_password",
			TokenFile:     "/run/secrets/nats_token",
			CredsFile:     "/run/secrets/vigil.creds",
			TLS: TLS{
				CA: "/etc/vigil/ca.pem", Cert: "/etc/vigil/client.pem", Key: "/etc/vigil/client-key.pem",
				InsecureSkipVerify: tr,
			},
			MQTT:       MQTT{Enabled: true, Listen: "0.0.0.0:1884"},
			ServerName: "vigil-line-3",
			Cluster:    NATSCluster{Name: "plant1", Listen: "0.0.0.0:6222", Routes: []string{"10.0.0.11:6222", "nats-route://10.0.0.12:6222"}},
		},
		HTTP:     HTTP{Listen: "0.0.0.0:8081", TokenFile: "/run/secrets/http_token"},
		Pipeline: Pipeline{MaxFrames: 1000, QueueSize: 8, WorkerNice: 10, OpenCVThreads: 2},
		LiveView: LiveView{
			Codec: "h264", Bitrate: 800000, MaxFPS: 15, ProcessedOnly: true,
			ICE: ICE{
				STUN:       []string{"stun:stun.example.org:3478"},
				TURN:       []TURNServer{{URL: "turns:turn.example.org:5349", Username: "vigil", CredentialFile: "/run/secrets/turn_credential"}},
				UDPPortMin: 50000, UDPPortMax: 50100,
				NAT1To1IPs: []string{"203.0.113.7"},
			},
		},
		Alerts: Alerts{
			SpoolDir: "/var/spool/vigil", SpoolMaxBytes: 256 << 20, SpoolMaxAge: Duration(72 * time.Hour),
			Stream: AlertStream{Name: "PLANT1_EVENTS", MaxAge: Duration(2160 * time.Hour), MaxBytes: 10 << 30,
				DuplicateWindow: Duration(5 * time.Minute), Replicas: 3},
			CountsBucket: "PLANT1_COUNTS", RestoreCounts: &f,
		},
		Fleet: Fleet{Enabled: true, Node: "line-3", Labels: []string{"gpu", "line-3"}, LeaseTTL: Duration(3 * time.Second),
			MaxCameras: 12, MaxLoad: 0.7, MinHold: Duration(time.Minute), Replicas: 3, Advertise: "http://10.0.0.11:8081"},
		Examples: Examples{Enabled: true,
			Strategies: ExampleStrategies{CloseToThreshold: CloseToThreshold{Epsilon: 0.1}, Random: RandomStrategy{Fraction: 0.01},
				Classes: []string{"person", "2"}, Count: CountStrategy{Min: 5, Max: 20}, Tracker: TrackerStrategy{Missed: true, Unmatched: true}, Shadow: true},
			Limits: ExampleLimits{PerMinute: 1, PerHour: 10, PerDay: 100}, JPEGQuality: 80,
			Store: ExampleStore{MaxBytes: 10 << 30, MaxAge: Duration(2160 * time.Hour), Dir: "/var/lib/vigil/examples", Replicas: 3}},
		Motion: Motion{Height: 90, Threshold: 30, MinArea: 0.001, Alpha: 0.1, Settle: 20, GlobalChange: 0.6, Absorb: 5,
			IdleInterval: Duration(3 * time.Second), StationaryInterval: Duration(time.Second), MinSpeed: 0.05,
			Regions: MotionRegions{Enabled: false, Max: 2, MinScale: 2, FullInterval: Duration(4 * time.Second)}},
		Evidence: Evidence{Enabled: &tr, Bucket: "EVIDENCE", MaxBytes: 20 << 30, MaxAge: Duration(2160 * time.Hour), Replicas: 3,
			SpoolDir: "/var/lib/vigil/ev-spool", SpoolMaxBytes: 1 << 30, JPEGQuality: 75, Thumbnail: 200,
			Clip: Clip{FPS: 5, MaxWidth: 960, Bitrate: 500_000}},
	}
	// line3 is model: with a store model for its file.
	line3 := cloneModel(want.Model)
	line3.Path, line3.Store, line3.Remote.Subject = "", "line3@2", ""
	want.Detectors = append(want.Detectors, Detector{Name: "line3", Model: line3})
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("full.yaml parsed as\n%+v\nwant\n%+v", cfg, want)
	}
	// Every value differs from its default, so a field the decoder skipped
	// would show.
	for _, p := range diffPaths(reflect.ValueOf(*Default()), reflect.ValueOf(*want), "") {
		if p != "model.store" { // set by detectors[1], model: names a file
			t.Errorf("full.yaml leaves %s at its default", p)
		}
	}
}

func withID(c Camera, id string) Camera {
	c.ID = id
	return c
}

// leafPaths lists the YAML paths of every scalar setting of t, taking
// cameras[0] for the list and a map as one setting.
func leafPaths(t reflect.Type, path string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		p := joinPath(path, name)
		ft := f.Type
		switch {
		case p == "detectors[0].model":
			// The keys of model:, each checked there; a detector writes
			// only those it changes.
			out = append(out, p)
		case ft.Kind() == reflect.Struct:
			out = append(out, leafPaths(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, leafPaths(ft.Elem(), p+"[0]")...)
		default:
			out = append(out, p)
		}
	}
	return out
}

func diffPaths(a, b reflect.Value, path string) []string {
	var same []string
	for i := 0; i < a.NumField(); i++ {
		p := joinPath(path, yamlName(a.Type().Field(i)))
		if a.Field(i).Kind() == reflect.Struct {
			same = append(same, diffPaths(a.Field(i), b.Field(i), p)...)
		} else if reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			same = append(same, p)
		}
	}
	return same
}

func TestMinimalFixtureTakesDefaults(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "good", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Cameras = []Camera{withID(DemoCamera("rtsp://192.168.1.10:554/stream1"), "dock-1")}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestDefaults(t *testing.T) {
	d := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"log_level", d.LogLevel, "info"},
		{"data_dir", d.DataDir, "data"},
		{"model.path", d.Model.Path, ""},
		{"model.decoder", d.Model.Decoder, "auto"},
		{"model.confidence", d.Model.Confidence, 0.25},
		{"model.iou", d.Model.IoU, 0.45},
		{"model.max_detections", d.Model.MaxDetections, 300},
		{"model.providers", d.Model.Providers, []string{"cpu"}},
		{"model.fallback_to_cpu", d.Model.FallbackToCPU, true},
		{"model.intra_op_threads", d.Model.IntraOpThreads, 0},
		{"model.intra_op_spinning", d.Model.IntraOpSpinning, "off"}, // detect.DefaultIntraOpSpinning
		{"model.shadow.enabled", d.Model.Shadow.Enabled, true},
		{"model.shadow.every", d.Model.Shadow.Every, 10},
		{"model.shadow.threads", d.Model.Shadow.Threads, 1},
		{"model.shadow.promote", d.Model.Shadow.Promote, "manual"},
		{"model.shadow.min_agreement", d.Model.Shadow.MinAgreement, 0.9},
		{"detectors", len(d.Detectors), 0},
		{"tracker.high_threshold", d.Tracker.HighThreshold, 0.5},
		{"tracker.low_threshold", d.Tracker.LowThreshold, 0.1},
		{"tracker.new_track_threshold", d.Tracker.NewTrackThreshold, 0.6},
		{"tracker.match_threshold", d.Tracker.MatchThreshold, 0.2},
		{"tracker.second_match_threshold", d.Tracker.SecondMatchThreshold, 0.5},
		{"tracker.unconfirmed_match_threshold", d.Tracker.UnconfirmedMatchThreshold, 0.3},
		{"tracker.buffer_frames", d.Tracker.BufferFrames, 30},
		{"tracker.min_hits", d.Tracker.MinHits, 3},
		{"tracker.class_aware", d.Tracker.ClassAware, true},
		{"cameras", len(d.Cameras), 0},
		{"nats.url", d.NATS.URL, ""},
		{"nats.listen", d.NATS.Listen, "127.0.0.1:4222"},
		{"nats.jetstream", *d.NATS.JetStream, true},
		{"nats.subject_prefix", d.NATS.SubjectPrefix, "vigil"},
		{"http.listen", d.HTTP.Listen, "127.0.0.1:8080"},
		{"pipeline.max_frames", d.Pipeline.MaxFrames, 0},
		{"pipeline.queue_size", d.Pipeline.QueueSize, 4},
		{"pipeline.worker_nice", d.Pipeline.WorkerNice, 0},
		{"pipeline.opencv_threads", d.Pipeline.OpenCVThreads, 0},
		{"http.token_file", d.HTTP.TokenFile, ""},
		{"liveview.codec", d.LiveView.Codec, "vp8"},
		{"liveview.bitrate", d.LiveView.Bitrate, 1500000},
		{"liveview.max_fps", d.LiveView.MaxFPS, 30.0},
		{"liveview.processed_only", d.LiveView.ProcessedOnly, false},
		{"liveview.ice", d.LiveView.ICE, ICE{}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Default() does not validate: %v", err)
	}

	demo := DemoCamera("deps/media/vtest.avi")
	if demo.ID != "demo" || demo.URL != "deps/media/vtest.avi" || !*demo.Loop || !*demo.Realtime || !*demo.Enabled ||
		demo.RTSPTransport != "tcp" || demo.Reconnect.Min.D() != 500*time.Millisecond || demo.Reconnect.Max.D() != 10*time.Second {
		t.Errorf("DemoCamera = %+v", demo)
	}
	d.Cameras = append(d.Cameras, demo)
	if err := d.Validate(); err != nil {
		t.Errorf("Default() with DemoCamera does not validate: %v", err)
	}
}

func TestDefaultsFillWhatIsUnset(t *testing.T) {
	cases := []struct {
		name  string
		yaml  string
		check func(*Config) error
	}{
		{"empty file", "", func(c *Config) error { return equal(c, Default()) }},
		{"comments only", "# nothing yet\n", func(c *Config) error { return equal(c, Default()) }},
		{"null document", "~\n", func(c *Config) error { return equal(c, Default()) }},
		{"empty lists", "detectors: []\ncameras: []\nliveview:\n  ice: {stun: []}\n", func(c *Config) error {
			if c.Detectors != nil || c.Cameras != nil || c.LiveView.ICE.STUN != nil {
				return fmt.Errorf("detectors %#v, cameras %#v, stun %#v; want nil, as without the keys", c.Detectors, c.Cameras, c.LiveView.ICE.STUN)
			}
			return nil
		}},
		{"null section", "model:\nnats: ~\n", func(c *Config) error { return equal(c, Default()) }},
		{"empty section", "model: {}\n", func(c *Config) error { return equal(c, Default()) }},
		{"one key of a section", "model:\n  iou: 0.6\n", func(c *Config) error {
			want := Default()
			want.Model.IoU = 0.6
			return equal(c, want)
		}},
		{"explicit false kept", "model:\n  fallback_to_cpu: false\ntracker:\n  class_aware: false\n", func(c *Config) error {
			want := Default()
			want.Model.FallbackToCPU = false
			want.Tracker.ClassAware = false
			return equal(c, want)
		}},
		{"null leaf", "model:\n  confidence: ~\n", func(c *Config) error { return equal(c, Default()) }},
		{"http off", "http:\n  listen: off\n", func(c *Config) error {
			if c.HTTP.Enabled() {
				return fmt.Errorf("http enabled with listen %q", c.HTTP.Listen)
			}
			return nil
		}},
		{"http empty string disables", "http:\n  listen: \"\"\n", func(c *Config) error {
			if c.HTTP.Enabled() {
				return fmt.Errorf("http enabled with listen %q", c.HTTP.Listen)
			}
			return nil
		}},
		{"testsrc fps", "cameras:\n  - {id: a, url: testsrc}\n  - {id: b, url: clips/a.mp4}\n", func(c *Config) error {
			if c.Cameras[0].FPS != DefaultTestsrcFPS || c.Cameras[1].FPS != 0 {
				return fmt.Errorf("fps %v and %v, want %v and 0", c.Cameras[0].FPS, c.Cameras[1].FPS, DefaultTestsrcFPS)
			}
			return nil
		}},
		{"camera partial backoff", "cameras:\n  - id: a\n    url: testsrc\n    reconnect: {max: 10s}\n    enabled: false\n", func(c *Config) error {
			cam := c.Cameras[0]
			if cam.Reconnect.Min.D() != 500*time.Millisecond || cam.Reconnect.Max.D() != 10*time.Second ||
				*cam.Enabled || !*cam.Loop || !*cam.Realtime || cam.RTSPTransport != "tcp" || cam.Width != 640 || cam.Height != 480 {
				return fmt.Errorf("camera %+v", cam)
			}
			return nil
		}},
		{"anchors and merge keys", "cameras:\n  - &base\n    id: a\n    url: testsrc\n    fps: 2\n  - <<: *base\n    id: b\n  - <<: *base\n    id: c\n    url: clips/a.mp4\n", func(c *Config) error {
			if len(c.Cameras) != 3 || c.Cameras[1].ID != "b" || c.Cameras[1].URL != "testsrc" || c.Cameras[1].FPS != 2 ||
				c.Cameras[2].URL != "clips/a.mp4" || c.Cameras[2].FPS != 2 {
				return fmt.Errorf("cameras %+v", c.Cameras)
			}
			return nil
		}},
		{"class id as key", "model:\n  class_confidence:\n    0: 0.4\n", func(c *Config) error {
			if c.Model.ClassConfidence["0"] != 0.4 {
				return fmt.Errorf("class_confidence %v", c.Model.ClassConfidence)
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml), "test.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.check(cfg); err != nil {
				t.Error(err)
			}
		})
	}
}

func equal(got, want *Config) error {
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	return nil
}

func TestDefaultsAreNotShared(t *testing.T) {
	cfg, err := Parse([]byte("cameras:\n  - {id: a, url: testsrc}\n  - {id: b, url: testsrc}\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	*cfg.Cameras[0].Loop = false
	if !*cfg.Cameras[1].Loop {
		t.Error("cameras share one default loop flag")
	}
	cfg.Model.Providers[0] = "cuda"
	if Default().Model.Providers[0] != "cpu" {
		t.Error("configs share the default providers slice")
	}
}

func TestConfigRoundTrip(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "good", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out, "marshaled")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := equal(back, cfg); err != nil {
		t.Errorf("%v\n%s", err, out)
	}
}

func TestDuration(t *testing.T) {
	good := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"500ms", 500 * time.Millisecond, "500ms"},
		{"30s", 30 * time.Second, "30s"},
		{"1m30s", 90 * time.Second, "1m30s"},
		{"2h", 2 * time.Hour, "2h0m0s"},
		{"0", 0, "0s"},
		{" 1s ", time.Second, "1s"},
	}
	for _, tc := range good {
		var d Duration
		if err := d.UnmarshalText([]byte(tc.in)); err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if d.D() != tc.want {
			t.Errorf("%q = %v, want %v", tc.in, d.D(), tc.want)
		}
		text, _ := d.MarshalText()
		if string(text) != tc.out {
			t.Errorf("%q marshals as %q, want %q", tc.in, text, tc.out)
		}
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Errorf("%q does not read back: %v, %v", text, back, err)
		}
	}
	bad := []struct{ in, want string }{
		{"5", "has no unit"},
		{"-1s", "is negative"},
		{"soon", "is not a duration"},
		{"", "is not a duration"},
	}
	for _, tc := range bad {
		var d Duration
		if err := d.UnmarshalText([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}

	// Through YAML, as the config writes it.
	b := Backoff{Min: Duration(500 * time.Millisecond), Max: Duration(30 * time.Second), Fast: Duration(10 * time.Second)}
	out, err := yaml.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "min: 500ms\nmax: 30s\nfast: 10s\n" {
		t.Errorf("Backoff marshals as %q", out)
	}
	var back Backoff
	if err := yaml.Unmarshal(out, &back); err != nil || back != b {
		t.Errorf("Backoff reads back as %+v, %v", back, err)
	}
}

func TestKind(t *testing.T) {
	cases := []struct {
		url, want, err string
	}{
		{"clips/cell4.mp4", KindFile, ""},
		{"/srv/video/a.avi", KindFile, ""},
		{"C:\\video\\a.avi", KindFile, ""},
		{"my:file.mp4", KindFile, ""},
		{"rtsp://10.0.0.1/stream", KindRTSP, ""},
		{"RTSP://10.0.0.1/stream", KindRTSP, ""},
		{"rtsps://10.0.0.1:322/stream", KindRTSP, ""},
		{"http://10.0.0.7/mjpeg", KindHTTP, ""},
		{"https://10.0.0.7/mjpeg", KindHTTP, ""},
		{"/dev/video0", KindDevice, ""},
		{"/dev/video12", KindDevice, ""},
		{"/dev/videoX", KindFile, ""},
		{"testsrc", KindTestsrc, ""},
		{"rtmp://10.0.0.1/live", "", `unsupported scheme "rtmp"; use rtsp://, http(s)://, a file path or /dev/videoN`},
		{"file:///srv/a.mp4", "", `unsupported scheme "file"`},
		{"", "", "no url"},
	}
	for _, tc := range cases {
		got, err := Camera{URL: tc.url}.Kind()
		if got != tc.want {
			t.Errorf("Kind(%q) = %q, want %q", tc.url, got, tc.want)
		}
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("Kind(%q): %v", tc.url, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Kind(%q): error %v, want %q", tc.url, err, tc.err)
		}
	}
}

func TestRedacted(t *testing.T) {
	cases := []struct{ url, want string }{
		{"rtsp://admin:hunter2@10.0.0.9:554/s1", "rtsp://admin:xxxxx@10.0.0.9:554/s1"},
		{"rtsp://10.0.0.9/s1", "rtsp://10.0.0.9/s1"},
		{"clips/a.mp4", "clips/a.mp4"},
		{"rtsp://admin:hun%zzter2@10.0.0.9/s1", "rtsp://xxxxx@10.0.0.9/s1"}, // unparsable
	}
	for _, tc := range cases {
		if got := (Camera{URL: tc.url}).RedactedURL(); got != tc.want {
			t.Errorf("RedactedURL(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
	cfg := Default()
	cfg.Cameras = []Camera{DemoCamera("rtsp://admin:hunter2@10.0.0.9/s1")}
	r := cfg.Redacted()
	if strings.Contains(fmt.Sprintf("%+v", r), "hunter2") {
		t.Errorf("Redacted() holds the password: %+v", r)
	}
	if cfg.Cameras[0].URL != "rtsp://admin:hunter2@10.0.0.9/s1" {
		t.Error("Redacted() changed the original")
	}
}

// A Config must never hold a secret value: only the files (or the
// environment) that do.
func TestNoSecretFields(t *testing.T) {
	var walk func(reflect.Type, string)
	walk = func(t2 reflect.Type, path string) {
		for i := 0; i < t2.NumField(); i++ {
			f := t2.Field(i)
			p := path + "." + f.Name
			lower := strings.ToLower(f.Name)
			for _, word := range []string{"password", "token", "secret", "key"} {
				if strings.Contains(lower, word) && !strings.HasSuffix(lower, "file") && f.Type.Kind() == reflect.String &&
					p != ".NATS.TLS.Key" { // a path, like ca and cert
					t.Errorf("%s looks like a secret value; hold a file path instead", p)
				}
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(ft, p)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
}

func TestReadSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pwFile := write("password", "s3cret\n")
	tokFile := write("token", "tok-1\r\n")
	emptyFile := write("empty", "\n")

	t.Run("files", func(t *testing.T) {
		t.Setenv(EnvNATSPassword, "from-env")
		t.Setenv(EnvNATSToken, "from-env")
		c := Default()
		c.NATS.PasswordFile, c.NATS.TokenFile = pwFile, tokFile
		pw, tok, err := c.ReadSecrets()
		if err != nil || pw != "s3cret" || tok != "tok-1" {
			t.Errorf("got %q, %q, %v; want the files' contents", pw, tok, err)
		}
	})
	t.Run("env", func(t *testing.T) {
		t.Setenv(EnvNATSPassword, "env-pw")
		t.Setenv(EnvNATSToken, "env-tok")
		pw, tok, err := Default().ReadSecrets()
		if err != nil || pw != "env-pw" || tok != "env-tok" {
			t.Errorf("got %q, %q, %v; want the environment's", pw, tok, err)
		}
	})
	t.Run("none", func(t *testing.T) {
		t.Setenv(EnvNATSPassword, "")
		t.Setenv(EnvNATSToken, "")
		pw, tok, err := Default().ReadSecrets()
		if err != nil || pw != "" || tok != "" {
			t.Errorf("got %q, %q, %v; want nothing", pw, tok, err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		c := Default()
		c.NATS.PasswordFile = filepath.Join(dir, "nope")
		_, _, err := c.ReadSecrets()
		if err == nil || !strings.Contains(err.Error(), "nats.password_file") || !strings.Contains(err.Error(), c.NATS.PasswordFile) ||
			!errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error %v; want one naming nats.password_file and its path", err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		c := Default()
		c.NATS.TokenFile = emptyFile
		_, _, err := c.ReadSecrets()
		if err == nil || !strings.Contains(err.Error(), emptyFile) || !strings.Contains(err.Error(), "is empty") {
			t.Errorf("error %v; want one saying %s is empty", err, emptyFile)
		}
	})
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "does not exist") ||
		!errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v; want one naming %s and saying it does not exist", err, path)
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	c := Default()
	c.Cameras = []Camera{{ID: "a", URL: "testsrc"}} // nil pointers and zero sizes: not through Parse
	c.Tracker.MinHits = 0
	got := messages(c.Validate())
	want := []string{
		"tracker.min_hits: 0; use 1 or more",
		"cameras[0].rtsp_transport: unknown transport \"\"; use tcp or udp",
		"cameras[0].fps: 0; a testsrc needs a frame rate above 0, e.g. 10",
		"cameras[0].width: 0; use a size in pixels such as 640x480",
		"cameras[0].height: 0; use a size in pixels such as 640x480",
		"cameras[0].reconnect.min: 0s; use a pause above 0, e.g. 500ms",
		"cameras[0].reconnect.max: 0s; use a pause above 0, e.g. 30s",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "a.mp4")
	if err := os.WriteFile(present, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "later.mp4")
	off := false
	c := Default()
	c.Cameras = []Camera{
		withID(DemoCamera(present), "present"),
		withID(DemoCamera(missing), "missing"),
		withID(DemoCamera("rtsp://10.0.0.1/s"), "remote"),
		withID(DemoCamera(filepath.Join(dir, "off.mp4")), "disabled"),
		withID(DemoCamera(dir), "dir"),
	}
	c.Cameras[3].Enabled = &off
	c.Model.Path = filepath.Join(dir, "model.onnx")
	c.NATS.PasswordFile = filepath.Join(dir, "pw")
	c.NATS.User = "vigil"
	// Missing files are warnings, not configuration errors.
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var got []string
	for _, err := range c.CheckFiles() {
		got = append(got, err.Error())
	}
	sort.Strings(got)
	want := []string{
		fmt.Sprintf("cameras[1].url: %q does not exist", missing),
		fmt.Sprintf("cameras[4].url: %q is a directory; name a file", dir),
		fmt.Sprintf("model.path: %q does not exist", c.Model.Path),
		fmt.Sprintf("nats.password_file: %q does not exist", c.NATS.PasswordFile),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSuggestion(t *testing.T) {
	fields := yamlFields(reflect.TypeOf(Camera{}))
	cases := []struct{ key, want string }{
		{"urll", `did you mean "url"?`},
		{"URL", `did you mean "url"?`},
		{"realtme", `did you mean "realtime"?`},
		{"rtsp_transprot", `did you mean "rtsp_transport"?`},
		{"lopo", `did you mean "loop"?`}, // a swap is one edit
		{"reconnect_min", `did you mean "reconnect"?`},
		{"framerate", "use one of detector, enabled, examples, fps,"},
		{"re", "use one of"},     // too short to be a prefix
		{"buffer", "use one of"}, // no camera key starts with it
		{"x", "use one of"},
	}
	for _, tc := range cases {
		if got := unknownField(tc.key, fields); !strings.Contains(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.key, got, tc.want)
		}
	}
}

// A model from the store: NAME or NAME@VERSION, instead of a path; a
// detector naming a file or a store model replaces what model: names.
func TestStoreModel(t *testing.T) {
	cfg, err := Parse([]byte(`
model: {store: line3}
detectors:
  - {name: pinned, model: {store: line3@4}}
  - {name: file, model: {path: other.onnx}}
cameras: [{id: a, url: testsrc}]
`), "store.yaml")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Model{"default": cfg.Model}
	for _, d := range cfg.Detectors {
		byName[d.Name] = d.Model
	}
	for name, want := range map[string][2]string{"default": {"", "line3"}, "pinned": {"", "line3@4"}, "file": {"other.onnx", ""}} {
		if m := byName[name]; m.Path != want[0] || m.Store != want[1] {
			t.Errorf("detector %s: path %q store %q, want %q %q", name, m.Path, m.Store, want[0], want[1])
		}
	}
	_, err = Parse([]byte(`
model: {store: "line 3", path: a.onnx}
detectors:
  - {name: both, model: {store: x@0, path: b.onnx}}
cameras: [{id: a, url: testsrc}]
`), "bad.yaml")
	for _, want := range []string{
		`bad.yaml:2: model.store: "line 3"; name a model as NAME (its promoted version) or NAME@VERSION`,
		`bad.yaml:2: model.store: a store model and path "a.onnx": set one of them`,
		`bad.yaml:4: detectors[0].model.store: "x@0"; name a model as NAME`,
		`bad.yaml:4: detectors[0].model.store: a store model and path "b.onnx": set one of them`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %s", err, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
