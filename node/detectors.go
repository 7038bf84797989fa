package node

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/modelstore"
	"github.com/vigil-vision/vigil/pipeline"
)

// runner is what a detector runs frames on: a *detect.Detector, or a
// remote one (remote.go).
type runner interface {
	pipeline.Detector
	Labels() []string
	Close() error
}

// detector is one loaded detectors: entry ("default" is model:).
type detector struct {
	det   runner
	spec  detectorSpec
	sum   string // the model file's sha256, hex
	model string // what results say made them: file name@first 8 hex digits of sum, or the store's NAME@VERSION
	// follows is the store model name whose promoted version this detector
	// runs (store: NAME); version is the version it runs (store models).
	follows string
	version int
}

// detectorSpec is what a detector is built from: a change to it means
// loading the detector again.
type detectorSpec struct {
	Model        config.Model
	LowThreshold float64 // the tracker's: the detector keeps detections down to it
}

func specOf(cfg *config.Config, m config.Model) detectorSpec {
	m.Runtime = ""             // one library per process, loaded at start (config.RestartNeeded)
	m.Shadow = config.Shadow{} // the shadow's settings change the shadow, not the live detector
	return detectorSpec{Model: m, LowThreshold: cfg.Tracker.LowThreshold}
}

func (d *detector) close() {
	if d != nil && d.det != nil {
		d.det.Close()
	}
}

// same says whether a running detector already is what spec asks for: the
// same settings and the same model file contents (a file replaced in place
// is loaded again). A model file that cannot be read now keeps the running
// detector.
func (d *detector) same(spec detectorSpec) bool {
	if !reflect.DeepEqual(d.spec, spec) {
		return false
	}
	sum, err := detect.FileSHA256(modelPath(spec.Model))
	return err != nil || sum == d.sum
}

// DetectorOptions maps a model section of the config to a detector's
// options.
func DetectorOptions(m config.Model, log zerolog.Logger) detect.Options {
	cc := map[string]float32{}
	for k, v := range m.ClassConfidence {
		cc[k] = float32(v)
	}
	return detect.Options{
		Model: modelPath(m), Labels: m.Labels, Decoder: m.Decoder,
		Confidence: float32(m.Confidence), ClassConfidence: cc,
		IoU: float32(m.IoU), ClassAgnostic: m.ClassAgnosticNMS, MaxDetections: m.MaxDetections,
		Providers: m.Providers, FallbackToCPU: m.FallbackToCPU, IntraOpThreads: m.IntraOpThreads,
		IntraOpSpinning: m.IntraOpSpinning, CUDADeviceID: m.CUDA.DeviceID,
		TensorRT: detect.TensorRTOptions{DeviceID: m.TensorRT.DeviceID, FP16: m.TensorRT.FP16, EngineCacheDir: m.TensorRT.EngineCacheDir,
			INT8: m.TensorRT.INT8, INT8CalibrationTable: m.TensorRT.INT8CalibrationTable, WorkspaceBytes: int64(m.TensorRT.WorkspaceMB) << 20},
		GraphOptimization: m.GraphOptimization, OptimizedModelCache: m.OptimizedModelCache,
		Logger: log.With().Str("stage", "detect").Logger(),
	}
}

func modelPath(m config.Model) string {
	if m.Path == "" {
		return assets.Model()
	}
	return m.Path
}

// RuntimePath is the onnxruntime library the config names, or the one
// `make deps` fetched.
func RuntimePath(cfg *config.Config) string {
	if cfg.Model.Runtime != "" {
		return cfg.Model.Runtime
	}
	return assets.Library()
}

// loadDetector loads one detector of cfg. The detectors keep detections
// down to the tracker's low threshold: ByteTrack's second association
// needs them, and only confirmed tracks leave vigil.
func (n *Node) loadDetector(cfg *config.Config, d config.Detector, stored modelstore.Version, cameras []string) (*detector, error) {
	if err := detect.InitRuntime(RuntimePath(cfg)); err != nil {
		return nil, err
	}
	path := modelKey(cfg, d.Name)
	dlog := n.log.With().Str("detector", d.Name).Logger()
	o := DetectorOptions(d.Model, dlog)
	o.ConfigPath = path
	o.Confidence = min(o.Confidence, float32(cfg.Tracker.LowThreshold))
	if d.Model.Remote.Subject != "" {
		return n.loadRemote(cfg, d, o, cameras)
	}
	det, err := detect.New(o)
	if err != nil {
		return nil, detectorError(d.Name, err)
	}
	sum, err := detect.FileSHA256(o.Model)
	if err != nil {
		det.Close()
		return nil, detectorError(d.Name, fmt.Errorf("%s.path: %w", path, err))
	}
	out := &detector{det: det, spec: specOf(cfg, d.Model), sum: sum, model: filepath.Base(o.Model) + "@" + sum[:8]}
	if d.Model.Store != "" {
		out.model, out.version = stored.Ref(), stored.Version
		if !strings.Contains(d.Model.Store, "@") {
			out.follows = stored.Name
		}
	}
	w, h := det.InputSize()
	dlog.Info().Str("model", o.Model).Str("version", out.model).Str("decoder", det.Layout().String()).Int("classes", len(det.Labels())).
		Str("input", fmt.Sprintf("%dx%d", w, h)).Strs("providers", det.Providers()).Int("intra_op_threads", d.Model.IntraOpThreads).
		Strs("cameras", cameras).Msg("detector ready")
	return out, nil
}

// modelKey is where a detector's model options stand in the config.
func modelKey(cfg *config.Config, name string) string {
	for i, e := range cfg.Detectors {
		if e.Name == name && name != config.DefaultDetector {
			return fmt.Sprintf("detectors[%d].model", i)
		}
	}
	return "model"
}

func detectorError(name string, err error) error {
	if name != config.DefaultDetector {
		return fmt.Errorf("detector %q: %w", name, err)
	}
	return err
}
