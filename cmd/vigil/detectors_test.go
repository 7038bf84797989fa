package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/assets"
)

// findAll returns every log line with this message.
func (p *proc) findAll(msg string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		if l["message"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// TestRunTwoDetectors: two camera groups, each with its own detector — the
// docks' asks for CUDA first (no GPU here: it falls back to the CPU, with
// one thread), names class 0 differently, and serves only its camera; a
// detector no camera names is not loaded.
func TestRunTwoDetectors(t *testing.T) {
	srv, msgs := natsServer(t, "vigil.*.tracks")

	// The docks' model calls class 0 "worker" (as a fine-tuned one would).
	names := []string{"worker"}
	for i := 1; i < 80; i++ {
		names = append(names, fmt.Sprintf("class%d", i))
	}
	labels := writeFile(t, "docks.names", strings.Join(names, "\n")+"\n")
	const frames = 30
	cfg := writeFile(t, "vigil.yaml", fmt.Sprintf(`
cameras:
  - id: gate
    url: %[1]s
    realtime: false
    loop: false
  - id: dock
    url: %[1]s
    realtime: false
    loop: false
    detector: docks
detectors:
  - name: docks
    model:
      labels: %[2]s
      providers: [cuda, cpu]
      intra_op_threads: 1
  - name: spare
    model:
      intra_op_threads: 1
nats:
  url: %[3]s
http:
  listen: off
model:
  intra_op_threads: 1
pipeline:
  max_frames: %[4]d
`, assets.Media("vtest.avi"), labels, srv.ClientURL(), frames))
	p := start(t, "run", "--config", cfg, "--log-format", "json")
	if err := p.wait(t); err != nil {
		t.Fatalf("vigil run: %v", err)
	}

	ready := map[string]map[string]any{}
	for _, l := range p.findAll("detector ready") {
		ready[fmt.Sprint(l["detector"])] = l
	}
	if len(ready) != 2 || ready["default"] == nil || ready["docks"] == nil {
		t.Fatalf("detectors loaded: %v; want default and docks (spare serves no camera)", keys(ready))
	}
	for name, cam := range map[string]string{"default": "gate", "docks": "dock"} {
		if got := fmt.Sprint(ready[name]["cameras"]); got != "["+cam+"]" {
			t.Errorf("detector %s serves %s, want [%s]", name, got, cam)
		}
		if got := fmt.Sprint(ready[name]["providers"]); got != "[cpu]" {
			t.Errorf("detector %s runs on %s, want [cpu] on this machine", name, got)
		}
	}
	fell := p.find("execution provider unavailable; falling back to the next one")
	if fell == nil || fell["detector"] != "docks" || fell["provider"] != "cuda" || fell["level"] != "warn" {
		t.Errorf("fallback warning %v: want the docks' cuda provider named", fell)
	}
	stopped := p.find("vigil stopped")
	if stopped == nil || stopped["processed"] != float64(frames) || stopped["mats_open"] != float64(0) {
		t.Fatalf("stopped line %v", stopped)
	}

	// Each camera's objects carry its own detector's labels.
	waitUntil(t, "all messages", func() bool { return len(msgs) >= frames })
	seen := map[string]map[string]int{"gate": {}, "dock": {}}
	for len(msgs) > 0 {
		m := <-msgs
		var tm tracksMsg
		if bad := checkSchema(m.Data, &tm); bad != "" {
			t.Fatalf("%s: %s", m.Subject, bad)
		}
		for _, o := range tm.Objects {
			seen[tm.Camera][o.Label]++
		}
	}
	if seen["gate"]["person"] == 0 || seen["gate"]["worker"] != 0 {
		t.Errorf("gate labels %v: want the default model's person", seen["gate"])
	}
	if seen["dock"]["worker"] == 0 || seen["dock"]["person"] != 0 {
		t.Errorf("dock labels %v: want the docks' worker", seen["dock"])
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
