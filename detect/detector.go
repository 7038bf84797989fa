package detect

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// Detection is one detected object.
type Detection struct {
	Class int
	Label string
	Score float32
	Box   Box
}

// Options configure a Detector. Zero values are defaults where a default
// makes sense.
type Options struct {
	Model   string // path to the .onnx file
	Labels  string // optional labels file, one name a line; else the model's "names" metadata
	Decoder string // auto|yolov8|yolov5|end2end

	Confidence      float32            // default threshold (0.25 when 0)
	ClassConfidence map[string]float32 // label or class id → threshold
	IoU             float32            // NMS IoU (0.45 when 0)
	ClassAgnostic   bool
	MaxDetections   int // 300 when 0

	Providers      []string // ordered: cpu, cuda, tensorrt; default [cpu]
	FallbackToCPU  bool
	IntraOpThreads int // 0 = onnxruntime's default
	// IntraOpSpinning is whether onnxruntime's intra-op threads spin while
	// they wait for work ("on") or sleep ("off"); "" is vigil's default
	// (DefaultIntraOpSpinning), chosen by measurement: bench/README.md.
	IntraOpSpinning string
	CUDADeviceID    int
	TensorRT        TensorRTOptions

	// GraphOptimization is onnxruntime's graph optimization level: all
	// (the default when ""), extended, basic or disabled.
	GraphOptimization string
	// OptimizedModelCache is a folder where the optimized graph is kept
	// between runs (CPU only; see optcache.go); "" = none.
	OptimizedModelCache string

	// ConfigPath is where these options stand in the configuration, for
	// error messages: "model" when "" (a detectors: entry's is
	// "detectors[N].model").
	ConfigPath string

	Logger zerolog.Logger
}

// key names an option in the configuration: "model.providers".
func (o Options) key(name string) string {
	if o.ConfigPath == "" {
		return "model." + name
	}
	return o.ConfigPath + "." + name
}

// TensorRTOptions are passed to onnxruntime's TensorRT provider.
type TensorRTOptions struct {
	DeviceID       int
	FP16           bool
	EngineCacheDir string
	// INT8 builds INT8 engines. A QDQ model (vigil model quantize) carries
	// its own scales, which TensorRT uses; a float model needs
	// INT8CalibrationTable, a calibration table TensorRT wrote.
	INT8                 bool
	INT8CalibrationTable string
	WorkspaceBytes       int64 // trt_max_workspace_size; 0 = onnxruntime's default
}

// Timings of one Detect call.
type Timings struct {
	Preprocess, Infer, Postprocess time.Duration
}

// Detector runs one model. Detect is not safe for concurrent use. The
// pipeline drives it in three steps instead (Prepare, Infer, Finish on
// Slots), so that letterboxing and decoding overlap with inference; each
// step runs on one goroutine at a time, and Detect is one more user of
// Finish's scratch.
type Detector struct {
	opts      Options
	labels    []string
	inName    string
	outName   string
	inW, inH  int
	decoder   Decoder
	providers []string

	session *ort.DynamicAdvancedSession
	slot    *Slot       // Detect's own
	slots   []*Slot     // every slot made on the session, freed by Close
	cands   []Detection // Finish's scratch
	sup     Suppressor  // Finish's NMS scratch
}

// New loads the model and prepares a session. InitRuntime must have
// succeeded first.
func New(o Options) (*Detector, error) {
	ins, outs, err := o.withDefaults().open()
	if err != nil {
		return nil, err
	}
	d := &Detector{opts: o.withDefaults()}
	if err := d.checkShapes(ins, outs); err != nil {
		return nil, fmt.Errorf("model %s: %w", o.Model, err)
	}
	if err := d.loadLabels(); err != nil {
		return nil, fmt.Errorf("model %s: %w", o.Model, err)
	}
	if err := d.setThresholds(); err != nil {
		return nil, err
	}
	if err := d.openSession([]string{d.inName}, []string{d.outName}); err != nil {
		d.Close()
		return nil, err
	}
	if d.slot, err = d.newSlot(); err != nil {
		d.Close()
		return nil, fmt.Errorf("model %s: %w", o.Model, err)
	}
	return d, nil
}

