package dataset

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"iter"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

var names = []string{"person", "bicycle", "car"}

func jpegOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// examples are three images with boxes at awkward positions: fractional
// pixels, one box past the right edge (clipped on export), one wholly
// outside (dropped), one image with none.
func examples(t *testing.T) []Example {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return []Example{
		{ID: "dock-2_0001", Camera: "dock-2", Time: at, JPEG: jpegOf(t, 640, 480), Width: 640, Height: 480, Reason: "test",
			Boxes: []Box{
				{Class: 0, Label: "person", Score: 0.91, X: 10.25, Y: 20.5, W: 100.125, H: 200.75},
				{Class: 2, Label: "car", Score: 0.4, X: 600, Y: 300, W: 80, H: 60},    // clipped to 40 wide
				{Class: 1, Label: "bicycle", Score: 0.3, X: 700, Y: 10, W: 20, H: 20}, // outside: dropped
			}},
		{ID: "dock-2_0002", Camera: "dock-2", Time: at.Add(time.Minute), JPEG: jpegOf(t, 1280, 720), Width: 1280, Height: 720,
			Boxes: []Box{{Class: 1, Label: "bicycle", Score: 0.77, X: 333.3, Y: 111.1, W: 222.2, H: 99.9}}},
		{ID: "gate_0001", Camera: "gate", Time: at, JPEG: jpegOf(t, 320, 240), Width: 320, Height: 240},
	}
}

// want is each example's boxes as every format must give them back.
func want(t *testing.T) map[string][]Box {
	out := map[string][]Box{}
	for _, e := range examples(t) {
		out[e.ID] = clip(e.Boxes, float64(e.Width), float64(e.Height))
	}
	if len(out["dock-2_0001"]) != 2 || out["dock-2_0001"][1].W != 40 {
		t.Fatalf("clip: %+v", out["dock-2_0001"])
	}
	return out
}

func sameBoxes(t *testing.T, format, id string, got, want []Box, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s %s: %d boxes, want %d", format, id, len(got), len(want))
		return
	}
	for i, g := range got {
		w := want[i]
		if g.Class != w.Class || math.Abs(g.X-w.X) > tol || math.Abs(g.Y-w.Y) > tol || math.Abs(g.W-w.W) > tol || math.Abs(g.H-w.H) > tol {
			t.Errorf("%s %s box %d: %+v, want %+v (±%v px)", format, id, i, g, w, tol)
		}
	}
}

// split sends dock-2_0002 to val and the others to train: ids chosen so
// that both splits are used (checked below).
var split = Split{Val: 0.5}

func TestSplitOfTestExamples(t *testing.T) {
	got := map[string]string{}
	for _, e := range examples(t) {
		got[e.ID] = split.Of(e.ID)
	}
	if got["dock-2_0001"] == got["dock-2_0002"] && got["dock-2_0002"] == got["gate_0001"] {
		t.Fatalf("all in one split: %v; pick other IDs", got)
	}
}

