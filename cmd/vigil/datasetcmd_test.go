package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/vigil-vision/vigil/assets"
)

// pxBox is a box in pixels, top-left corner.
type pxBox struct {
	class      string
	x, y, w, h float64
}

func (b pxBox) near(o pxBox, tol float64) bool {
	return b.class == o.class && math.Abs(b.x-o.x) <= tol && math.Abs(b.y-o.y) <= tol && math.Abs(b.w-o.w) <= tol && math.Abs(b.h-o.h) <= tol
}

// yoloSet reads an Ultralytics YOLO dataset as its documentation
// (docs.ultralytics.com/datasets/detect) defines it: data.yaml's path,
// train, val and names (id → name); each image's label file at its path
// with /images/ → /labels/ and the extension .txt, one
// "class x_center y_center width height" line per object, normalized by
// the image's width and height. It returns the val images' boxes in
// pixels by file name, and the raw label lines by label file.
func yoloSet(t *testing.T, dir string, sizes map[string][2]int) (map[string][]pxBox, map[string][]string) {
	t.Helper()
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
	if err := yaml.Unmarshal(raw, &doc); err != nil || doc.Train != "images/train" || doc.Val != "images/val" || len(doc.Names) != 80 || doc.Names[0] != "person" {
		t.Fatalf("data.yaml: %v\n%s", err, raw)
	}
	if abs, _ := filepath.Abs(dir); doc.Path != abs {
		t.Errorf("data.yaml path %q, want %q", doc.Path, abs)
	}
	boxes, lines := map[string][]pxBox{}, map[string][]string{}
	imgs, _ := filepath.Glob(filepath.Join(doc.Path, doc.Val, "*"))
	for _, img := range imgs {
		lp := strings.Replace(img, string(filepath.Separator)+"images"+string(filepath.Separator), string(filepath.Separator)+"labels"+string(filepath.Separator), 1)
		lp = strings.TrimSuffix(lp, filepath.Ext(lp)) + ".txt"
		b, err := os.ReadFile(lp)
		if err != nil {
			t.Fatalf("labels of %s: %v", img, err)
		}
		name := filepath.Base(img)
		size, ok := sizes[name]
		if !ok {
			t.Fatalf("unexpected image %s", img)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(l)
			if len(f) != 5 {
				t.Fatalf("%s: %q", lp, l)
			}
			c, err := strconv.Atoi(f[0])
			if err != nil || doc.Names[c] == "" {
				t.Fatalf("%s: class %q", lp, f[0])
			}
			var v [4]float64
			for i := range v {
				if v[i], err = strconv.ParseFloat(f[i+1], 64); err != nil || v[i] < 0 || v[i] > 1 {
					t.Fatalf("%s: %q is not normalized", lp, l)
				}
			}
			W, H := float64(size[0]), float64(size[1])
			boxes[name] = append(boxes[name], pxBox{doc.Names[c], (v[0] - v[2]/2) * W, (v[1] - v[3]/2) * H, v[2] * W, v[3] * H})
			lines[lp] = append(lines[lp], l)
		}
	}
	return boxes, lines
}

