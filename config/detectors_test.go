package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/rules"
)

func TestDetectorsInheritModel(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "good", "detectors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	top := Default().Model
	top.Path = "models/yolov8n.onnx"
	top.IntraOpThreads = 2
	top.Providers = []string{"tensorrt", "cpu"}
	top.ClassConfidence = map[string]float64{"person": 0.4}
	top.TensorRT = TensorRT{FP16: true, EngineCacheDir: "/var/cache/vigil/trt", WorkspaceMB: 1024}
	if !reflect.DeepEqual(cfg.Model, top) {
		t.Errorf("model:\n got  %+v\n want %+v", cfg.Model, top)
	}

	docks := cloneModel(top)
	docks.Path = "models/yolov8n-int8.onnx"
	docks.IntraOpThreads = 1
	docks.Providers = []string{"cpu"}
	forklifts := cloneModel(top)
	forklifts.Labels = "models/forklift.names"
	forklifts.TensorRT.FP16 = false
	forklifts.ClassConfidence = map[string]float64{"forklift": 0.6}
	want := []Detector{{"docks", docks}, {"forklifts", forklifts}, {"spare", cloneModel(top)}}
	if !reflect.DeepEqual(cfg.Detectors, want) {
		t.Errorf("detectors:\n got  %+v\n want %+v", cfg.Detectors, want)
	}

	// Inherited maps and slices are copies: a change to one model shows in
	// no other.
	spare := &cfg.Detectors[2].Model
	cfg.Model.ClassConfidence["person"] = 0.9
	cfg.Model.Providers[0] = "cuda"
	if spare.ClassConfidence["person"] != 0.4 || spare.Providers[0] != "tensorrt" {
		t.Errorf("detector spare shares model:'s memory: %+v", *spare)
	}
	spare.ClassConfidence["car"] = 0.3
	if _, ok := cfg.Model.ClassConfidence["car"]; ok {
		t.Error("model: shares detector spare's class_confidence")
	}
}

func TestDetectorModels(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "good", "detectors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	on, off := boolPtr(true), boolPtr(false)
	cam := func(id, detector string, enabled *bool) Camera {
		c := withID(DemoCamera("testsrc"), id)
		c.Detector, c.Enabled = detector, enabled
		return c
	}
	cases := []struct {
		name    string
		cameras []Camera
		want    []string
	}{
		// The fixture: the yard's forklifts is off, spare unnamed.
		{"fixture", cfg.Cameras, []string{"default", "docks"}},
		{"no cameras: the demo camera's default", nil, []string{"default"}},
		{"default first", []Camera{cam("a", "docks", on), cam("b", "", on)}, []string{"default", "docks"}},
		{"default by name", []Camera{cam("a", "default", on)}, []string{"default"}},
		{"file order", []Camera{cam("a", "spare", on), cam("b", "forklifts", nil), cam("c", "docks", on)}, []string{"docks", "forklifts", "spare"}},
		{"default unused", []Camera{cam("a", "docks", on), cam("b", "docks", on)}, []string{"docks"}},
		{"all disabled", []Camera{cam("a", "", off), cam("b", "docks", off)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *cfg
			c.Cameras = tc.cameras
			var got []string
			for _, d := range c.DetectorModels() {
				got = append(got, d.Name)
				model := c.Model
				if d.Name != DefaultDetector {
					model = c.Detectors[indexOf(c.Detectors, d.Name)].Model
				}
				if !reflect.DeepEqual(d.Model, model) {
					t.Errorf("%s: model %+v, want %+v", d.Name, d.Model, model)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("detectors %q, want %q", got, tc.want)
			}
		})
	}

	// The models returned are the caller's to change.
	ds := cfg.DetectorModels()
	ds[0].Model.Providers[0] = "cuda"
	ds[1].Model.Providers[0] = "cuda"
	if cfg.Model.Providers[0] != "tensorrt" || cfg.Detectors[0].Model.Providers[0] != "cpu" {
		t.Error("DetectorModels shares the config's memory")
	}
}

func indexOf(ds []Detector, name string) int {
	for i, d := range ds {
		if d.Name == name {
			return i
		}
	}
	return -1
}

func TestDetectorOf(t *testing.T) {
	c := Default()
	for detector, want := range map[string]string{"": "default", "default": "default", "docks": "docks"} {
		if got := c.DetectorOf(Camera{Detector: detector}); got != want {
			t.Errorf("DetectorOf(%q) = %q, want %q", detector, got, want)
		}
	}
}

func TestIntraOpSpinning(t *testing.T) {
	for _, v := range []string{"on", "off"} {
		cfg, err := Parse([]byte("model:\n  intra_op_spinning: "+v+"\ndetectors:\n  - name: d\n"), "t.yaml")
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if cfg.Model.IntraOpSpinning != v || cfg.Detectors[0].Model.IntraOpSpinning != v {
			t.Errorf("%s: model %q, detector %q", v, cfg.Model.IntraOpSpinning, cfg.Detectors[0].Model.IntraOpSpinning)
		}
	}
	c := Default()
	c.Model.IntraOpSpinning = ""
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `model.intra_op_spinning: ""; use off`) {
		t.Errorf("empty spinning: %v", err)
	}
}

