package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/model"
)

const modelUsage = `usage:
  vigil model inspect [--json] MODEL
  vigil model quantize MODEL -o OUT --calib PATH [--calib PATH]… [flags]
  vigil model sensitivity MODEL --calib PATH… [--on PATH…] [flags]
  vigil model fp16 MODEL -o OUT
  vigil model compare REF CANDIDATE --on PATH… [--json] [flags]
  vigil model eval MODEL --on DATASET [--split val] [--json] [flags]
  vigil model cuts MODEL [--profile] [--json] [flags]
  vigil model split MODEL --at TENSOR[,TENSOR…] -o DIR
  vigil model plan MODEL --link 100Mbit [--rtt 2ms] [--remote-profile FILE] [--goal latency]

  vigil model push FILE --name NAME      store FILE as NAME's next version
  vigil model list [--json]              every name, its versions, the promoted one
  vigil model promote NAME@VERSION       serve VERSION where detectors follow NAME
  vigil model rollback NAME              back to the version promoted before
  vigil model shadow NAME@VERSION        check VERSION in shadow beside the promoted one
  vigil model shadow --stop NAME         end the trial
  vigil model shadow --watch NAME        print the nodes' shadow reports

PATH is a video file, an image, or a folder of images. Frames are
letterboxed as the pipeline does. DATASET is a YOLO-layout folder with
data.yaml (vigil dataset export writes one); eval prints mAP50, mAP50-95
and each class's precision and recall. cuts lists where a model can be
split between two machines (after each node: the tensors that cross, their
shapes and MB at float32, float16 and uint8; --profile times each part
here); split writes DIR/head.onnx and DIR/tail.onnx. A push makes the new version the
candidate, checked in shadow by the nodes that follow NAME (model.shadow).
push, list, promote, rollback and shadow use a
fleet's NATS (--nats URL or --config FILE, as vigil cameras does) or, for a
standalone vigil, a folder (--dir DIR). Run 'vigil model COMMAND -h' for
flags.`

func cmdModel(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no model command\n%s", errUsage, modelUsage)
	}
	switch args[0] {
	case "inspect":
		return cmdModelInspect(args[1:], stdout, stderr)
	case "quantize":
		return cmdModelQuantize(args[1:], stdout, stderr)
	case "sensitivity":
		return cmdModelSensitivity(args[1:], stdout, stderr)
	case "fp16":
		return cmdModelFP16(args[1:], stdout, stderr)
	case "compare":
		return cmdModelCompare(args[1:], stdout, stderr)
	case "eval":
		return cmdModelEval(args[1:], stdout, stderr)
	case "cuts":
		return cmdModelCuts(args[1:], stdout, stderr)
	case "split":
		return cmdModelSplit(args[1:], stdout, stderr)
	case "plan":
		return cmdModelPlan(args[1:], stdout, stderr)
	case "push":
		return cmdModelPush(args[1:], stdout, stderr)
	case "list":
		return cmdModelList(args[1:], stdout, stderr)
	case "promote":
		return cmdModelPromote(args[1:], stdout, stderr)
	case "rollback":
		return cmdModelRollback(args[1:], stdout, stderr)
	case "shadow":
		return cmdModelShadow(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, modelUsage)
		return nil
	}
	return fmt.Errorf("%w: unknown model command %q; use inspect, quantize, sensitivity, fp16, compare, eval, cuts, split, push, list, promote, rollback or shadow", errUsage, args[0])
}

// parseMixed parses flags given before, between or after the positional
// arguments (vigil model quantize MODEL -o OUT), and returns the
// positional ones.
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func modelFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vigil model "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// quantFlags are the flags of quantize and sensitivity.
type quantFlags struct {
	calib                     stringsFlag
	frames                    int
	method                    string
	percentile                float64
	perTensor, asymW, quantHd bool
	weightBits, actBits       int
	ops                       string
	keep                      stringsFlag
	threads                   int
	runtime                   string
}