// TestYOLORoundTrip reads WriteYOLO's output by the Ultralytics dataset
// format (docs.ultralytics.com/datasets/detect): data.yaml with path,
// train, val and names; an image's labels in the file at its path with
// /images/ → /labels/ and .txt, one "class x_center y_center width height"
// line per object, normalized to 0–1 by the image size.
func TestYOLORoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := WriteYOLO(dir, Slice(examples(t)), names, split)
	if err != nil {
		t.Fatal(err)
	}
	if w.Images() != 3 || w.Boxes != 3 {
		t.Errorf("written %+v", w)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "data.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Path  string         `yaml:"path"`
		Train string         `yaml:"train"`
		Val   string         `yaml:"val"`
		Names map[int]string `yaml:"names"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("data.yaml: %v\n%s", err, raw)
	}
	if doc.Path != dir || doc.Train != "images/train" || doc.Val != "images/val" || len(doc.Names) != 3 || doc.Names[2] != "car" {
		t.Errorf("data.yaml:\n%s", raw)
	}
	want := want(t)
	seen := 0
	for _, s := range []string{doc.Train, doc.Val} {
		imgs, _ := filepath.Glob(filepath.Join(doc.Path, s, "*.jpg"))
		for _, img := range imgs {
			seen++
			id := strings.TrimSuffix(filepath.Base(img), ".jpg")
			f, _ := os.Open(img)
			cfg, err := jpeg.DecodeConfig(f)
			f.Close()
			if err != nil {
				t.Fatalf("%s: %v", img, err)
			}
			lp := strings.Replace(img, "/images/", "/labels/", 1)
			lp = strings.TrimSuffix(lp, ".jpg") + ".txt"
			lines, err := os.ReadFile(lp)
			if err != nil {
				t.Fatalf("labels of %s: %v", img, err)
			}
			var got []Box
			for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
				if l == "" {
					continue
				}
				f := strings.Fields(l)
				if len(f) != 5 {
					t.Fatalf("%s: %q is not class cx cy w h", lp, l)
				}
				class, err := strconv.Atoi(f[0])
				if err != nil || doc.Names[class] == "" {
					t.Fatalf("%s: class %q", lp, f[0])
				}
				var v [4]float64
				for i := range v {
					if v[i], err = strconv.ParseFloat(f[i+1], 64); err != nil || v[i] < 0 || v[i] > 1 {
						t.Fatalf("%s: %q: %v not normalized", lp, l, f[i+1])
					}
					if d := strings.Split(f[i+1], "."); len(d) != 2 || len(d[1]) != 6 {
						t.Errorf("%s: %q: want 6 decimals", lp, f[i+1])
					}
				}
				W, H := float64(cfg.Width), float64(cfg.Height)
				got = append(got, Box{Class: class, X: (v[0] - v[2]/2) * W, Y: (v[1] - v[3]/2) * H, W: v[2] * W, H: v[3] * H})
			}
			sameBoxes(t, "yolo", id, got, want[id], 0.01)
		}
	}
	if seen != 3 {
		t.Errorf("%d images in the splits, want 3", seen)
	}
	// Eval's own reader takes the same files back.
	set, err := readYOLO(dir, Val)
	if err != nil || len(set.names) != 3 || set.names[1] != "bicycle" || len(set.images) != w.Val {
		t.Errorf("readYOLO: %v %+v", err, set)
	}
}

// TestCOCORoundTrip reads WriteCOCO's output by COCO's data format
// (cocodataset.org/#format-data, object detection): images with id,
// file_name, width, height; annotations with id, image_id, category_id,
// bbox [x, y, width, height] from the top-left corner in pixels, area,
// iscrowd; categories with id and name.
func TestCOCORoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteCOCO(dir, Slice(examples(t)), names, split); err != nil {
		t.Fatal(err)
	}
	want := want(t)
	images := 0
	for _, s := range []string{"train", "val"} {
		var f struct {
			Images []struct {
				ID       int    `json:"id"`
				FileName string `json:"file_name"`
				Width    int    `json:"width"`
				Height   int    `json:"height"`
			} `json:"images"`
			Annotations []struct {
				ID         int       `json:"id"`
				ImageID    int       `json:"image_id"`
				CategoryID int       `json:"category_id"`
				BBox       []float64 `json:"bbox"`
				Area       float64   `json:"area"`
				IsCrowd    *int      `json:"iscrowd"`
				Score      float64   `json:"score"`
			} `json:"annotations"`
			Categories []struct {
				ID   int    `json:"id"`
				Name string `json:"name"`
			} `json:"categories"`
		}
		raw, err := os.ReadFile(filepath.Join(dir, "annotations", "instances_"+s+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		cat := map[int]int{} // category id → class
		for _, c := range f.Categories {
			for class, n := range names {
				if n == c.Name {
					cat[c.ID] = class
					if c.ID != class+1 {
						t.Errorf("category %s has id %d, want %d (1-based)", n, c.ID, class+1)
					}
				}
			}
		}
		if len(cat) != 3 {
			t.Errorf("categories %+v", f.Categories)
		}
		ids := map[int]bool{}
		for _, a := range f.Annotations {
			if a.ID < 1 || ids[a.ID] {
				t.Errorf("annotation id %d: want unique and ≥ 1", a.ID)
			}
			ids[a.ID] = true
		}
		for _, img := range f.Images {
			images++
			id := strings.TrimSuffix(img.FileName, ".jpg")
			fh, err := os.Open(filepath.Join(dir, "images", s, img.FileName))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := jpeg.DecodeConfig(fh)
			fh.Close()
			if err != nil || cfg.Width != img.Width || cfg.Height != img.Height {
				t.Errorf("%s: %v, %dx%d, the file is %dx%d", img.FileName, err, img.Width, img.Height, cfg.Width, cfg.Height)
			}
			var got []Box
			for _, a := range f.Annotations {
				if a.ImageID != img.ID {
					continue
				}
				if len(a.BBox) != 4 || a.IsCrowd == nil || *a.IsCrowd != 0 || math.Abs(a.Area-a.BBox[2]*a.BBox[3]) > 0.01 {
					t.Errorf("annotation %+v", a)
				}
				got = append(got, Box{Class: cat[a.CategoryID], X: a.BBox[0], Y: a.BBox[1], W: a.BBox[2], H: a.BBox[3]})
			}
			sameBoxes(t, "coco", id, got, want[id], 0.005)
		}
	}
	if images != 3 {
		t.Errorf("%d images, want 3", images)
	}
}

// TestLabelStudioRoundTrip reads WriteLabelStudio's tasks by Label
// Studio's import format (labelstud.io/guide/predictions, tasks): each
// task's data.image a URL (local files: /data/local-files/?d=PATH under
// the document root); each prediction's result items of type
// rectanglelabels whose from_name/to_name name the labeling config's
// RectangleLabels and Image tags, value.x/y/width/height in percent of
// original_width/original_height, from the top-left corner.
func TestLabelStudioRoundTrip(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "exports", "one")
	if _, err := WriteLabelStudio(dir, Slice(examples(t)), names, split, LabelStudioOptions{ModelVersion: "yolov8n.onnx", DocumentRoot: root}); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Image struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"Image"`
		Rect struct {
			Name   string `xml:"name,attr"`
			ToName string `xml:"toName,attr"`
			Labels []struct {
				Value string `xml:"value,attr"`
			} `xml:"Label"`
		} `xml:"RectangleLabels"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "labeling-config.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(raw, &cfg); err != nil || cfg.Image.Value != "$image" || len(cfg.Rect.Labels) != 3 || cfg.Rect.ToName != cfg.Image.Name {
		t.Fatalf("labeling config: %v\n%s", err, raw)
	}
	var tasks []struct {
		Data        map[string]any `json:"data"`
		Predictions []struct {
			ModelVersion string  `json:"model_version"`
			Score        float64 `json:"score"`
			Result       []struct {
				FromName       string  `json:"from_name"`
				ToName         string  `json:"to_name"`
				Type           string  `json:"type"`
				OriginalWidth  float64 `json:"original_width"`
				OriginalHeight float64 `json:"original_height"`
				Score          float64 `json:"score"`
				Value          struct {
					X, Y, Width, Height, Rotation float64
					RectangleLabels               []string `json:"rectanglelabels"`
				} `json:"value"`
			} `json:"result"`
		} `json:"predictions"`
	}
	raw, err = os.ReadFile(filepath.Join(dir, "tasks.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &tasks); err != nil || len(tasks) != 3 {
		t.Fatalf("tasks: %v, %d", err, len(tasks))
	}
	want := want(t)
	for _, task := range tasks {
		u, _ := task.Data["image"].(string)
		d, ok := strings.CutPrefix(u, "/data/local-files/?d=")
		if !ok {
			t.Fatalf("image %q", u)
		}
		rel, err := url.PathUnescape(d)
		if err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(filepath.Join(root, rel))
		if err != nil {
			t.Fatalf("image %q not under the document root: %v", u, err)
		}
		jc, err := jpeg.DecodeConfig(fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		id := strings.TrimSuffix(filepath.Base(rel), ".jpg")
		if len(task.Predictions) != 1 || task.Predictions[0].ModelVersion != "yolov8n.onnx" {
			t.Fatalf("%s: predictions %+v", id, task.Predictions)
		}
		var got []Box
		var sum float64
		for _, r := range task.Predictions[0].Result {
			v := r.Value
			if r.Type != "rectanglelabels" || r.FromName != cfg.Rect.Name || r.ToName != cfg.Image.Name || v.Rotation != 0 ||
				int(r.OriginalWidth) != jc.Width || int(r.OriginalHeight) != jc.Height || len(v.RectangleLabels) != 1 {
				t.Errorf("%s: result %+v", id, r)
			}
			for _, p := range []float64{v.X, v.Y, v.Width, v.Height, v.X + v.Width, v.Y + v.Height} {
				if p < 0 || p > 100 {
					t.Errorf("%s: %v is not a percentage", id, p)
				}
			}
			class := -1
			for i, n := range names {
				if n == v.RectangleLabels[0] {
					class = i
				}
			}
			W, H := r.OriginalWidth, r.OriginalHeight
			got = append(got, Box{Class: class, X: v.X * W / 100, Y: v.Y * H / 100, W: v.Width * W / 100, H: v.Height * H / 100})
			sum += r.Score
		}
		sameBoxes(t, "labelstudio", id, got, want[id], 0.01)
		if n := len(got); n > 0 && math.Abs(task.Predictions[0].Score-sum/float64(n)) > 1e-4 {
			t.Errorf("%s: prediction score %v, want the mean %v", id, task.Predictions[0].Score, sum/float64(n))
		}
	}
	if _, err := WriteLabelStudio(t.TempDir(), Slice(examples(t)), names, split, LabelStudioOptions{DocumentRoot: root}); err == nil {
		t.Error("an export outside the document root was written")
	}
}

func TestWriteRefuses(t *testing.T) {
	ex := examples(t)
	bad := func(f func(e *Example)) []Example {
		e := ex[0]
		f(&e)
		return []Example{e}
	}
	failing := func(yield func(Example, error) bool) {
		if yield(ex[0], nil) {
			yield(Example{}, errors.New("store unreachable"))
		}
	}
	cases := []struct {
		name string
		ex   iter.Seq2[Example, error]
		want string
	}{
		{"same ID twice", Slice([]Example{ex[0], ex[0]}), "used twice"},
		{"ID with a slash", Slice(bad(func(e *Example) { e.ID = "../x" })), "letters, digits"},
		{"class beyond the names", Slice(bad(func(e *Example) { e.Boxes = []Box{{Class: 7, Label: "cat"}} })), "class 7 (cat) is not among the 3"},
		{"no JPEG", Slice(bad(func(e *Example) { e.JPEG = nil })), "no JPEG"},
		{"no size", Slice(bad(func(e *Example) { e.Width = 0 })), "image size 0x480"},
		{"the source fails", failing, "store unreachable"},
	}
	for _, c := range cases {
		for fname, write := range map[string]func(string) error{
			"yolo": func(d string) error { _, err := WriteYOLO(d, c.ex, names, split); return err },
			"coco": func(d string) error { _, err := WriteCOCO(d, c.ex, names, split); return err },
			"labelstudio": func(d string) error {
				_, err := WriteLabelStudio(d, c.ex, names, split, LabelStudioOptions{})
				return err
			},
		} {
			if err := write(t.TempDir()); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s, %s: %v, want %q", c.name, fname, err, c.want)
			}
		}
	}
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		in   string
		val  float64
		fail bool
	}{
		{"80/20", 0.2, false}, {"4/1", 0.2, false}, {"100/0", 0, false}, {"0/100", 1, false},
		{"80", 0, true}, {"a/b", 0, true}, {"0/0", 0, true}, {"-1/2", 0, true},
	} {
		s, err := ParseSplit(c.in)
		if (err != nil) != c.fail || !c.fail && !near(s.Val, c.val) {
			t.Errorf("ParseSplit(%q) = %+v, %v", c.in, s, err)
		}
	}
	s, _ := ParseSplit("80/20")
	val := 0
	for i := range 2000 {
		id := fmt.Sprintf("cam_%06d", i)
		if s.Of(id) != s.Of(id) {
			t.Fatal("not deterministic")
		}
		if s.Of(id) == Val {
			val++
		}
		if (Split{}).Of(id) != Train || (Split{Val: 1}).Of(id) != Val {
			t.Fatal("0/100 or 100/0 split mixes")
		}
	}
	if val < 340 || val > 460 {
		t.Errorf("%d of 2000 in val at 80/20", val)
	}
}

func TestReadLabels(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body string
		want       []Box
		err        string
	}{
		{"box", "1 0.5 0.5 0.25 0.5\n", []Box{{Class: 1, X: 75, Y: 50, W: 50, H: 100}}, ""},
		{"segment", "0 0.1 0.1 0.3 0.2 0.2 0.4\n", []Box{{Class: 0, X: 20, Y: 20, W: 40, H: 60}}, ""},
		{"empty", "\n", nil, ""},
		{"outside", "0 0.9 0.5 0.4 0.2\n", nil, "outside [0, 1]"},
		{"pixels", "0 100 50 20 20\n", nil, "outside [0, 1]"},
		{"class", "5 0.5 0.5 0.1 0.1\n", nil, "class is not one of data.yaml's 3"},
		{"columns", "0 0.5 0.5 0.1\n", nil, "want class cx cy w h"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".txt")
		os.WriteFile(p, []byte(c.body), 0o644)
		got, err := readLabels(p, 200, 200, names)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), p+":1") {
				t.Errorf("%s: %v, want %q at %s:1", c.name, err, c.err, p)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sameBoxes(t, c.name, "", got, c.want, 1e-9)
	}
	if got, err := readLabels(filepath.Join(dir, "none.txt"), 10, 10, names); got != nil || err != nil {
		t.Errorf("no file: %v, %v; want no objects", got, err)
	}
}

// TestDatasetRoot: a split is read where data.yaml is when it is there (a
// copy of a dataset whose data.yaml names the original), else under path.
func TestDatasetRoot(t *testing.T) {
	orig := t.TempDir()
	if _, err := WriteYOLO(orig, Slice(examples(t)), names, Split{Val: 1}); err != nil {
		t.Fatal(err)
	}
	cp := t.TempDir()
	if err := os.CopyFS(cp, os.DirFS(orig)); err != nil {
		t.Fatal(err)
	}
	if set, err := readYOLO(cp, Val); err != nil || set.root != cp {
		t.Errorf("a copy: %v, root %s, want %s", err, set.root, cp)
	}
	cfg := t.TempDir()
	os.WriteFile(filepath.Join(cfg, "ds.yaml"), []byte("path: "+orig+"\nval: images/val\nnames: [person, bicycle, car]\n"), 0o644)
	if set, err := readYOLO(filepath.Join(cfg, "ds.yaml"), Val); err != nil || set.root != orig || len(set.images) != 3 {
		t.Errorf("data.yaml elsewhere: %v, %+v", err, set)
	}
	rel, _ := filepath.Rel(cfg, orig)
	os.WriteFile(filepath.Join(cfg, "ds.yaml"), []byte("path: "+rel+"\nval: [images/val]\nnames: {0: person, 1: bicycle, 2: car}\n"), 0o644)
	if set, err := readYOLO(filepath.Join(cfg, "ds.yaml"), Val); err != nil || set.root != orig || set.names[2] != "car" {
		t.Errorf("a relative path: %v, %+v", err, set)
	}
	os.WriteFile(filepath.Join(cfg, "list.txt"), []byte(filepath.Join(orig, "images", "val", "gate_0001.jpg")+"\n"), 0o644)
	os.WriteFile(filepath.Join(cfg, "ds.yaml"), []byte("val: list.txt\nnames: [person, bicycle, car]\n"), 0o644)
	if set, err := readYOLO(filepath.Join(cfg, "ds.yaml"), Val); err != nil || len(set.images) != 1 {
		t.Errorf("a list file: %v, %+v", err, set)
	}
	for _, c := range []struct{ yaml, want string }{
		{"val: images/val\n", "names: missing"},
		{"val: images/val\nnames: {0: a, 5: b}\n", `class id "5"`},
		{"train: images/train\nnames: [a]\n", `no "val" split`},
		{"val: 3\nnames: [a]\n", "want a folder"},
		{"val: [: \n", "data.yaml"},
	} {
		os.WriteFile(filepath.Join(cfg, "data.yaml"), []byte(c.yaml), 0o644)
		if _, err := readYOLO(cfg, Val); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.yaml, err, c.want)
		}
	}
}
