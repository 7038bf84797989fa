package model

import (
	"os"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// TestGPUProviders runs the CUDA and TensorRT paths (FP32, TensorRT FP16,
// TensorRT INT8 from vigil's QDQ model) where a GPU and a GPU build of
// onnxruntime are present: scripts/gpu-check.sh runs it so. Elsewhere it
// skips, saying what is missing.
func TestGPUProviders(t *testing.T) {
	if _, err := os.Stat("/dev/nvidia0"); err != nil {
		t.Skip("no accelerator: /dev/nvidia0 is absent. The CUDA and TensorRT paths run on a machine with an NVIDIA GPU " +
			"and a GPU build of onnxruntime: VIGIL_ONNXRUNTIME_LIB=… scripts/gpu-check.sh")
	}
	requireRuntime(t)
	int8Path, _ := quantizedDefault(t)
	img := gocv.IMRead(assets.Media("messi5.jpg"), gocv.IMReadColor)
	defer img.Close()
	cases := []struct {
		name string
		o    detect.Options
	}{
		{"cuda fp32", detect.Options{Model: assets.Model(), Providers: []string{"cuda"}}},
		{"cuda int8 qdq", detect.Options{Model: int8Path, Providers: []string{"cuda"}}},
		{"tensorrt fp32", detect.Options{Model: assets.Model(), Providers: []string{"tensorrt"}}},
		{"tensorrt fp16", detect.Options{Model: assets.Model(), Providers: []string{"tensorrt"}, TensorRT: detect.TensorRTOptions{FP16: true}}},
		{"tensorrt int8", detect.Options{Model: int8Path, Providers: []string{"tensorrt"}, TensorRT: detect.TensorRTOptions{INT8: true, FP16: true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.TensorRT.EngineCacheDir = t.TempDir()
			d, err := detect.New(c.o)
			if err != nil {
				if strings.Contains(err.Error(), "not available") {
					t.Skipf("the onnxruntime library %s has no %s provider: %v", assets.Library(), c.o.Providers[0], err)
				}
				t.Fatal(err)
			}
			defer d.Close()
			if p := d.Providers(); p[0] != c.o.Providers[0] {
				t.Fatalf("providers %v", p)
			}
			dets, _, err := d.Detect(img, nil)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, x := range dets {
				found = found || x.Label == "person" && x.Score >= 0.5
			}
			if !found {
				t.Errorf("no person in messi5.jpg: %+v", dets)
			}
		})
	}
}
