package modelstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/internal/natstest"
	"github.com/vigil-vision/vigil/internal/onnxtest"
	"github.com/vigil-vision/vigil/model"
)

// backend is a store under test and how a test damages a stored file.
type backend struct {
	name    string
	open    func(t *testing.T) Store
	corrupt func(t *testing.T, s Store, name string, version int, b []byte)
}

var backends = []backend{
	{
		name: "nats",
		open: func(t *testing.T) Store {
			js := natstest.JetStream(t)
			s, err := OpenNATS(testCtx(t), js, Options{TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		// Other bytes under the same object name: the object store's own
		// digest matches them, only the pushed sha256 does not.
		corrupt: func(t *testing.T, s Store, name string, version int, b []byte) {
			if _, err := s.(*NATS).obs.PutBytes(testCtx(t), objectName(name, version), b); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		name: "dir",
		open: func(t *testing.T) Store {
			s, err := OpenDir(filepath.Join(t.TempDir(), "models"))
			if err != nil {
				t.Fatal(err)
			}
			s.Poll = 20 * time.Millisecond
			return s
		},
		corrupt: func(t *testing.T, s Store, name string, version int, b []byte) {
			if err := os.WriteFile(s.(*Dir).filePath(name, version), b, 0o644); err != nil {
				t.Fatal(err)
			}
		},
	},
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// tinyDetector is a small real ONNX file that passes Push's checks: input
// images [1,3,64,64], output0 [1,6,100] (the YOLOv8 layout, 2 classes),
// with class names; tag makes files of different bytes.
func tinyDetector(t *testing.T, tag string) string {
	t.Helper()
	p, err := onnxtest.Write(t.TempDir(), "tiny-"+tag+".onnx", []int64{1, 3, 64, 64}, []int64{1, 6, 100},
		map[string]string{"names": "{0: 'person', 1: 'forklift'}", "tag": tag})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rank3 has the input [3,64,64]: no batch dimension.
func rank3(t *testing.T) string {
	p, err := onnxtest.Write(t.TempDir(), "rank3.onnx", []int64{3, 64, 64}, []int64{1, 6, 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// noDecoder's output is an image, not a detector's output.
func noDecoder(t *testing.T) string {
	p, err := onnxtest.Write(t.TempDir(), "segmenter.onnx", []int64{1, 3, 64, 64}, []int64{1, 3, 64, 64}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// qdq is tinyDetector with an int8 weight behind a DequantizeLinear, as
// vigil model quantize writes them: Inspect calls it quantized (QDQ).
func qdq(t *testing.T) string {
	m, err := model.Parse(onnxtest.Identity([]int64{1, 3, 64, 64}, []int64{1, 6, 100}, map[string]string{"names": "{0: 'person', 1: 'forklift'}"}))
	if err != nil {
		t.Fatal(err)
	}
	g := m.Graph
	g.Initializer = append(g.Initializer,
		&onnx.TensorProto{Name: "wq", DataType: int32(onnx.TensorProto_INT8), Dims: []int64{4}, Int32Data: []int32{1, -2, 3, -4}},
		&onnx.TensorProto{Name: "ws", DataType: int32(onnx.TensorProto_FLOAT), FloatData: []float32{0.1}},
	)
	g.Node = append(g.Node, &onnx.NodeProto{Name: "dq", OpType: "DequantizeLinear", Input: []string{"wq", "ws"}, Output: []string{"w"}})
	p := filepath.Join(t.TempDir(), "tiny-int8.onnx")
	if err := model.Save(m, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// truncated is the first 100 KB of the real YOLOv8n: a download cut short.
func truncated(t *testing.T) string {
	b, err := os.ReadFile(assets.Model())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "yolov8n-cut.onnx")
	if err := os.WriteFile(p, b[:100<<10], 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// next reads entries from ch until one satisfies ok.
func next(t *testing.T, ch <-chan Entry, what string, ok func(Entry) bool) Entry {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e, open := <-ch:
			if !open {
				t.Fatalf("watch closed before %s", what)
			}
			if ok(e) {
				return e
			}
		case <-timeout:
			t.Fatalf("watch: no entry with %s", what)
		}
	}
}
