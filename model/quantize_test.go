package model

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/onnxtest"
	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// handRange is the range of the tiny model's input and of its convolution
// output on messi5.jpg, letterboxed to 16×16 as the pipeline does, computed
// here in float64 without onnxruntime.
func handRange(t *testing.T) (inLo, inHi, yLo, yHi float64) {
	img := gocv.IMRead(assets.Media("messi5.jpg"), gocv.IMReadColor)
	defer img.Close()
	pre := detect.NewPreprocessor(tinySize, tinySize)
	defer pre.Close()
	x := make([]float32, 3*tinySize*tinySize)
	if _, err := pre.Run(img, x); err != nil {
		t.Fatal(err)
	}
	inLo, inHi, yLo, yHi = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	plane := tinySize * tinySize
	for i := 0; i < plane; i++ {
		for c := 0; c < 3; c++ {
			v := float64(x[c*plane+i])
			inLo, inHi = min(inLo, v), max(inHi, v)
		}
		for o := 0; o < 4; o++ {
			y := float64(tinyB[o])
			for c := 0; c < 3; c++ {
				y += float64(tinyW[o*3+c]) * float64(x[c*plane+i])
			}
			yLo, yHi = min(yLo, y), max(yHi, y)
		}
	}
	return
}

func TestQuantizeTinyModel(t *testing.T) {
	requireRuntime(t)
	calib := Frames{Paths: []string{assets.Media("messi5.jpg")}}
	inLo, inHi, yLo, yHi := handRange(t)
	cases := []struct {
		name string
		o    Options
	}{
		{"per-channel symmetric", Options{}},
		{"per-tensor symmetric", Options{PerTensor: true}},
		{"per-tensor asymmetric", Options{PerTensor: true, AsymmetricWeights: true}},
		{"per-channel 4-bit", Options{WeightBits: 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.Calibration = calib
			o.QuantizeHead = true // the tiny model is all head
			q, rep, err := Quantize(tinyConv(), o)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Quantized["Conv"] != 1 || rep.Quantized["Sigmoid"] != 1 || rep.Weights != 1 || rep.Frames != 1 {
				t.Fatalf("report %+v", rep)
			}

			// Activations: the min/max formula, by hand.
			for _, a := range []struct {
				tensor string
				lo, hi float64
			}{{"images", inLo, inHi}, {"y", yLo, yHi}} {
				want := Asymmetric(a.lo, a.hi, 8)
				scale := scalarFloat(t, q, a.tensor+"_scale")
				zp := uint8sOf(initializer(q, a.tensor+"_zero_point"))
				hand := (max(a.hi, 0) - min(a.lo, 0)) / 255
				if math.Abs(float64(scale)-hand) > hand*1e-5 || int32(zp[0]) != want.ZeroPoint ||
					want.ZeroPoint != int32(math.Round(-min(a.lo, 0)/float64(want.Scale))) {
					t.Errorf("%s: Δ=%v z=%d, by hand Δ=%v z=%d (range [%v,%v])", a.tensor, scale, zp[0], hand, want.ZeroPoint, a.lo, a.hi)
				}
			}

			// Weights: dequantized back within Δ/2 of the original, with Δ and z
			// as the scheme's formula gives them.
			wq := initializer(q, "w_quantized")
			if wq == nil || wq.DataType != int32(onnx.TensorProto_INT8) {
				t.Fatalf("no int8 weight: %v", wq)
			}
			qw := int8sOf(wq)
			scales, _ := floatsOf(initializer(q, "w_scale"))
			zps := int8sOf(initializer(q, "w_zero_point"))
			bits := 8
			if o.WeightBits != 0 {
				bits = o.WeightBits
			}
			qmax := float64(int(1)<<(bits-1) - 1)
			for i, w := range tinyW {
				ch := i / 3
				if o.PerTensor {
					ch = 0
				}
				var want QParams
				lo, hi, am := 0.0, 0.0, 0.0
				for j, v := range tinyW {
					if o.PerTensor || j/3 == ch {
						lo, hi, am = min(lo, float64(v)), max(hi, float64(v)), max(am, math.Abs(float64(v)))
					}
				}
				if o.AsymmetricWeights {
					want = AsymmetricSigned(lo, hi, bits)
					if want.Scale != float32((hi-lo)/255) {
						t.Errorf("asymmetric Δ=%v, by hand (max−min)/255=%v", want.Scale, (hi-lo)/255)
					}
				} else {
					want = Symmetric(am, bits)
					if want.Scale != float32(am/qmax) {
						t.Errorf("symmetric Δ=%v, by hand max|w|/%v=%v", want.Scale, qmax, am/qmax)
					}
				}
				if scales[ch] != want.Scale || int32(zps[ch]) != want.ZeroPoint {
					t.Fatalf("channel %d: Δ=%v z=%d, want Δ=%v z=%d", ch, scales[ch], zps[ch], want.Scale, want.ZeroPoint)
				}
				back := float32(int32(qw[i])-int32(zps[ch])) * scales[ch]
				if d := math.Abs(float64(back - w)); d > float64(scales[ch])/2*1.0001 {
					t.Errorf("w[%d]=%v → %d → %v: error %v > Δ/2=%v", i, w, qw[i], back, d, scales[ch]/2)
				}
			}

			// Bias: int32 on the accumulator's scale, x_scale·w_scale.
			qb := int32sOf(initializer(q, "b_quantized"))
			xs := scalarFloat(t, q, "images_scale")
			for c, b := range tinyB {
				s := xs * scales[min(c, len(scales)-1)]
				if d := math.Abs(float64(float32(qb[c])*s - b)); d > float64(s)/2*1.0001 {
					t.Errorf("bias %d: %v → %d·%v, error %v", c, b, qb[c], s, d)
				}
			}

			// onnxruntime runs it and agrees with the float model within a few
			// output steps.
			float := runTiny(t, tinyConv())
			got := runTiny(t, q)
			worst := 0.0
			for i := range float {
				worst = max(worst, math.Abs(float64(got[i]-float[i])))
			}
			limit := 0.02
			if bits < 8 {
				limit = 0.1
			}
			if worst > limit {
				t.Errorf("quantized output differs by up to %v", worst)
			}
		})
	}
}