func (q *quantFlags) register(fs *flag.FlagSet) {
	fs.Var(&q.calib, "calib", "calibration `path`: a video, an image or a folder of images (repeatable)")
	fs.IntVar(&q.frames, "calib-frames", 32, "calibration frames, spread evenly over the paths (0: all)")
	fs.StringVar(&q.method, "method", model.MethodMinMax, "activation range: minmax (r_min, r_max as seen) or percentile (clip outliers)")
	fs.Float64Var(&q.percentile, "percentile", 99.999, "percentile `p` for --method percentile: the range holds p% of the values")
	fs.BoolVar(&q.perTensor, "per-tensor", false, "one scale per weight tensor (default: one per output channel)")
	fs.BoolVar(&q.asymW, "asymmetric-weights", false, "weights by the min/max formula with a zero point (needs --per-tensor; default: symmetric)")
	fs.IntVar(&q.weightBits, "weight-bits", 8, "weight bit width `N`, 2–8 (stored as int8)")
	fs.IntVar(&q.actBits, "activation-bits", 8, "activation bit width; onnxruntime's integer kernels take only 8")
	fs.StringVar(&q.ops, "ops", strings.Join(model.DefaultOps, ","), "operator `types` to quantize, comma-separated; supported: "+strings.Join(model.SupportedOps(), ","))
	fs.Var(&q.keep, "keep-float", "keep in float the nodes of this operator type, name or name `pattern` (* is any run of characters, e.g. '/model.21/*'; repeatable)")
	fs.BoolVar(&q.quantHd, "quantize-head", false, "also quantize the detection head (the last learned layer on each path to an output, and the decode after it)")
	fs.IntVar(&q.threads, "threads", 0, "onnxruntime intra-op threads (0: onnxruntime's default)")
	fs.StringVar(&q.runtime, "onnxruntime-lib", "", "libonnxruntime.so `path`")
}

func (q *quantFlags) options() model.Options {
	var ops []string
	for _, op := range strings.Split(q.ops, ",") {
		if op = strings.TrimSpace(op); op != "" {
			ops = append(ops, op)
		}
	}
	return model.Options{
		Calibration: model.Frames{Paths: q.calib, Max: q.frames},
		Method:      q.method, Percentile: q.percentile, PerTensor: q.perTensor, AsymmetricWeights: q.asymW,
		WeightBits: q.weightBits, ActivationBits: q.actBits, Ops: ops, KeepFloat: q.keep,
		QuantizeHead: q.quantHd, Threads: q.threads,
	}
}

func initRuntime(path string) error {
	if path == "" {
		path = assets.Library()
	}
	return detect.InitRuntime(path)
}

func cmdModelInspect(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("inspect", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: vigil model inspect [--json] MODEL", errUsage)
	}
	info, err := model.Inspect(pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "model\t%s (%s)\n", info.Path, bytesStr(info.FileBytes))
	fmt.Fprintf(w, "producer\t%s %s, IR %d, opset %s\n", info.Producer, info.ProducerVersion, info.IRVersion, opsetStr(info.Opsets))
	for _, t := range info.Inputs {
		fmt.Fprintf(w, "input\t%s %s [%s]\n", t.Name, t.Type, strings.Join(t.Shape, ","))
	}
	for _, t := range info.Outputs {
		fmt.Fprintf(w, "output\t%s %s [%s]\n", t.Name, t.Type, strings.Join(t.Shape, ","))
	}
	fmt.Fprintf(w, "decoder\t%s", info.Decoder)
	if info.DecoderClasses > 0 {
		fmt.Fprintf(w, " (%d classes)", info.DecoderClasses)
	}
	fmt.Fprintln(w)
	if len(info.Classes) > 0 {
		fmt.Fprintf(w, "classes\t%d from metadata: %s\n", len(info.Classes), preview(info.Classes, 8))
	}
	var types []string
	for t, n := range info.ParamsByType {
		types = append(types, fmt.Sprintf("%s %d", t, n))
	}
	sort.Strings(types)
	fmt.Fprintf(w, "parameters\t%d (%s; %s)\n", info.Params, bytesStr(info.ParamBytes), strings.Join(types, ", "))
	fmt.Fprintf(w, "quantized\t%s\n", info.Quantized)
	fmt.Fprintf(w, "nodes\t%d: %s\n", info.Nodes, strings.Join(info.OpsSorted(), ", "))
	var keys []string
	for k := range info.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := info.Metadata[k]
		if len(v) > 100 {
			v = v[:100] + "…"
		}
		fmt.Fprintf(w, "metadata\t%s: %s\n", k, v)
	}
	return w.Flush()
}

