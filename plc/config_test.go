package plc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfig(t *testing.T) {
	c, err := Load(filepath.Join("..", "cmd", "vigil-plc", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Stream != "VIGIL_EVENTS" || c.Consumer != "vigil-plc" || c.AckWait.D() != 30*time.Second || *c.PLC.UnitID != 1 ||
		c.HTTP.Listen != "127.0.0.1:9102" || len(c.Mappings) != 5 || c.Mappings[2].Duration.D() != 500*time.Millisecond ||
		c.Mappings[3].From != "counts.up" || c.Mappings[3].Camera != "walkway" {
		t.Errorf("example parsed as %+v", c)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("plc: {url: tcp://10.0.0.9:502}\nmappings:\n  - {rule: cell, type: dwell, action: pulse_coil, address: 4}\n"), "min.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.URL != "nats://127.0.0.1:4222" || c.Subjects[0] != "vigil.*.events.*" || c.Retry.Min.D() != 200*time.Millisecond ||
		c.Retry.Max.D() != 10*time.Second || c.PLC.Timeout.D() != time.Second || c.Mappings[0].Duration.D() != DefaultPulse {
		t.Errorf("defaults %+v", c)
	}
}

func TestBadConfigs(t *testing.T) {
	cases := map[string][]string{
		"unknown_key.yaml": {`unknown_key.yaml: [3:3] unknown field "adress"`},
		"mappings.yaml": {
			`plc.url: "http://plc.local"; use tcp://host:port`,
			`plc.unit_id: 300; use 0-255`,
			`retry.max: 20s must be under half of ack_wait (30s)`,
			`mappings[0].type: unknown event type "zone_entered"; use one of zone_enter, zone_exit, dwell, occupancy_reached, occupancy_cleared, line_cross`,
			`mappings[0].address: 70000; use 0-65535`,
			`mappings[1].direction: applies to line_cross only`,
			`mappings[1].action: unknown action "pulse"; use set_coil, clear_coil, pulse_coil, write_register`,
			`mappings[2]: write_register needs one of from (occupancy or counts.<key>) or value (0-65535)`,
			`mappings[3].from: "count.up"; use occupancy or counts.<key>`,
			`mappings[4]: from and value apply to write_register only`,
		},
		// Found by FuzzConfig: the lines shown around a YAML error, and a
		// quoted value, showed a URL's password.
		"unknown_key_near_password.yaml": {`unknown_key_near_password.yaml: [4:1] unknown field "bogus"`, `url: nats://vigil:xxxxx@127.0.0.1:4222`},
		"plc_url_password.yaml":          {`plc.url: "tcp://vigil:xxxxx@10.0.0.9"; use tcp://host:port`},
		// Found by FuzzConfig: goccy/go-yaml panicked.
		"tag_on_list.yaml": {`tag_on_list.yaml: the YAML library failed on this file`, `remove the tag`},
		"no_mappings.yaml": {
			`nats.url: "nats://vigil:xxxxx@127.0.0.1:4222"; use nats://host:4222 with no credentials in it`,
			`plc.url: required; e.g. tcp://192.168.1.50:502`,
			`mappings: none; map at least one rule's events`,
		},
	}
	all, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	if len(all) != len(cases) {
		t.Errorf("%d bad fixtures, %d cases", len(all), len(cases))
	}
	for file, wants := range cases {
		_, err := Load(filepath.Join("testdata", "bad", file))
		if err == nil {
			t.Errorf("%s: no error", file)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", file, w, err)
			}
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows a password", file)
		}
	}
}

func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	password, token, err := NATS{User: "plc", PasswordFile: pw}.secrets()
	if err != nil || password != "s3cret" || token != "" {
		t.Errorf("%q %q %v", password, token, err)
	}
	t.Setenv("VIGIL_NATS_TOKEN", "tok")
	if _, token, _ := (NATS{}).secrets(); token != "tok" {
		t.Errorf("token from the environment: %q", token)
	}
}
