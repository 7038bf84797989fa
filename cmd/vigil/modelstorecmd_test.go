package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/internal/natstest"
	"github.com/vigil-vision/vigil/model"
	"github.com/vigil-vision/vigil/modelstore"
	"github.com/vigil-vision/vigil/node"
)

// TestModelStoreCommands: push, list, promote and rollback from the
// command line, on a folder and on a fleet's NATS, with the real YOLOv8n
// and its FP16 conversion; a refused file stores nothing.
func TestModelStoreCommands(t *testing.T) {
	fp16 := filepath.Join(t.TempDir(), "yolov8n-fp16.onnx")
	var out strings.Builder
	if code := run([]string{"model", "fp16", assets.Model(), "-o", fp16}, &out, &out); code != 0 {
		t.Fatalf("fp16: %d\n%s", code, out.String())
	}
	for _, where := range []struct{ name, flag string }{
		{"dir", "--dir"},
		{"nats", "--nats"},
	} {
		t.Run(where.name, func(t *testing.T) {
			at := filepath.Join(t.TempDir(), "models")
			if where.name == "nats" {
				at = natstest.Server(t)
			}
			vigil := func(args ...string) (string, int) {
				var out strings.Builder
				code := run(append(append([]string{"model"}, args...), where.flag, at), &out, &out)
				return out.String(), code
			}
			expect := func(want int, args []string, subs ...string) {
				t.Helper()
				out, code := vigil(args...)
				if code != want {
					t.Errorf("vigil model %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
				}
				for _, s := range subs {
					if !strings.Contains(out, s) {
						t.Errorf("vigil model %s lacks %q:\n%s", strings.Join(args, " "), s, out)
					}
				}
			}
			expect(0, []string{"list"}, "no models; push one with: vigil model push FILE --name NAME")
			expect(0, []string{"push", assets.Model(), "--name", "line3"},
				"pushed line3@1 (sha256 505648ad", "MiB, input 1x3x640x640, 80 classes, float32), promoted: the first version of line3")
			expect(0, []string{"push", "--name", "line3", fp16},
				"pushed line3@2 (sha256 ", "80 classes, float16); line3@1 stays promoted and line3@2 is the candidate: nodes that follow line3 check it in shadow")
			if out, _ := vigil("list"); !hasRow(out, []string{"line3", "2", "candidate", "float16"}) {
				t.Errorf("list lacks the candidate:\n%s", out)
			}
			expect(0, []string{"shadow", "--stop", "line3"}, "ended the trial of line3@2")
			expect(0, []string{"shadow", "--stop", "line3"}, "line3 has no candidate")
			expect(0, []string{"shadow", "line3@2"}, "line3@2 is the candidate: nodes that follow line3 run it in shadow beside line3@1")
			expect(1, []string{"shadow", "line3@1"}, "it is the promoted version")
			expect(2, []string{"shadow", "line3"}, "put which version of line3 on trial?")
			expect(2, []string{"shadow", "--stop", "line3@2"}, "--stop takes a name")
			notModel := writeFile(t, "notes.txt", "not a model\n")
			expect(1, []string{"push", notModel, "--name", "line3"}, "is not an ONNX model (truncated, or not protobuf)")
			expect(2, []string{"push", assets.Model()}, "vigil model push FILE --name NAME")
			expect(2, []string{"push", assets.Model(), "--name", "line 3"}, `model name "line 3"`)

			expect(0, []string{"promote", "line3@2"}, "promoted line3@2 (was line3@1)")
			if out, _ := vigil("list", "--json"); strings.Contains(out, `"candidate"`) {
				t.Errorf("the candidate promoted is still on trial:\n%s", out)
			}
			expect(0, []string{"promote", "line3@2"}, "line3@2 is already promoted")
			expect(1, []string{"promote", "line3@3"}, "line3 has no version 3 (versions 1, 2)")
			expect(2, []string{"promote", "line3"}, "promote which version of line3?")
			expect(1, []string{"promote", "dock@1"}, `model "dock": no such model`)

			out, code := vigil("list")
			if code != 0 {
				t.Fatalf("list: %d\n%s", code, out)
			}
			for _, row := range [][]string{
				{"MODEL", "VERSION", "STATE", "SHA256", "SIZE", "INPUT", "CLASSES", "PRECISION", "PUSHED", "SOURCE"},
				{"line3", "1", "previous", "505648ad", "1x3x640x640", "80", "float32", "yolov8n.onnx"},
				{"line3", "2", "promoted", "1x3x640x640", "80", "float16", "yolov8n-fp16.onnx"},
			} {
				if !hasRow(out, row) {
					t.Errorf("list lacks a row with %v:\n%s", row, out)
				}
			}
			out, code = vigil("list", "--json")
			var entries []modelstore.Entry
			if err := json.Unmarshal([]byte(out), &entries); err != nil || code != 0 {
				t.Fatalf("list --json: %d %v\n%s", code, err, out)
			}
			if len(entries) != 1 || entries[0].Promoted != 2 || len(entries[0].Versions) != 2 || entries[0].Versions[1].Quantized != "float16 weights" {
				t.Errorf("list --json: %+v", entries)
			}

			expect(0, []string{"rollback", "line3"}, "rolled back line3 to version 1 (was 2): line3@1 is promoted")
			expect(1, []string{"rollback", "line3"}, "nothing to roll back to: version 1 is the first promoted one")
			expect(2, []string{"rollback", "line3@2"}, "rollback takes a name, not a version")
		})
	}
	var both strings.Builder
	if code := run([]string{"model", "list", "--dir", t.TempDir(), "--nats", "nats://127.0.0.1:1"}, &both, &both); code != 2 || !strings.Contains(both.String(), "not both") {
		t.Errorf("--dir with --nats: %d\n%s", code, both.String())
	}
}

// hasRow says whether a line of out holds every field of row.
func hasRow(out string, row []string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		all := true
		for _, want := range row {
			found := false
			for _, g := range f {
				if strings.HasPrefix(g, want) {
					found = true
					break
				}
			}
			all = all && found
		}
		if all {
			return true
		}
	}
	return false
}