func (o Options) withDefaults() Options {
	if o.Confidence == 0 {
		o.Confidence = 0.25
	}
	if o.IoU == 0 {
		o.IoU = 0.45
	}
	if o.MaxDetections == 0 {
		o.MaxDetections = 300
	}
	if len(o.Providers) == 0 {
		o.Providers = []string{"cpu"}
	}
	return o
}

// open checks that o.Model is there and loads, and returns its inputs and
// outputs.
func (o Options) open() (ins, outs []ort.InputOutputInfo, err error) {
	if _, err := os.Stat(o.Model); err != nil {
		return nil, nil, fmt.Errorf("model %s: %w; set model.path (or VIGIL_MODEL) to an ONNX detector (in a container, one mounted into it: an image built with WITH_MODEL=false has no default model), or run `make deps` in vigil's source tree for the default one", o.Model, pathErr(err))
	}
	ins, outs, err = ort.GetInputOutputInfo(o.Model)
	if err != nil {
		return nil, nil, fmt.Errorf("model %s: not a loadable ONNX model: %w", o.Model, err)
	}
	return ins, outs, nil
}

func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (d *Detector) checkShapes(ins, outs []ort.InputOutputInfo) error {
	if err := d.checkInput(ins); err != nil {
		return err
	}
	if len(outs) < 1 {
		return fmt.Errorf("has no outputs")
	}
	return d.checkOutput(outs[0])
}

// checkInput takes the model's one image input, [1,3,H,W] float32.
func (d *Detector) checkInput(ins []ort.InputOutputInfo) error {
	if len(ins) != 1 {
		return fmt.Errorf("has %d inputs; vigil runs detectors with one image input [1,3,H,W]", len(ins))
	}
	in := ins[0]
	dims := in.Dimensions
	if in.DataType != ort.TensorElementDataTypeFloat || len(dims) != 4 || (dims[0] != 1 && dims[0] != -1) || dims[1] != 3 {
		return fmt.Errorf("input %q is %s %v; vigil needs float32 [1,3,H,W] (an image in CHW order); export the model with a fixed batch of 1", in.Name, in.DataType, dims)
	}
	d.inName = in.Name
	if dims[2] > MaxInputSide || dims[3] > MaxInputSide {
		return fmt.Errorf("input %q is %v; vigil takes images of at most %d pixels a side: export the model at a smaller size", in.Name, dims, MaxInputSide)
	}
	d.inH, d.inW = int(dims[2]), int(dims[3])
	if d.inH <= 0 || d.inW <= 0 {
		d.inH, d.inW = 640, 640 // dynamic size: the YOLO default
	}
	return nil
}

// checkOutput takes out as the detections to decode and picks its decoder.
func (d *Detector) checkOutput(out ort.InputOutputInfo) error {
	if out.DataType != ort.TensorElementDataTypeFloat {
		return fmt.Errorf("output %q is %s; vigil decodes float32 outputs", out.Name, out.DataType)
	}
	forced, err := ParseLayout(d.opts.Decoder)
	if err != nil {
		return fmt.Errorf("%s: %w", d.opts.key("decoder"), err)
	}
	shape := []int64(out.Dimensions)
	if len(shape) == 3 && shape[0] == -1 {
		shape = []int64{1, shape[1], shape[2]}
	}
	layout, _, err := ChooseLayout(shape, forced)
	if err != nil {
		return fmt.Errorf("output %q: %w", out.Name, err)
	}
	d.outName = out.Name
	d.decoder = Decoder{Layout: layout, Shape: [3]int64{shape[0], shape[1], shape[2]}}
	return nil
}

var namesRe = regexp.MustCompile(`(\d+)\s*:\s*['"]((?:[^'"\\]|\\.)*)['"]`)

// ParseNames reads class names from Ultralytics' "names" metadata, as the
// detector does; nil when s holds none.
func ParseNames(s string) []string { return parseNames(s) }

