package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/rules"
)

var coco = []string{"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
	"fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant"}

func TestRulesFixtureCompiles(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "good", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.HasRules() || cfg.SpoolPath() != filepath.Join("data", "alerts-spool") {
		t.Errorf("HasRules %v, SpoolPath %q", cfg.HasRules(), cfg.SpoolPath())
	}
	if !cfg.NATS.MQTT.Enabled || cfg.NATS.MQTT.Listen != "127.0.0.1:1883" {
		t.Errorf("mqtt %+v", cfg.NATS.MQTT)
	}
	got, err := cfg.CompileRules(coco)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]rules.Rule{"walkway": {
		{Name: "crossing", Kind: rules.KindLine, Points: []rules.Point{{X: 0, Y: 330}, {X: 768, Y: 330}}, Classes: []int{0},
			Anchor: rules.AnchorBottomCenter, Hysteresis: 10, ExitAfter: 3 * time.Second, AToB: "southbound", BToA: "northbound"},
		{Name: "keep_out", Kind: rules.KindZone, Normalized: true, Points: []rules.Point{{X: 0.55, Y: 0.5}, {X: 0.95, Y: 0.5}, {X: 0.95, Y: 0.95}, {X: 0.55, Y: 0.95}},
			Classes: []int{0}, MinScore: 0.5, Anchor: rules.AnchorBottomCenter, Hysteresis: 10, Dwell: 10 * time.Second,
			OccupancyThreshold: 1, ExitAfter: 3 * time.Second, AToB: "a_to_b", BToA: "b_to_a"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("compiled\n%+v\nwant\n%+v", got, want)
	}
	if _, err := rules.New("walkway", got["walkway"]); err != nil {
		t.Errorf("the rules engine refuses the compiled rules: %v", err)
	}
}

func TestCompileRulesUnknownClass(t *testing.T) {
	cfg, err := Parse([]byte(`
cameras:
  - id: walkway
    url: testsrc
    rules:
      - {name: door, type: line, points: [[0, 100], [200, 100]], classes: [person, "2"]}
      - {name: cell, type: zone, points: [[0, 0], [9, 0], [9, 9]], classes: [persn, forklift, "99"]}
  - id: off
    url: testsrc
    enabled: false
    rules:
      - {name: x, type: line, points: [[0, 100], [200, 100]], classes: [unicorn]}
`), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.CompileRules(coco)
	got := messages(err)
	want := []string{
		`cameras[0].rules[1].classes[0]: unknown class "persn" in rule "cell"; the model knows person, bicycle, car,`,
		`cameras[0].rules[1].classes[1]: unknown class "forklift"`,
		`cameras[0].rules[1].classes[2]: unknown class "99"`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("got %s\nwant %s", got[i], want[i])
		}
	}
	if !strings.Contains(got[0], "… (21 labels; or use a class id)") {
		t.Errorf("long label lists are cut: %s", got[0])
	}
	if _, err := cfg.CompileRules([]string{"person", "bicycle", "car"}); err == nil || !strings.Contains(err.Error(), "the model knows person, bicycle, car") {
		t.Errorf("short list: %v", err)
	}
}

func TestRuleDefaults(t *testing.T) {
	cfg, err := Parse([]byte("cameras:\n  - id: a\n    url: testsrc\n    rules:\n      - {name: z, type: zone, points: [[0, 0], [9, 0], [9, 9]], hysteresis: 0, armed: false}\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Cameras[0].Rules[0]
	want := DefaultRule()
	want.Name, want.Type, want.Points, want.Hysteresis, want.Armed = "z", "zone", [][]float64{{0, 0}, {9, 0}, {9, 9}}, 0, boolPtr(false)
	if !reflect.DeepEqual(r, want) {
		t.Errorf("rule %+v\nwant %+v", r, want)
	}
}

func TestByteSize(t *testing.T) {
	good := map[string]ByteSize{"1048576": 1 << 20, "64MiB": 64 << 20, "512KiB": 512 << 10, "1GB": 1e9, "2 GiB": 2 << 30, "0": 0, "10B": 10}
	for in, want := range good {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || b != want {
			t.Errorf("%q: %v %v", in, b, err)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "64 bananas", "99999999999TiB"} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q accepted as %d", in, b)
		}
	}
	for v, want := range map[ByteSize]string{64 << 20: "64MiB", 1 << 30: "1GiB", 1000: "1000", 1536: "1536", 0: "0"} {
		if v.String() != want {
			t.Errorf("%d prints as %s, want %s", v, v, want)
		}
	}
}