// TestModelShadowWatch: --watch prints the reports published on the
// name's shadow subject, as lines or JSON; --once stops after the first.
func TestModelShadowWatch(t *testing.T) {
	url := natstest.Server(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rep := node.ShadowReport{Node: "line-3", Detector: "default", Model: "det", Live: "det@1", Candidate: "det@2", State: node.ShadowRunning,
		Counts: model.ShadowCounts{Checked: 40, Busy: 2}, Comparison: &model.Comparison{Frames: 40, Agreement: 0.925, SpeedRatio: 1.5},
		Verdict: "collecting: 40 of 300 frames checked"}
	b, _ := json.Marshal(rep)
	stopPub := make(chan struct{})
	defer close(stopPub)
	go func() {
		for {
			select {
			case <-stopPub:
				return
			case <-time.After(50 * time.Millisecond):
				nc.Publish(node.ShadowSubject("vigil", "det"), b)
			}
		}
	}()
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "line-3 default det@1 → det@2 running: 40 frames checked (2 skipped busy), agreement 0.925, mean score change +0.000, speed ratio 1.50; collecting: 40 of 300 frames checked"},
		{[]string{"--json"}, `"candidate":"det@2"`},
	} {
		var out strings.Builder
		if code := run(append([]string{"model", "shadow", "--watch", "det", "--once", "--nats", url}, c.args...), &out, &out); code != 0 || !strings.Contains(out.String(), c.want) {
			t.Errorf("shadow --watch %v: exit %d\n%s\nwant %q", c.args, code, out.String(), c.want)
		}
		if n := strings.Count(strings.TrimSpace(out.String()), "\n"); n != 0 {
			t.Errorf("--once printed %d lines", n+1)
		}
	}
	var out strings.Builder
	if code := run([]string{"model", "shadow", "--watch", "det@2", "--nats", url}, &out, &out); code != 2 || !strings.Contains(out.String(), "--watch takes a name") {
		t.Errorf("--watch NAME@VERSION: %d\n%s", code, out.String())
	}
}