// parseNames reads Ultralytics' "names" metadata: a Python dict literal
// such as {0: 'person', 1: 'bicycle'}.
func parseNames(s string) []string {
	m := namesRe.FindAllStringSubmatch(s, -1)
	if len(m) == 0 {
		return nil
	}
	byID := map[int]string{}
	top := -1
	for _, g := range m {
		id, err := strconv.Atoi(g[1])
		if err != nil || id > 100000 {
			continue
		}
		byID[id] = g[2]
		top = max(top, id)
	}
	if top < 0 {
		return nil // every id out of range
	}
	names := make([]string, top+1)
	for i := range names {
		if n, ok := byID[i]; ok {
			names[i] = n
		} else {
			names[i] = strconv.Itoa(i)
		}
	}
	return names
}

func (d *Detector) loadLabels() error {
	if d.opts.Labels != "" {
		b, err := os.ReadFile(d.opts.Labels)
		if err != nil {
			return fmt.Errorf("%s %s: %w; give a text file with one class name a line", d.opts.key("labels"), d.opts.Labels, pathErr(err))
		}
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			d.labels = append(d.labels, strings.TrimSpace(l))
		}
	} else if md, err := ort.GetModelMetadata(d.opts.Model); err == nil {
		if v, ok, err := md.LookupCustomMetadataMap("names"); err == nil && ok {
			d.labels = parseNames(v)
		}
		md.Destroy()
	}
	_, classes, _ := ChooseLayout(d.decoder.Shape[:], d.decoder.Layout)
	if classes > 0 && len(d.labels) > 0 && len(d.labels) != classes {
		return fmt.Errorf("has %d classes but %d labels; fix model.labels", classes, len(d.labels))
	}
	if len(d.labels) == 0 {
		for i := 0; i < classes; i++ {
			d.labels = append(d.labels, strconv.Itoa(i))
		}
	}
	return nil
}

func (d *Detector) setThresholds() error {
	d.decoder.Default = d.opts.Confidence
	d.decoder.Thresholds = make([]float32, len(d.labels))
	for i := range d.decoder.Thresholds {
		d.decoder.Thresholds[i] = d.opts.Confidence
	}
	for name, t := range d.opts.ClassConfidence {
		id := d.classID(name)
		if id < 0 {
			return fmt.Errorf("%s.%s: no such class in model %s; use one of its labels (%s) or a class id", d.opts.key("class_confidence"), name, d.opts.Model, preview(d.labels, 8))
		}
		d.decoder.Thresholds[id] = t
	}
	return nil
}

func (d *Detector) classID(name string) int {
	for i, l := range d.labels {
		if l == name {
			return i
		}
	}
	if id, err := strconv.Atoi(name); err == nil && id >= 0 && id < len(d.labels) {
		return id
	}
	return -1
}

func preview(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + ", …"
}

// openSession opens d's session on d.opts.Model with the named inputs and
// outputs.
func (d *Detector) openSession(inputs, outputs []string) error {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return fmt.Errorf("onnxruntime session options: %w", err)
	}
	defer so.Destroy()
	if d.opts.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(d.opts.IntraOpThreads); err != nil {
			return fmt.Errorf("%s: %w", d.opts.key("intra_op_threads"), err)
		}
	}
	if err := SetSpinning(so, d.opts.IntraOpSpinning); err != nil {
		return err
	}
	level, err := graphOptimizationLevel(d.opts.GraphOptimization)
	if err != nil {
		return err
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		return fmt.Errorf("onnxruntime graph optimization: %w", err)
	}
	for _, p := range d.opts.Providers {
		err := appendProvider(so, p, d.opts)
		if err == nil {
			d.providers = append(d.providers, p)
			if p == "cpu" {
				break // later providers would never be reached
			}
			continue
		}
		if !d.opts.FallbackToCPU {
			return err
		}
		d.opts.Logger.Warn().Err(err).Str("provider", p).Msg("execution provider unavailable; falling back to the next one")
	}
	if len(d.providers) == 0 || d.providers[len(d.providers)-1] != "cpu" {
		d.providers = append(d.providers, "cpu") // onnxruntime always ends on CPU
	}

	// A dynamic session runs on whichever slot's tensors are bound, so
	// several frames can be in flight on one model (see Slot).
	path, saved, err := d.optimizedModel(so, level)
	if err != nil {
		return err
	}
	d.session, err = ort.NewDynamicAdvancedSession(path, inputs, outputs, so)
	if err != nil {
		return fmt.Errorf("model %s: onnxruntime session: %w", path, err)
	}
	saved()
	return nil
}