func runTiny(t *testing.T, m *onnx.ModelProto) []float32 {
	t.Helper()
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	img := gocv.IMRead(assets.Media("messi5.jpg"), gocv.IMReadColor)
	defer img.Close()
	pre := detect.NewPreprocessor(tinySize, tinySize)
	defer pre.Close()
	x := make([]float32, 3*tinySize*tinySize)
	pre.Run(img, x)
	out, _, err := runOutputs(b, imageInput{name: "images", w: tinySize, h: tinySize}, [][]float32{x}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// quantizedDefault is the default model quantized once for the tests that
// need it, calibrated on a few frames.
func quantizedDefault(t *testing.T) (string, *Report) {
	t.Helper()
	requireRuntime(t)
	m, err := Load(assets.Model())
	if err != nil {
		t.Fatal(err)
	}
	q, rep, err := Quantize(m, Options{Threads: 2, Calibration: Frames{
		Paths: []string{assets.Media("vtest.avi"), assets.Media("messi5.jpg"), assets.Media("basketball1.png")}, Max: 6}})
	if err != nil {
		t.Fatal(err)
	}
	return saveModel(t, q, "yolov8n-int8.onnx"), rep
}

func TestQuantizedDefaultModel(t *testing.T) {
	p, rep := quantizedDefault(t)
	if rep.Frames != 6 || rep.Quantized["Conv"] < 50 || rep.Weights != rep.Quantized["Conv"] {
		t.Errorf("report %+v", rep)
	}

	d, err := detect.New(detect.Options{Model: p, IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	img := gocv.IMRead(assets.Media("messi5.jpg"), gocv.IMReadColor)
	defer img.Close()
	dets, _, err := d.Detect(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The float model finds Messi at 0.89, box x=71 y=60 w=386 h=279.
	found := false
	for _, x := range dets {
		if x.Label == "person" && x.Score >= 0.5 && detect.IoU(x.Box, detect.Box{X1: 71, Y1: 60, X2: 457, Y2: 339}) > 0.8 {
			found = true
		}
	}
	if !found {
		t.Errorf("the INT8 model lost the person in messi5.jpg: %+v", dets)
	}

	info, err := Inspect(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.Quantized, "yes: QDQ") || info.Decoder != "yolov8" || len(info.Classes) != 80 {
		t.Errorf("inspect: quantized %q, decoder %q, %d classes", info.Quantized, info.Decoder, len(info.Classes))
	}
}

// TestQuantizedModelFuses checks that onnxruntime turns the QDQ groups into
// integer kernels: without the fusion there is no speed to gain.
func TestQuantizedModelFuses(t *testing.T) {
	p, rep := quantizedDefault(t)
	opt := filepath.Join(t.TempDir(), "optimized.onnx")
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll)
	so.SetOptimizedModelFilePath(opt)
	s, err := ort.NewDynamicAdvancedSession(p, []string{"images"}, []string{"output0"}, so)
	if err != nil {
		t.Fatal(err)
	}
	s.Destroy()
	m, err := Load(opt)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range m.Graph.Node {
		ops[n.OpType]++
	}
	if ops["QLinearConv"] != rep.Quantized["Conv"] || ops["QLinearMul"] < rep.Quantized["Mul"] ||
		ops["QLinearSigmoid"] < rep.Quantized["Sigmoid"] || ops["QLinearConcat"] < rep.Quantized["Concat"] || ops["QuantizeLinear"] > 1 {
		t.Errorf("after onnxruntime's optimizer: %v (quantized %v)", ops, rep.Quantized)
	}
}

func TestFP16DefaultModel(t *testing.T) {
	requireRuntime(t)
	m, err := Load(assets.Model())
	if err != nil {
		t.Fatal(err)
	}
	h, rep, err := ToFP16(m)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kept != 2 || rep.Tensors < 127 { // the two Resize scales stay float32
		t.Errorf("report %+v", rep)
	}
	p := saveModel(t, h, "yolov8n-fp16.onnx")
	info, err := Inspect(p)
	if err != nil {
		t.Fatal(err)
	}
	if info.Inputs[0].Type != "float32" || info.Outputs[0].Type != "float32" || info.ParamsByType["float32"] > 8 {
		t.Errorf("fp16 model: inputs %+v outputs %+v params %v", info.Inputs, info.Outputs, info.ParamsByType)
	}
	if info.FileBytes > 7<<20 {
		t.Errorf("fp16 model is %d bytes; want about half of 12.8 MB", info.FileBytes)
	}
	d, err := detect.New(detect.Options{Model: p, IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	img := gocv.IMRead(assets.Media("messi5.jpg"), gocv.IMReadColor)
	defer img.Close()
	dets, _, err := d.Detect(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range dets {
		found = found || x.Label == "person" && x.Score >= 0.8
	}
	if !found {
		t.Errorf("the FP16 model lost the person in messi5.jpg: %+v", dets)
	}
}

func TestBadInput(t *testing.T) {
	requireRuntime(t)
	text := writeFile(t, "model.onnx", "this is not a model\n")
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("no images here"), 0o644)
	identity := writeFile(t, "identity.onnx", string(onnxtest.Identity([]int64{1, 3, 8, 8}, []int64{1, 3, 8, 8}, nil)))
	tinyPath := saveModel(t, tinyConv(), "tiny.onnx")
	calib := Frames{Paths: []string{assets.Media("messi5.jpg")}}

	quantize := func(path string, o Options) error {
		m, err := Load(path)
		if err != nil {
			return err
		}
		_, _, err = Quantize(m, o)
		return err
	}
	cases := []struct {
		name   string
		err    func() error
		is     error
		substr []string
	}{
		{"not ONNX", func() error { _, err := Load(text); return err }, nil, []string{"model.onnx", "not an ONNX model"}},
		{"not ONNX, inspect", func() error { _, err := Inspect(text); return err }, nil, []string{"not an ONNX model"}},
		{"no float weights", func() error { return quantize(identity, Options{Calibration: calib}) }, ErrNoFloatWeights, []string{"no Conv with float weights"}},
		{"no float weights, fp16", func() error {
			m, _ := Load(identity)
			_, _, err := ToFP16(m)
			return err
		}, ErrNoFloatWeights, []string{"no float32 initializers"}},
		{"fp16 of a quantized model", func() error {
			m, _, err := Quantize(tinyConv(), Options{Calibration: calib, QuantizeHead: true})
			if err != nil {
				return err
			}
			_, _, err = ToFP16(m)
			return err
		}, nil, []string{"already quantized"}},
		{"quantize a quantized model", func() error {
			m, _, err := Quantize(tinyConv(), Options{Calibration: calib, QuantizeHead: true})
			if err != nil {
				return err
			}
			_, _, err = Quantize(m, Options{Calibration: calib})
			return err
		}, ErrNoFloatWeights, []string{"already quantized"}},
		{"calibration folder without images", func() error { return quantize(tinyPath, Options{Calibration: Frames{Paths: []string{empty}}}) }, ErrNoFrames, []string{empty, "no images"}},
		{"calibration file not a video", func() error { return quantize(tinyPath, Options{Calibration: Frames{Paths: []string{text}}}) }, ErrNoFrames, []string{text, "cannot open it as a video"}},
		{"no calibration paths", func() error { return quantize(tinyPath, Options{}) }, ErrNoFrames, []string{"give one or more"}},
		{"missing calibration path", func() error {
			return quantize(tinyPath, Options{Calibration: Frames{Paths: []string{"/nonexistent/frames"}}})
		}, nil, []string{"/nonexistent/frames", "no such file"}},
		{"activation bits", func() error { return quantize(tinyPath, Options{Calibration: calib, ActivationBits: 4}) }, nil, []string{"activation bits 4", "exactly 8"}},
		{"weight bits", func() error { return quantize(tinyPath, Options{Calibration: calib, WeightBits: 16}) }, nil, []string{"weight bits 16", "2–8"}},
		{"asymmetric per-channel", func() error { return quantize(tinyPath, Options{Calibration: calib, AsymmetricWeights: true}) }, nil, []string{"per-tensor"}},
		{"unknown op", func() error { return quantize(tinyPath, Options{Calibration: calib, Ops: []string{"Conv", "LSTM"}}) }, nil, []string{`"LSTM"`}},
		{"method", func() error { return quantize(tinyPath, Options{Calibration: calib, Method: "entropy"}) }, nil, []string{"entropy", "minmax"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			if err == nil {
				t.Fatal("no error")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %q", err, c.is)
			}
			for _, s := range c.substr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestKeepFloat(t *testing.T) {
	requireRuntime(t)
	m, err := Load(assets.Model())
	if err != nil {
		t.Fatal(err)
	}
	o := Options{KeepFloat: []string{"Concat", "/model.2/*"}}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	p, err := o.plan(m)
	if err != nil {
		t.Fatal(err)
	}
	head := 0
	for n := range p.nodes {
		if n.OpType == "Concat" || strings.HasPrefix(n.Name, "/model.2/") {
			t.Errorf("%s quantized, should be kept float", n.Name)
		}
	}
	for _, k := range p.kept {
		if strings.HasPrefix(k, "/model.22/") {
			head++
		}
	}
	// The head by default: the 6 last convolutions and the decode after them
	// (reshapes, DFL, box arithmetic, score sigmoid, concats).
	for _, want := range []string{"/model.22/cv2.0/cv2.0.2/Conv", "/model.22/cv3.2/cv3.2.2/Conv", "/model.22/dfl/conv/Conv", "/model.22/Sigmoid", "/model.22/Concat_5"} {
		found := false
		for _, k := range p.kept {
			found = found || k == want
		}
		if !found {
			t.Errorf("%s not kept in float (kept: %v)", want, p.kept)
		}
	}
	for n := range p.nodes {
		if n.Name == "/model.22/cv3.2/cv3.2.1/conv/Conv" {
			return
		}
	}
	t.Errorf("the head's inner convolutions should be quantized")
}

func TestSensitivity(t *testing.T) {
	requireRuntime(t)
	m, err := Load(assets.Model())
	if err != nil {
		t.Fatal(err)
	}
	layers := []string{"/model.0/conv/Conv", "/model.22/cv3.0/cv3.0.1/conv/Conv"}
	res, err := Sensitivity(m, SensitivityOptions{
		Options: Options{Threads: 2, Calibration: Frames{Paths: []string{assets.Media("messi5.jpg"), assets.Media("basketball1.png")}}},
		Eval:    Frames{Paths: []string{assets.Media("messi5.jpg")}},
		Layers:  layers,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	for _, e := range res {
		// The class branch (cv3) moves scores only; the stem moves both.
		if e.RelError <= 0 || e.RelError > 0.1 || e.ScoreError <= 0 || e.ScoreError > 0.1 ||
			e.Node == layers[0] && e.BoxError <= 0 || e.Node == layers[1] && e.BoxError != 0 {
			t.Errorf("%+v: want a small, non-zero error", e)
		}
	}
	if _, err := Sensitivity(m, SensitivityOptions{Options: Options{Calibration: Frames{Paths: []string{assets.Media("messi5.jpg")}}},
		Eval: Frames{Paths: []string{assets.Media("messi5.jpg")}}, Layers: []string{"/model.22/Concat_5"}}); err == nil {
		t.Error("a head node is not a quantizable layer by default")
	}
}