func TestCompileRulesFor(t *testing.T) {
	cfg, err := Parse([]byte(`
detectors:
  - name: forklifts
cameras:
  - id: walkway
    url: testsrc
    rules:
      - {name: door, type: line, points: [[0, 100], [200, 100]], classes: [person, car]}
  - id: yard
    url: testsrc
    detector: forklifts
    rules:
      - {name: lane, type: line, points: [[0, 100], [200, 100]], classes: [forklift, person, "0"]}
`), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string][]string{"default": coco, "forklifts": {"forklift", "pallet", "person"}}
	var asked []string
	got, err := cfg.CompileRulesFor(func(d string) []string {
		asked = append(asked, d)
		return labels[d]
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"default", "forklifts"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("asked for the labels of %q, want %q", asked, want)
	}
	classes := map[string][]int{}
	for id, rs := range got {
		classes[id] = rs[0].Classes
	}
	if want := map[string][]int{"walkway": {0, 2}, "yard": {0, 2, 0}}; !reflect.DeepEqual(classes, want) {
		t.Errorf("classes %v, want %v", classes, want)
	}
	if _, err := rules.New("yard", got["yard"]); err != nil {
		t.Errorf("the rules engine refuses the compiled rules: %v", err)
	}

	// Swapped: each camera's classes are looked up in its own detector's
	// labels, and the message names a detector that is not the default.
	labels["default"], labels["forklifts"] = labels["forklifts"], coco[:3]
	_, err = cfg.CompileRulesFor(func(d string) []string { return labels[d] })
	msgs := messages(err)
	want := []string{
		`cameras[0].rules[0].classes[1]: unknown class "car" in rule "door"; the model knows forklift, pallet, person`,
		`cameras[1].rules[0].classes[0]: unknown class "forklift" in rule "lane"; detector "forklifts" knows person, bicycle, car`,
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
}

func TestRedactedKeepsDetectors(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "good", "detectors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cameras[1].URL = "rtsp://admin:hunter2@10.0.0.9/s1"
	r := cfg.Redacted()
	if r.Cameras[1].Detector != "docks" || !reflect.DeepEqual(r.DetectorModels(), cfg.DetectorModels()) {
		t.Errorf("Redacted() lost the detectors: %+v", r)
	}
	if strings.Contains(r.Cameras[1].URL, "hunter2") {
		t.Errorf("Redacted() holds the password: %s", r.Cameras[1].URL)
	}
}

func TestCheckFilesDetectors(t *testing.T) {
	dir := t.TempDir()
	c := Default()
	c.Model.Path = filepath.Join(dir, "top.onnx")
	c.Detectors = []Detector{{Name: "same", Model: cloneModel(c.Model)}, {Name: "own", Model: cloneModel(c.Model)}}
	c.Detectors[1].Model.Path = filepath.Join(dir, "int8.onnx")
	var got []string
	for _, err := range c.CheckFiles() {
		got = append(got, err.Error())
	}
	// What a detector inherits is reported once, at model:.
	want := []string{
		`model.path: "` + c.Model.Path + `" does not exist`,
		`detectors[1].model.path: "` + c.Detectors[1].Model.Path + `" does not exist`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
