package config

import (
	"reflect"
	"testing"
)

func TestExamplesPerCamera(t *testing.T) {
	cfg, err := Parse([]byte(`
cameras:
  - {id: a, url: testsrc}
  - {id: b, url: testsrc, examples: {enabled: true}}
  - {id: c, url: testsrc, examples: {strategies: {classes: [forklift]}}}
`), "examples.yaml")
	if err != nil {
		t.Fatal(err)
	}
	global := defaultExamples().Strategies
	cases := []struct {
		cam int
		on  bool
		s   ExampleStrategies
	}{
		{0, false, global},
		{1, true, global},
		{2, false, ExampleStrategies{Classes: []string{"forklift"}}}, // replaces the global ones whole
	}
	for _, c := range cases {
		on, s := cfg.ExamplesFor(cfg.Cameras[c.cam])
		if on != c.on || !reflect.DeepEqual(s, c.s) {
			t.Errorf("camera %s: %v %+v, want %v %+v", cfg.Cameras[c.cam].ID, on, s, c.on, c.s)
		}
	}
	if !cfg.ExamplesUsed() {
		t.Error("camera b captures, but ExamplesUsed is false")
	}
	cfg.Cameras = cfg.Cameras[:1]
	if cfg.ExamplesUsed() {
		t.Error("no camera captures, but ExamplesUsed is true")
	}
}
