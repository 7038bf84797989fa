package detect

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// graphOptimizationLevel reads model.graph_optimization.
func graphOptimizationLevel(s string) (ort.GraphOptimizationLevel, error) {
	switch strings.ToLower(s) {
	case "", "all":
		return ort.GraphOptimizationLevelEnableAll, nil
	case "extended":
		return ort.GraphOptimizationLevelEnableExtended, nil
	case "basic":
		return ort.GraphOptimizationLevelEnableBasic, nil
	case "disabled", "none":
		return ort.GraphOptimizationLevelDisableAll, nil
	}
	return 0, fmt.Errorf("model.graph_optimization: unknown level %q; use all, extended, basic or disabled", s)
}

// tensorRTINT8Options are the TensorRT provider's INT8 and workspace
// settings.
func tensorRTINT8Options(t TensorRTOptions) map[string]string {
	o := map[string]string{}
	if t.INT8 {
		o["trt_int8_enable"] = "1"
		if t.INT8CalibrationTable != "" {
			o["trt_int8_calibration_table_name"] = t.INT8CalibrationTable
		}
	}
	if t.WorkspaceBytes > 0 {
		o["trt_max_workspace_size"] = strconv.FormatInt(t.WorkspaceBytes, 10)
	}
	return o
}

// optimizedModel returns the model file the session should load, and a
// function to call once the session is built.
//
// With Options.OptimizedModelCache set and the CPU provider alone, the
// graph onnxruntime optimizes on the first run is saved in the cache, named
// by a hash of the model's bytes, the optimization level, the onnxruntime
// version and the CPU (an optimized graph holds layouts chosen for this
// CPU); later runs load it with optimization off, skipping the work. GPU
// providers compile their own graphs (TensorRT has its engine cache), so
// the cache stays unused with them.
func (d *Detector) optimizedModel(so *ort.SessionOptions, level ort.GraphOptimizationLevel) (string, func(), error) {
	none := func() {}
	dir := d.opts.OptimizedModelCache
	if dir == "" || level == ort.GraphOptimizationLevelDisableAll {
		return d.opts.Model, none, nil
	}
	if len(d.providers) != 1 || d.providers[0] != "cpu" {
		d.opts.Logger.Info().Strs("providers", d.providers).Msg(d.opts.key("optimized_model_cache") + " is used with the cpu provider only")
		return d.opts.Model, none, nil
	}
	key, err := cacheKey(d.opts.Model, level)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", d.opts.key("optimized_model_cache"), err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("%s %s: %w", d.opts.key("optimized_model_cache"), dir, err)
	}
	cached := filepath.Join(dir, strings.TrimSuffix(filepath.Base(d.opts.Model), ".onnx")+"-"+key+".onnx")
	if _, err := os.Stat(cached); err == nil {
		if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll); err != nil {
			return "", nil, err
		}
		d.opts.Logger.Debug().Str("path", cached).Msg("optimized model from the cache")
		return cached, none, nil
	}
	tmp := cached + ".tmp"
	if err := so.SetOptimizedModelFilePath(tmp); err != nil {
		return "", nil, fmt.Errorf("%s: %w", d.opts.key("optimized_model_cache"), err)
	}
	return d.opts.Model, func() {
		if err := os.Rename(tmp, cached); err != nil {
			d.opts.Logger.Warn().Err(err).Str("path", cached).Msg("optimized model not cached")
		}
	}, nil
}

func cacheKey(model string, level ort.GraphOptimizationLevel) (string, error) {
	f, err := os.Open(model)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	fmt.Fprintf(h, "|level %d|onnxruntime %s|cpu %s", level, ort.GetVersion(), cpuName())
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func cpuName() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	name, flags := "", ""
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		switch k = strings.TrimSpace(k); {
		case !ok:
		case k == "model name" && name == "":
			name = strings.TrimSpace(v)
		case k == "flags" && flags == "":
			flags = strings.TrimSpace(v)
		}
	}
	return name + " " + flags
}