// shiftLabels moves every label by a fifth of its width (right, or left
// where the image ends first; up or down by a fifth of its height where
// neither fits). A box moved by a fraction f of its size along one axis
// overlaps where it was by (1−f)/(1+f): 2/3 here.
func shiftLabels(t *testing.T, lines map[string][]string) {
	for lp, ls := range lines {
		var out strings.Builder
		for _, l := range ls {
			var c int
			var cx, cy, w, h float64
			if _, err := fmt.Sscan(l, &c, &cx, &cy, &w, &h); err != nil {
				t.Fatal(err)
			}
			switch {
			case cx+w/2+w/5 <= 1:
				cx += w / 5
			case cx-w/2-w/5 >= 0:
				cx -= w / 5
			case cy+h/2+h/5 <= 1:
				cy += h / 5
			case cy-h/2-h/5 >= 0:
				cy -= h / 5
			default:
				t.Fatalf("%s: %q fills the image", lp, l)
			}
			fmt.Fprintf(&out, "%d %.6f %.6f %.6f %.6f\n", c, cx, cy, w, h)
		}
		if err := os.WriteFile(lp, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDatasetExportAndEval pre-labels two images with the default model,
// exports them in each format, reads each back by its published
// definition, and evaluates the model on the YOLO set: against its own
// predictions mAP is 1; with every label moved to IoU 2/3, AP holds at
// the thresholds 0.50…0.65 and fails at 0.70…0.95, so mAP50 stays 1 and
// mAP50-95 is 4/10.
func TestDatasetExportAndEval(t *testing.T) {
	imgs := t.TempDir()
	for _, n := range []string{"messi5.jpg", "basketball1.png"} {
		b, err := os.ReadFile(assets.Media(n))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(imgs, n), b, 0o644)
	}
	// Exported as JPEGs, named by the file's stem.
	sizes := map[string][2]int{"messi5.jpg": {548, 342}, "basketball1.jpg": {640, 480}}
	root := t.TempDir()
	export := func(format string, extra ...string) string {
		t.Helper()
		out := filepath.Join(root, format)
		args := append([]string{"dataset", "export", "--from-images", imgs, "--to", out, "--format", format, "--split", "0/100", "--threads", "2"}, extra...)
		o, code := vigilOutput(t, args...)
		if code != 0 || !strings.Contains(o, "wrote 2 images (train 0, val 2)") {
			t.Fatalf("%v: exit %d\n%s", args, code, o)
		}
		return out
	}
	eval := func(dir string) modelEvalReport {
		t.Helper()
		o, code := vigilOutput(t, "model", "eval", assets.Model(), "--on", dir, "--json", "--threads", "2")
		var r modelEvalReport
		if err := json.Unmarshal([]byte(o), &r); err != nil || code != 0 {
			t.Fatalf("eval: exit %d, %v\n%s", code, err, o)
		}
		return r
	}

	yolo := export("yolo")
	boxes, lines := yoloSet(t, yolo, sizes)
	if len(boxes) != 2 || len(boxes["messi5.jpg"]) < 2 || len(boxes["basketball1.jpg"]) < 2 {
		t.Fatalf("yolo labels %+v", boxes)
	}
	r := eval(yolo)
	if r.Images != 2 || r.MAP50 != 1 || r.MAP50_95 != 1 || r.All.Precision != 1 || r.All.Recall != 1 || r.Confidence != 0.25 {
		t.Errorf("the model against its own predictions: %+v", r)
	}
	o, _ := vigilOutput(t, "model", "eval", assets.Model(), "--on", yolo, "--threads", "2")
	if !strings.Contains(o, "mAP50 1.000  mAP50-95 1.000") || !strings.Contains(o, "person") {
		t.Errorf("table:\n%s", o)
	}

	// COCO (cocodataset.org/#format-data): bbox [x, y, width, height] in
	// pixels from the top-left corner, categories by id (1-based here).
	coco := export("coco")
	var cf struct {
		Images []struct {
			ID       int    `json:"id"`
			FileName string `json:"file_name"`
			Width    int    `json:"width"`
			Height   int    `json:"height"`
		} `json:"images"`
		Annotations []struct {
			ImageID    int        `json:"image_id"`
			CategoryID int        `json:"category_id"`
			BBox       [4]float64 `json:"bbox"`
			Area       float64    `json:"area"`
			IsCrowd    int        `json:"iscrowd"`
		} `json:"annotations"`
		Categories []struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		} `json:"categories"`
	}
	raw, err := os.ReadFile(filepath.Join(coco, "annotations", "instances_val.json"))
	if err != nil || json.Unmarshal(raw, &cf) != nil || len(cf.Images) != 2 || len(cf.Categories) != 80 || cf.Categories[0].ID != 1 || cf.Categories[0].Name != "person" {
		t.Fatalf("coco: %v\n%.300s", err, raw)
	}
	cats := map[int]string{}
	for _, c := range cf.Categories {
		cats[c.ID] = c.Name
	}
	for _, img := range cf.Images {
		if sizes[img.FileName] != [2]int{img.Width, img.Height} {
			t.Errorf("coco image %+v", img)
		}
		if _, err := os.Stat(filepath.Join(coco, "images", "val", img.FileName)); err != nil {
			t.Error(err)
		}
		var got []pxBox
		for _, a := range cf.Annotations {
			if a.ImageID == img.ID {
				got = append(got, pxBox{cats[a.CategoryID], a.BBox[0], a.BBox[1], a.BBox[2], a.BBox[3]})
			}
		}
		sameAs(t, "coco "+img.FileName, got, boxes[img.FileName], 0.01)
	}

	// Label Studio (labelstud.io/guide/predictions): value x, y, width,
	// height in percent of original_width and original_height.
	ls := export("labelstudio", "--ls-root", root)
	var tasks []struct {
		Data struct {
			Image string `json:"image"`
		} `json:"data"`
		Predictions []struct {
			Result []struct {
				Type           string  `json:"type"`
				FromName       string  `json:"from_name"`
				ToName         string  `json:"to_name"`
				OriginalWidth  float64 `json:"original_width"`
				OriginalHeight float64 `json:"original_height"`
				Value          struct {
					X, Y, Width, Height float64
					Labels              []string `json:"rectanglelabels"`
				} `json:"value"`
			} `json:"result"`
		} `json:"predictions"`
	}
	raw, err = os.ReadFile(filepath.Join(ls, "tasks.json"))
	if err != nil || json.Unmarshal(raw, &tasks) != nil || len(tasks) != 2 {
		t.Fatalf("tasks: %v\n%.300s", err, raw)
	}
	for _, task := range tasks {
		d, ok := strings.CutPrefix(task.Data.Image, "/data/local-files/?d=")
		rel, err := url.PathUnescape(d)
		if !ok || err != nil || !strings.HasPrefix(rel, "labelstudio/images/val/") {
			t.Fatalf("image %q", task.Data.Image)
		}
		if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
			t.Error(err)
		}
		name := filepath.Base(rel)
		var got []pxBox
		for _, r := range task.Predictions[0].Result {
			v := r.Value
			if r.Type != "rectanglelabels" || r.FromName != "label" || r.ToName != "image" || len(v.Labels) != 1 ||
				sizes[name] != [2]int{int(r.OriginalWidth), int(r.OriginalHeight)} {
				t.Errorf("%s: %+v", name, r)
			}
			W, H := r.OriginalWidth, r.OriginalHeight
			got = append(got, pxBox{v.Labels[0], v.X * W / 100, v.Y * H / 100, v.Width * W / 100, v.Height * H / 100})
		}
		sameAs(t, "labelstudio "+name, got, boxes[name], 0.01)
	}

	shiftLabels(t, lines)
	r = eval(yolo)
	if r.MAP50 != 1 || math.Abs(r.MAP50_95-0.4) > 1e-9 || r.All.Precision != 1 || r.All.Recall != 1 {
		t.Errorf("labels moved to IoU 2/3: mAP50 %v, mAP50-95 %v, want 1, 0.4: %+v", r.MAP50, r.MAP50_95, r)
	}
}

