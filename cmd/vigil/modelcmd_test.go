package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/internal/onnxtest"
	"github.com/vigil-vision/vigil/model"
)

func vigilOutput(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(vigilBin, args...)
	cmd.Dir = moduleRoot(t)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("vigil %v: %v", args, err)
	return "", -1
}

func TestModelInspectCommand(t *testing.T) {
	out, code := vigilOutput(t, "model", "inspect", assets.Model())
	for _, want := range []string{"images float32 [1,3,640,640]", "output0 float32 [1,84,8400]", "yolov8 (80 classes)",
		"80 from metadata: person, bicycle", "parameters  3151904", "quantized   no (float32)", "opset ai.onnx 17"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	out, code = vigilOutput(t, "model", "inspect", "--json", assets.Model())
	var info model.Info
	if err := json.Unmarshal([]byte(out), &info); err != nil || code != 0 || info.Decoder != "yolov8" || info.Params != 3151904 {
		t.Errorf("inspect --json: %v, exit %d, %+v", err, code, info)
	}
}

func TestModelCompareSelfCommand(t *testing.T) {
	out, code := vigilOutput(t, "model", "compare", assets.Model(), assets.Model(), "--threads", "2", "--json",
		"--on", assets.Media("messi5.jpg"), "--on", assets.Media("basketball1.png"))
	var c model.Comparison
	if err := json.Unmarshal([]byte(out), &c); err != nil || code != 0 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if c.Frames != 2 || c.Agreement != 1 || c.All.Precision != 1 || c.All.Recall != 1 || c.MeanBoxIoU != 1 {
		t.Errorf("the default model against itself: %+v", c)
	}
	out, _ = vigilOutput(t, "model", "compare", assets.Model(), assets.Model(), "--threads", "2", "--on", assets.Media("messi5.jpg"))
	if !strings.Contains(out, "agreement (min of precision and recall, all classes): 1.000") {
		t.Errorf("text report:\n%s", out)
	}
}

func TestModelQuantizeCommand(t *testing.T) {
	dir := t.TempDir()
	q := filepath.Join(dir, "int8.onnx")
	out, code := vigilOutput(t, "model", "quantize", assets.Model(), "-o", q, "--calib", assets.Media("messi5.jpg"), "--threads", "2")
	if code != 0 || !strings.Contains(out, "wrote "+q) || !strings.Contains(out, "minmax over 1 frames") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, code = vigilOutput(t, "detect", "--json", "--model", q, assets.Media("messi5.jpg"))
	var l detectLine
	if err := json.Unmarshal([]byte(out), &l); err != nil || code != 0 {
		t.Fatalf("detect with the INT8 model: exit %d, %v:\n%s", code, err, out)
	}
	found := false
	for _, o := range l.Objects {
		found = found || o.Label == "person" && o.Score >= 0.5
	}
	if !found {
		t.Errorf("INT8 model on messi5.jpg: %+v", l.Objects)
	}
	h := filepath.Join(dir, "fp16.onnx")
	if out, code := vigilOutput(t, "model", "fp16", assets.Model(), "-o", h); code != 0 || !strings.Contains(out, "inputs and outputs stay float32") {
		t.Errorf("fp16: exit %d:\n%s", code, out)
	}
	if out, _ := vigilOutput(t, "model", "inspect", h); !strings.Contains(out, "float16 weights") {
		t.Errorf("inspect fp16:\n%s", out)
	}
}

func TestModelCommandsBadInput(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.onnx")
	os.WriteFile(text, []byte("not a model"), 0o644)
	empty := t.TempDir()
	identity, err := onnxtest.Write(dir, "identity.onnx", []int64{1, 3, 8, 8}, []int64{1, 3, 8, 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.onnx")
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"not ONNX", []string{"model", "inspect", text}, 1, []string{"notes.onnx", "not an ONNX model"}},
		{"quantize not ONNX", []string{"model", "quantize", text, "-o", out, "--calib", assets.Media("messi5.jpg")}, 1, []string{"not an ONNX model"}},
		{"no float weights", []string{"model", "quantize", identity, "-o", out, "--calib", assets.Media("messi5.jpg")}, 1, []string{"no float weights"}},
		{"fp16 no float weights", []string{"model", "fp16", identity, "-o", out}, 1, []string{"no float32 initializers"}},
		{"calibration without frames", []string{"model", "quantize", assets.Model(), "-o", out, "--calib", empty}, 1, []string{empty, "no images"}},
		{"no --calib", []string{"model", "quantize", assets.Model(), "-o", out}, 2, []string{"--calib"}},
		{"no -o", []string{"model", "quantize", assets.Model(), "--calib", empty}, 2, []string{"-o OUT"}},
		{"bits", []string{"model", "quantize", assets.Model(), "-o", out, "--calib", assets.Media("messi5.jpg"), "--activation-bits", "16"}, 1, []string{"activation bits 16"}},
		{"compare without --on", []string{"model", "compare", assets.Model(), assets.Model()}, 2, []string{"--on"}},
		{"compare frames missing", []string{"model", "compare", assets.Model(), assets.Model(), "--on", "/nonexistent.avi"}, 1, []string{"/nonexistent.avi"}},
		{"unknown command", []string{"model", "shrink"}, 2, []string{`"shrink"`}},
		{"cuts not ONNX", []string{"model", "cuts", text}, 1, []string{"notes.onnx", "not an ONNX model"}},
		{"cuts without model", []string{"model", "cuts"}, 2, []string{"vigil model cuts MODEL"}},
		{"split without --at", []string{"model", "split", assets.Model(), "-o", out}, 2, []string{"--at TENSOR", "vigil model cuts"}},
		{"split unknown tensor", []string{"model", "split", assets.Model(), "--at", "/model.3/act/Mul_output_9", "-o", out}, 1, []string{`no tensor "/model.3/act/Mul_output_9"`, "vigil model cuts"}},
		{"split across a skip connection", []string{"model", "split", assets.Model(), "--at", "/model.6/cv2/act/Mul_output_0", "-o", out}, 1,
			[]string{"does not separate", "/model.4/cv2/act/Mul_output_0 also crosses"}},
		{"split at the output", []string{"model", "split", assets.Model(), "--at", "output0", "-o", out}, 1, []string{`"output0" is an output of the model`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, code := vigilOutput(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d:\n%s", code, c.code, got)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed command left an output file")
	}
}

func TestModelCutsSplitCommand(t *testing.T) {
	out, code := vigilOutput(t, "model", "cuts", assets.Model())
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"offload the whole model: images [1,3,640,640]; 1228800 values",
		// The single-tensor cut after the fourth block: 0.41 MB at uint8.
		"/model.3/act/Mul_output_0 [1,64,80,80]",
		// The end of the backbone: three tensors, 716,800 values.
		"/model.4/cv2/act/Mul_output_0 [1,64,80,80], /model.6/cv2/act/Mul_output_0 [1,128,40,40], /model.9/cv2/act/Mul_output_0 [1,256,20,20]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("cuts lacks %q", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 7 && f[1] == "/model.3/act/Mul" && (f[3] != "409600" || f[4] != "1.64" || f[5] != "0.82" || f[6] != "0.41") {
			t.Errorf("single-tensor cut row: %s", line)
		}
		if len(f) > 7 && f[1] == "/model.9/cv2/act/Mul" && f[3] != "716800" {
			t.Errorf("backbone-end row: %s", line)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}

	dir := filepath.Join(t.TempDir(), "parts")
	at := "/model.4/cv2/act/Mul_output_0,/model.6/cv2/act/Mul_output_0,/model.9/cv2/act/Mul_output_0"
	out, code = vigilOutput(t, "model", "split", assets.Model(), "--at", at, "-o", dir)
	head, tail := filepath.Join(dir, "head.onnx"), filepath.Join(dir, "tail.onnx")
	if code != 0 || !strings.Contains(out, "wrote "+head) || !strings.Contains(out, "wrote "+tail) ||
		!strings.Contains(out, "images [1,3,640,640] → /model.4/cv2/act/Mul_output_0 [1,64,80,80]") {
		t.Fatalf("split: exit %d:\n%s", code, out)
	}
	// Both parts load in onnxruntime: cuts infers their shapes with it.
	out, code = vigilOutput(t, "model", "cuts", "--json", tail)
	var r model.CutReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || len(r.Inputs) != 3 || r.InputSize.Elements != 716800 {
		t.Errorf("cuts of the tail: exit %d, %v:\n%.600s", code, err, out)
	}
	if out, code := vigilOutput(t, "model", "cuts", "--max-tensors", "1", head); code != 0 || !strings.Contains(out, "/model.3/act/Mul_output_0 [1,64,80,80]") {
		t.Errorf("cuts of the head: exit %d:\n%s", code, out)
	}
	if out, _ := vigilOutput(t, "model", "inspect", tail); !strings.Contains(out, "yolov8 (80 classes)") || !strings.Contains(out, "vigil_split_part: tail") {
		t.Errorf("inspect tail:\n%s", out)
	}
}
