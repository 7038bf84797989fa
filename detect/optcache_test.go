package detect

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/assets"
)

func TestOptimizedModelCache(t *testing.T) {
	requireRuntime(t)
	dir := filepath.Join(t.TempDir(), "cache")
	img := readImage(t, "messi5.jpg")
	run := func() []Detection {
		d, err := New(Options{Model: assets.Model(), IntraOpThreads: 2, OptimizedModelCache: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		dets, _, err := d.Detect(img, nil)
		if err != nil {
			t.Fatal(err)
		}
		return dets
	}
	first := run()
	files, _ := filepath.Glob(filepath.Join(dir, "yolov8n-*.onnx"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one optimized model", files)
	}
	st, _ := os.Stat(files[0])
	again := run() // from the cache
	st2, _ := os.Stat(files[0])
	if !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the cached model was written again")
	}
	if len(first) == 0 || !reflect.DeepEqual(first, again) {
		t.Errorf("from the cache: %v, first run: %v", again, first)
	}
}

func TestGraphOptimizationLevels(t *testing.T) {
	requireRuntime(t)
	for _, level := range []string{"", "all", "extended", "basic", "disabled"} {
		d, err := New(Options{Model: assets.Model(), GraphOptimization: level})
		if err != nil {
			t.Errorf("%q: %v", level, err)
			continue
		}
		d.Close()
	}
	_, err := New(Options{Model: assets.Model(), GraphOptimization: "max"})
	if err == nil || !strings.Contains(err.Error(), "model.graph_optimization") {
		t.Errorf("unknown level: %v", err)
	}
}

func TestTensorRTOptions(t *testing.T) {
	got := tensorRTINT8Options(TensorRTOptions{INT8: true, INT8CalibrationTable: "calib.flatbuffers", WorkspaceBytes: 2 << 30})
	want := map[string]string{"trt_int8_enable": "1", "trt_int8_calibration_table_name": "calib.flatbuffers", "trt_max_workspace_size": "2147483648"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
	if got := tensorRTINT8Options(TensorRTOptions{}); len(got) != 0 {
		t.Errorf("defaults set %v", got)
	}
}