func opsetStr(m map[string]int64) string {
	var s []string
	for d, v := range m {
		if d == "" {
			d = "ai.onnx"
		}
		s = append(s, fmt.Sprintf("%s %d", d, v))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func preview(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + ", …"
}

func bytesStr(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func cmdModelQuantize(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("quantize", stderr)
	var q quantFlags
	q.register(fs)
	out := fs.String("o", "", "output `file` for the INT8 (QDQ) model")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return fmt.Errorf("%w: vigil model quantize MODEL -o OUT --calib PATH…", errUsage)
	}
	if len(q.calib) == 0 {
		return fmt.Errorf("%w: no calibration frames; give --calib with a video, an image or a folder of images from the cameras the model will watch", errUsage)
	}
	if err := initRuntime(q.runtime); err != nil {
		return err
	}
	m, err := model.Load(pos[0])
	if err != nil {
		return err
	}
	qm, rep, err := model.Quantize(m, q.options())
	if err != nil {
		return fmt.Errorf("quantize %s: %w", pos[0], err)
	}
	if err := model.Save(qm, *out); err != nil {
		return fmt.Errorf("%s: %w", *out, err)
	}
	var ops []string
	for op, n := range rep.Quantized {
		ops = append(ops, fmt.Sprintf("%s %d", op, n))
	}
	sort.Strings(ops)
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	fmt.Fprintf(stdout, "scheme: %s\n", rep.Scheme)
	fmt.Fprintf(stdout, "quantized nodes: %s\n", strings.Join(ops, ", "))
	fmt.Fprintf(stdout, "weights: %d tensors, %s float32 → %s int8/int32\n", rep.Weights, bytesStr(rep.FloatBytes), bytesStr(rep.QuantizedSize))
	fmt.Fprintf(stdout, "activations: %d tensors with a QuantizeLinear/DequantizeLinear pair\n", rep.Activations)
	if len(rep.KeptFloat) > 0 {
		fmt.Fprintf(stdout, "kept in float: %d nodes (%s)\n", len(rep.KeptFloat), preview(rep.KeptFloat, 6))
	}
	if rep.BiasClamped > 0 {
		fmt.Fprintf(stderr, "warning: %d bias values exceeded int32 and were clamped\n", rep.BiasClamped)
	}
	fmt.Fprintf(stdout, "next: vigil model compare %s %s --on PATH\n", pos[0], *out)
	return nil
}

func cmdModelSensitivity(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("sensitivity", stderr)
	var q quantFlags
	q.register(fs)
	var on stringsFlag
	fs.Var(&on, "on", "evaluation `path` (repeatable; default: the --calib paths)")
	frames := fs.Int("frames", 4, "evaluation frames")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || len(q.calib) == 0 {
		return fmt.Errorf("%w: vigil model sensitivity MODEL --calib PATH… [--on PATH…]", errUsage)
	}
	if len(on) == 0 {
		on = q.calib
	}
	if err := initRuntime(q.runtime); err != nil {
		return err
	}
	m, err := model.Load(pos[0])
	if err != nil {
		return err
	}
	res, err := model.Sensitivity(m, model.SensitivityOptions{Options: q.options(),
		Eval: model.Frames{Paths: on, Max: *frames, Phase: 0.5}})
	if err != nil {
		return fmt.Errorf("sensitivity %s: %w", pos[0], err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "layer\top\tscore error\tbox error (px)\trelative error")
	for _, e := range res {
		fmt.Fprintf(w, "%s\t%s\t%.4f\t%.3f\t%.4f\n", e.Node, e.OpType, e.ScoreError, e.BoxError, e.RelError)
	}
	fmt.Fprintln(w, "\nOnly the named layer is quantized in each row; keep the worst in float with --keep-float NAME.")
	return w.Flush()
}

func cmdModelFP16(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("fp16", stderr)
	out := fs.String("o", "", "output `file` for the FP16 model")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return fmt.Errorf("%w: vigil model fp16 MODEL -o OUT", errUsage)
	}
	m, err := model.Load(pos[0])
	if err != nil {
		return err
	}
	h, rep, err := model.ToFP16(m)
	if err != nil {
		return fmt.Errorf("fp16 %s: %w", pos[0], err)
	}
	if err := model.Save(h, *out); err != nil {
		return fmt.Errorf("%s: %w", *out, err)
	}
	fmt.Fprintf(stdout, "wrote %s: %d tensors in float16, %d kept float32 (float32-only inputs); inputs and outputs stay float32\n", *out, rep.Tensors, rep.Kept)
	if rep.Clamped > 0 {
		fmt.Fprintf(stderr, "warning: %d values beyond ±65504 were clamped to the float16 range\n", rep.Clamped)
	}
	return nil
}

func cmdModelCompare(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("compare", stderr)
	var on stringsFlag
	fs.Var(&on, "on", "`path` to compare on: a video, an image or a folder of images (repeatable)")
	frames := fs.Int("frames", 50, "frames, spread evenly over the paths (0: all)")
	conf := fs.Float64("confidence", 0.25, "confidence threshold, the same for both models")
	iou := fs.Float64("iou", 0.5, "IoU at which a candidate box matches a reference box")
	threads := fs.Int("threads", 0, "onnxruntime intra-op threads for each model (0: onnxruntime's default)")
	runtime := fs.String("onnxruntime-lib", "", "libonnxruntime.so `path`")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || len(on) == 0 {
		return fmt.Errorf("%w: vigil model compare REF CANDIDATE --on PATH…", errUsage)
	}
	if err := initRuntime(*runtime); err != nil {
		return err
	}
	c, err := model.Compare(pos[0], pos[1], model.CompareOptions{
		Frames: model.Frames{Paths: on, Max: *frames}, Confidence: float32(*conf), MatchIoU: float32(*iou),
		Threads: *threads, Logger: zerolog.New(stderr).Level(zerolog.WarnLevel),
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(c)
	}
	fmt.Fprintf(stdout, "reference %s, candidate %s: %d frames, confidence %.2f, match at IoU %.2f\n\n", pos[0], pos[1], c.Frames, c.Confidence, c.MatchIoU)
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "class\tref\tcandidate\tmatched\tprecision\trecall\t")
	for _, a := range append(c.Classes, c.All) {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.3f\t%.3f\t\n", a.Label, a.Ref, a.Cand, a.Matched, a.Precision, a.Recall)
	}
	w.Flush()
	fmt.Fprintf(stdout, "\nagreement (min of precision and recall, all classes): %.3f\n", c.Agreement)
	fmt.Fprintf(stdout, "mean score change (candidate − reference): %+.4f\n", c.MeanScoreChange)
	fmt.Fprintf(stdout, "mean box IoU of matched pairs: %.3f\n", c.MeanBoxIoU)
	fmt.Fprintf(stdout, "inference: reference %.1f ms, candidate %.1f ms: candidate speed ×%.2f\n", c.RefMS, c.CandMS, c.SpeedRatio)
	return nil
}

// profileFlags are how cuts and plan profile a model.
type profileFlags struct {
	on              stringsFlag
	frames, threads int
	runtime         string
}

func (p *profileFlags) add(fs *flag.FlagSet) {
	fs.Var(&p.on, "on", "`path` of the frames to profile on: a video, an image or a folder of images (repeatable; default: the sample video)")
	fs.IntVar(&p.frames, "frames", 3, "frames to profile on, spread evenly over the paths")
	fs.IntVar(&p.threads, "threads", 0, "onnxruntime intra-op threads (0: onnxruntime's default)")
	fs.StringVar(&p.runtime, "onnxruntime-lib", "", "libonnxruntime.so `path`")
}

// options are the profile's frames (the sample video when no --on) and
// threads.
func (p *profileFlags) options() model.ProfileOptions {
	on := p.on
	if len(on) == 0 {
		on = stringsFlag{assets.Media("vtest.avi")}
	}
	return model.ProfileOptions{Frames: model.Frames{Paths: on, Max: p.frames}, Threads: p.threads}
}

// cutReport lists a model's cuts, those that at most maxTensors cross (0:
// all), profiled on po's frames if profile; total counts them all.
func cutReport(path string, maxTensors int, profile bool, po model.ProfileOptions) (r *model.CutReport, total int, err error) {
	m, err := model.Load(path)
	if err != nil {
		return nil, 0, err
	}
	if r, err = model.Cuts(m); err != nil {
		return nil, 0, fmt.Errorf("cuts of %s: %w", path, err)
	}
	total = len(r.Cuts)
	if maxTensors > 0 {
		r.Cuts = slices.DeleteFunc(r.Cuts, func(c model.Cut) bool { return len(c.Tensors) > maxTensors })
	}
	if profile {
		if err := r.Profile(m, po); err != nil {
			return nil, 0, fmt.Errorf("profile %s: %w", path, err)
		}
	}
	return r, total, nil
}

func cmdModelCuts(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("cuts", stderr)
	profile := fs.Bool("profile", false, "time the head and the tail of every listed cut, and the whole model, on this machine")
	maxTensors := fs.Int("max-tensors", 0, "list only the cuts that `N` tensors or fewer cross (0: all)")
	var pf profileFlags
	pf.add(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: vigil model cuts MODEL [--profile] [--json]", errUsage)
	}
	if err := initRuntime(pf.runtime); err != nil {
		return err
	}
	r, total, err := cutReport(pos[0], *maxTensors, *profile, pf.options())
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(stdout, "%s: %d cuts, one after each node where what crosses changes (shapes from %s)", pos[0], total, r.ShapesFrom)
	if len(r.Cuts) < total {
		fmt.Fprintf(stdout, "; %d listed (--max-tensors %d)", len(r.Cuts), *maxTensors)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "offload the whole model: %s; %s\n", tensorsStr(r.Inputs), sizeStr(r.InputSize))
	if *profile {
		fmt.Fprintf(stdout, "whole model here: %.1f ms (median over %d frames)\n", r.ModelMS, r.ProfileFrames)
	}
	fmt.Fprintln(stdout)
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprint(w, "node\tafter\top\tvalues\tf32 MB\tf16 MB\tu8 MB\t")
	if *profile {
		fmt.Fprint(w, "head ms\ttail ms\t")
	}
	fmt.Fprintln(w, "crossing")
	for _, c := range r.Cuts {
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t", c.Node, c.After, c.Op, c.Elements, mb(c.F32Bytes), mb(c.F16Bytes), mb(c.U8Bytes))
		if *profile {
			fmt.Fprintf(w, "%.1f\t%.1f\t", c.HeadMS, c.TailMS)
		}
		fmt.Fprintln(w, tensorsStr(c.Tensors))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nsplit at one: vigil model split %s --at TENSOR[,TENSOR…] -o DIR\n", pos[0])
	return nil
}

func cmdModelSplit(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("split", stderr)
	at := fs.String("at", "", "the cut: `tensors`, comma-separated, as 'vigil model cuts' lists them")
	out := fs.String("o", "", "output `folder` for head.onnx and tail.onnx")
	runtime := fs.String("onnxruntime-lib", "", "libonnxruntime.so `path`")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	var cut []string
	for _, t := range strings.Split(*at, ",") {
		if t = strings.TrimSpace(t); t != "" {
			cut = append(cut, t)
		}
	}
	if len(pos) != 1 || len(cut) == 0 || *out == "" {
		return fmt.Errorf("%w: vigil model split MODEL --at TENSOR[,TENSOR…] -o DIR ('vigil model cuts MODEL' lists the cuts)", errUsage)
	}
	if err := initRuntime(*runtime); err != nil {
		return err
	}
	head, tail, err := model.SplitFile(pos[0], cut, *out)
	if err != nil {
		return fmt.Errorf("split %s: %w", pos[0], err)
	}
	for _, path := range []string{head, tail} {
		p, err := model.Load(path)
		if err != nil {
			return err
		}
		g := p.Graph
		fmt.Fprintf(stdout, "wrote %s: %d nodes, %d weights; %s → %s\n", path, len(g.Node), len(g.Initializer),
			portsStr(g.Input, g.Initializer), portsStr(g.Output, nil))
	}
	return nil
}

// portsStr names a graph's inputs or outputs with their shapes, leaving
// out initializers that old exporters also list as inputs.
func portsStr(vs []*onnx.ValueInfoProto, inits []*onnx.TensorProto) string {
	skip := map[string]bool{}
	for _, t := range inits {
		skip[t.Name] = true
	}
	var s []string
	for _, v := range vs {
		if skip[v.Name] {
			continue
		}
		var dims []string
		for _, d := range v.GetType().GetTensorType().GetShape().GetDim() {
			if p := d.GetDimParam(); p != "" {
				dims = append(dims, p)
			} else {
				dims = append(dims, fmt.Sprint(d.GetDimValue()))
			}
		}
		s = append(s, fmt.Sprintf("%s [%s]", v.Name, strings.Join(dims, ",")))
	}
	return strings.Join(s, ", ")
}

func tensorsStr(ts []model.CutTensor) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = fmt.Sprintf("%s %s", t.Name, shapeStr(t.Shape))
	}
	return strings.Join(s, ", ")
}

func shapeStr(shape []int64) string {
	s := make([]string, len(shape))
	for i, d := range shape {
		s[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(s, ",") + "]"
}

func sizeStr(s model.Size) string {
	return fmt.Sprintf("%d values: %.2f MB at float32, %.2f MB at float16, %.2f MB at uint8", s.Elements, mb(s.F32Bytes), mb(s.F16Bytes), mb(s.U8Bytes))
}

// mb is decimal megabytes, the unit of link speeds.
func mb(n int64) float64 { return float64(n) / 1e6 }
