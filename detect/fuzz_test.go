package detect

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vigil-vision/vigil/internal/fuzztest"
	ort "github.com/yalue/onnxruntime_go"
)

// FuzzParseNames feeds the reader of a model's "names" metadata anything:
// it must not panic, and gives a name for each class id up to the largest
// it reads (a number where the metadata names none), at most 100001.
func FuzzParseNames(f *testing.F) {
	for _, s := range []string{
		`{0: 'person', 1: 'bicycle', 2: 'car', 3: 'motorcycle'}`, `{0: "it's", 1: 'say \'hi\''}`,
		`{0: 'person', 1: "bicycle", 3: 'traffic light'}`, "garbage", "", `{100000: 'x'}`, `{100001: 'x'}`,
		`{99999999999999999999: 'x'}`, `{-1: 'x', 0: 'y'}`, `{0: 'a', 0: 'b'}`, `{0: 'unterminated}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fuzztest.Watchdog(t)
		names := ParseNames(s)
		if len(names) > 100001 {
			t.Fatalf("%q: %d names", s, len(names))
		}
		if names != nil && len(names) == 0 {
			t.Fatalf("%q: an empty, non-nil list", s)
		}
	})
}

func shapeBytes(dims ...int64) []byte {
	var b []byte
	for _, d := range dims {
		b = binary.LittleEndian.AppendUint64(b, uint64(d))
	}
	return b
}

func shapeOf(b []byte) ort.Shape {
	var s ort.Shape
	for ; len(b) >= 8 && len(s) < 6; b = b[8:] {
		s = append(s, int64(binary.LittleEndian.Uint64(b)))
	}
	return s
}

// FuzzModelShapes feeds the checks a detector makes of a model before it
// allocates anything (its input and output as onnxruntime reads them, the
// decoder option, a labels file) any values: they must not panic, and a
// model they accept has an input and an output of sizes vigil can
// allocate, one label per class, and one threshold per label.
func FuzzModelShapes(f *testing.F) {
	float := int32(ort.TensorElementDataTypeFloat)
	f.Add(shapeBytes(1, 3, 640, 640), float, shapeBytes(1, 84, 8400), float, "", "person\nbicycle\n")
	f.Add(shapeBytes(-1, 3, -1, -1), float, shapeBytes(-1, 84, 8400), float, "auto", "")
	f.Add(shapeBytes(1, 3, 640, 640), float, shapeBytes(1, 300, 6), float, "end2end", "a\nb\n")
	f.Add(shapeBytes(1, 3, 640, 640), float, shapeBytes(1, 25200, 85), float, "yolov5", "")
	f.Add(shapeBytes(1, 3, 64, 64), float, shapeBytes(1, 3, 64, 64), float, "", "")
	f.Add(shapeBytes(1, 84, 8400), float, shapeBytes(1, 84, 8400), float, "yolov8", "")
	f.Add(shapeBytes(1, 3, 1<<40, 1<<40), float, shapeBytes(1, 84, 8400), float, "", "")
	f.Add(shapeBytes(1, 3, 640, 640), float, shapeBytes(1, 1<<40, 1<<41), float, "", "")
	f.Add(shapeBytes(1, 3, 640, 640), float, shapeBytes(1, 1<<20, 1<<20), float, "yolov5", "")
	f.Add(shapeBytes(1, 3, 640, 640), float, shapeBytes(1, 84, 8400), int32(ort.TensorElementDataTypeUint8), "yolov99", "")
	labels := filepath.Join(f.TempDir(), "labels.txt")
	f.Fuzz(func(t *testing.T, in []byte, inType int32, out []byte, outType int32, decoder, labelText string) {
		fuzztest.Watchdog(t)
		ins := []ort.InputOutputInfo{{Name: "images", Dimensions: shapeOf(in), DataType: ort.TensorElementDataType(inType)}}
		outs := []ort.InputOutputInfo{{Name: "output0", Dimensions: shapeOf(out), DataType: ort.TensorElementDataType(outType)}}
		o := Options{Decoder: decoder, Confidence: 0.25, ClassConfidence: map[string]float32{"0": 0.5}}
		if labelText != "" {
			if err := os.WriteFile(labels, []byte(labelText), 0o644); err != nil {
				t.Fatal(err)
			}
			o.Labels = labels
		}
		d := &Detector{opts: o}
		if err := d.checkShapes(ins, outs); err != nil {
			return
		}
		if d.inW <= 0 || d.inH <= 0 || d.inW > MaxInputSide || d.inH > MaxInputSide {
			t.Fatalf("input %v: %dx%d", ins[0].Dimensions, d.inW, d.inH)
		}
		sh := d.decoder.Shape
		if sh[0] != 1 || sh[1] <= 0 || sh[2] <= 0 || sh[1]*sh[2] > MaxOutputElements {
			t.Fatalf("output %v: decoded as %v", outs[0].Dimensions, sh)
		}
		_, classes, err := ChooseLayout(sh[:], d.decoder.Layout)
		if err != nil || classes < 0 || classes > MaxClasses {
			t.Fatalf("output %v, layout %v: %d classes, %v", outs[0].Dimensions, d.decoder.Layout, classes, err)
		}
		if err := d.loadLabels(); err != nil {
			return
		}
		if classes > 0 && len(d.labels) != classes {
			t.Fatalf("%d classes, %d labels", classes, len(d.labels))
		}
		if err := d.setThresholds(); err != nil {
			if len(d.labels) > 0 && d.labels[0] == "0" {
				t.Fatalf("class 0 unknown among %s", strconv.Quote(preview(d.labels, 4)))
			}
			return
		}
		if len(d.decoder.Thresholds) != len(d.labels) {
			t.Fatalf("%d thresholds for %d labels", len(d.decoder.Thresholds), len(d.labels))
		}
	})
}
