package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/assets"
)

// vigil model plan profiles the cuts here, predicts every candidate and
// picks one per goal; bad flags get errors that say what to write.
func TestModelPlan(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"model", "plan", "m.onnx"}, 2, "vigil model plan MODEL --link RATE"},
		{[]string{"model", "plan", "m.onnx", "--link", "fast"}, 1, `link rate "fast": write a positive number and a unit`},
		{[]string{"model", "plan", "m.onnx", "--link", "1Gbit", "--goal", "energy"}, 1, `--goal "energy": use latency, camera_cpu or bytes`},
		{[]string{"model", "plan", "m.onnx", "--link", "1Gbit", "--remote-profile", "/nonexistent.json"}, 1, "--remote-profile"},
	} {
		_, stderr, code := vigil(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %s; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}

	stdout, stderr, code := vigil(t, "model", "plan", assets.Model(), "--link", "1Gbit", "--speedup", "10",
		"--frames", "1", "--max-tensors", "1", "--threads", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var out struct {
		Candidates []struct {
			Name      string  `json:"name"`
			Tensors   int     `json:"tensors"`
			CameraMS  float64 `json:"camera_cpu_ms"`
			Bytes     int     `json:"bytes"`
			LatencyMS float64 `json:"latency_ms"`
			FPS       float64 `json:"fps"`
		} `json:"candidates"`
		Picks map[string]string `json:"picks"`
		Pick  string            `json:"pick"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	byName := map[string]int{}
	for i, c := range out.Candidates {
		byName[c.Name] = i
		if c.LatencyMS <= 0 || c.CameraMS <= 0 || c.FPS <= 0 {
			t.Errorf("candidate %+v: a cost is missing", c)
		}
	}
	local, jpeg, cut := byName["local"], byName["jpeg"], byName["/model.3/act/Mul"]
	if len(out.Candidates) < 15 || out.Candidates[local].Name != "local" || out.Candidates[jpeg].Name != "jpeg" || cut == 0 {
		t.Fatalf("candidates: %+v", out.Candidates)
	}
	if c := out.Candidates[cut]; c.Bytes < 409600 || c.Bytes > 409600+1000 || c.Tensors != 1 {
		t.Errorf("the single-tensor cut at uint8: %+v, want 409,600 bytes and a header", c)
	}
	if out.Candidates[local].Bytes != 0 || out.Candidates[jpeg].Bytes < 10_000 {
		t.Errorf("bytes: local %d, jpeg %d", out.Candidates[local].Bytes, out.Candidates[jpeg].Bytes)
	}
	if out.Pick != out.Picks["latency"] || out.Picks["camera_cpu"] == "local" || out.Picks["bytes"] == "" {
		t.Errorf("picks %v, pick %q", out.Picks, out.Pick)
	}
	// The camera_cpu pick costs this node the least of all that offload.
	best := out.Candidates[byName[out.Picks["camera_cpu"]]].CameraMS
	for _, c := range out.Candidates {
		if c.Name != "local" && c.CameraMS < best {
			t.Errorf("camera_cpu picked %s (%.1f ms), but %s costs %.1f ms", out.Picks["camera_cpu"], best, c.Name, c.CameraMS)
		}
	}
}