func appendProvider(so *ort.SessionOptions, name string, o Options) error {
	switch name {
	case "cpu":
		return nil
	case "cuda":
		co, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return fmt.Errorf("%s: cuda is not available in this onnxruntime library (%v); use a CUDA build of onnxruntime via model.onnxruntime_lib, or set %s: true", o.key("providers"), err, o.key("fallback_to_cpu"))
		}
		defer co.Destroy()
		if err := co.Update(map[string]string{"device_id": strconv.Itoa(o.CUDADeviceID)}); err != nil {
			return fmt.Errorf("%s: cuda is not available (%v); use a CUDA build of onnxruntime via model.onnxruntime_lib, or set %s: true", o.key("providers"), err, o.key("fallback_to_cpu"))
		}
		if err := so.AppendExecutionProviderCUDA(co); err != nil {
			return fmt.Errorf("%s: cuda is not available (%v); use a CUDA build of onnxruntime via model.onnxruntime_lib, or set %s: true", o.key("providers"), err, o.key("fallback_to_cpu"))
		}
		return nil
	case "tensorrt":
		to, err := ort.NewTensorRTProviderOptions()
		if err != nil {
			return fmt.Errorf("%s: tensorrt is not available in this onnxruntime library (%v); use a TensorRT build of onnxruntime via model.onnxruntime_lib, or set %s: true", o.key("providers"), err, o.key("fallback_to_cpu"))
		}
		defer to.Destroy()
		opts := map[string]string{"device_id": strconv.Itoa(o.TensorRT.DeviceID)}
		if o.TensorRT.FP16 {
			opts["trt_fp16_enable"] = "1"
		}
		if o.TensorRT.EngineCacheDir != "" {
			opts["trt_engine_cache_enable"] = "1"
			opts["trt_engine_cache_path"] = o.TensorRT.EngineCacheDir
		}
		for k, v := range tensorRTINT8Options(o.TensorRT) {
			opts[k] = v
		}
		if err := to.Update(opts); err != nil {
			return fmt.Errorf("%s: tensorrt is not available (%v); use a TensorRT build of onnxruntime via model.onnxruntime_lib, or set %s: true", o.key("providers"), err, o.key("fallback_to_cpu"))
		}
		if err := so.AppendExecutionProviderTensorRT(to); err != nil {
			return fmt.Errorf("%s: tensorrt is not available (%v); use a TensorRT build of onnxruntime via model.onnxruntime_lib, or set %s: true", o.key("providers"), err, o.key("fallback_to_cpu"))
		}
		return nil
	}
	return fmt.Errorf("%s: unknown provider %q; use cpu, cuda or tensorrt", o.key("providers"), name)
}

// Labels are the class names, indexed by class id.
func (d *Detector) Labels() []string { return d.labels }

// Layout is the decoder in use.
func (d *Detector) Layout() Layout { return d.decoder.Layout }

// InputSize is the model's input width and height.
func (d *Detector) InputSize() (int, int) { return d.inW, d.inH }

// Providers are the execution providers the session was built with, in
// order of preference; the last is always cpu.
func (d *Detector) Providers() []string { return d.providers }

// Detect runs the model on a BGR image and appends what it finds to dst.
// img is only read.
func (d *Detector) Detect(img gocv.Mat, dst []Detection) ([]Detection, Timings, error) {
	if err := d.Prepare(d.slot, img); err != nil {
		return dst, Timings{}, err
	}
	if err := d.Infer(d.slot); err != nil {
		return dst, d.slot.tm, err
	}
	return d.Finish(d.slot, dst)
}

// Close releases the session, its slots and their tensors; safe to call
// more than once.
func (d *Detector) Close() error {
	var errs []error
	for _, s := range d.slots {
		errs = append(errs, s.close())
	}
	d.slots, d.slot = nil, nil
	if d.session != nil {
		errs = append(errs, d.session.Destroy())
		d.session = nil
	}
	return errors.Join(errs...)
}