// sameAs compares boxes in any order: each of want has a box in got
// within tol px.
func sameAs(t *testing.T, what string, got, want []pxBox, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d boxes, want %d", what, len(got), len(want))
		return
	}
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && g.near(w, tol) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("%s: no box within %v px of %+v in %+v", what, tol, w, got)
		}
	}
}

func TestDatasetCommandsBadInput(t *testing.T) {
	imgs := t.TempDir()
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	noYAML := t.TempDir()
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no --to", []string{"dataset", "export", "--from-images", imgs}, 2, []string{"--to is required"}},
		{"no source", []string{"dataset", "export", "--to", t.TempDir()}, 2, []string{"give --from-images DIR"}},
		{"two sources", []string{"dataset", "export", "--from-images", imgs, "--from-store", "--to", t.TempDir()}, 2, []string{"give --from-images DIR"}},
		{"store: dir and nats", []string{"dataset", "export", "--from-store", "--dir", imgs, "--nats", "nats://127.0.0.1:1", "--to", t.TempDir()}, 2, []string{"not both"}},
		{"format", []string{"dataset", "export", "--from-images", imgs, "--to", t.TempDir(), "--format", "voc"}, 2, []string{`"voc"`, "yolo, coco or labelstudio"}},
		{"split", []string{"dataset", "export", "--from-images", imgs, "--to", t.TempDir(), "--split", "80"}, 2, []string{"TRAIN/VAL"}},
		{"since", []string{"dataset", "export", "--from-images", imgs, "--to", t.TempDir(), "--since", "yesterday"}, 2, []string{"RFC 3339"}},
		{"not empty", []string{"dataset", "export", "--from-images", imgs, "--to", full}, 2, []string{"not empty"}},
		{"no images", []string{"dataset", "export", "--from-images", imgs, "--to", t.TempDir()}, 1, []string{imgs, "no images"}},
		{"unknown", []string{"dataset", "import"}, 2, []string{"use export"}},
		{"eval without --on", []string{"model", "eval", assets.Model()}, 2, []string{"--on DATASET"}},
		{"eval on no dataset", []string{"model", "eval", assets.Model(), "--on", noYAML}, 1, []string{"data.yaml"}},
	}
	for _, c := range cases {
		out, code := vigilOutput(t, c.args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d:\n%s", c.name, code, c.code, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out)
			}
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
		fail bool
	}{
		{"", time.Time{}, false},
		{"2025-03-01T08:00:00Z", time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC), false},
		{"2025-03-01", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"-1h", time.Time{}, true},
		{"yesterday", time.Time{}, true},
	} {
		got, err := parseSince(c.in, now)
		if (err != nil) != c.fail || !got.Equal(c.want) {
			t.Errorf("parseSince(%q) = %v, %v", c.in, got, err)
		}
	}
}
