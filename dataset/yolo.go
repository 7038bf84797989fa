package dataset

import (
	"bufio"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml"
)

// WriteYOLO writes the Ultralytics YOLO layout into dir:
//
//	images/{train,val}/ID.jpg
//	labels/{train,val}/ID.txt   one line a box: class cx cy w h, each of the
//	                            four divided by the image's width or height
//	                            (6 decimals); empty for an image with none
//	data.yaml                   path (dir, absolute), train: images/train,
//	                            val: images/val, names: {0: person, …}
//
// names are the class names by class id, the detector's.
func WriteYOLO(dir string, examples iter.Seq2[Example, error], names []string, split Split) (Written, error) {
	for _, s := range []string{Train, Val} {
		if err := os.MkdirAll(filepath.Join(dir, "labels", s), 0o755); err != nil {
			return Written{}, err
		}
	}
	w, err := export(dir, examples, names, split, func(e Example, s, _ string) error {
		var b strings.Builder
		for _, x := range e.Boxes {
			fw, fh := float64(e.Width), float64(e.Height)
			fmt.Fprintf(&b, "%d %.6f %.6f %.6f %.6f\n", x.Class, (x.X+x.W/2)/fw, (x.Y+x.H/2)/fh, x.W/fw, x.H/fh)
		}
		return os.WriteFile(filepath.Join(dir, "labels", s, e.ID+".txt"), []byte(b.String()), 0o644)
	})
	if err != nil {
		return w, err
	}
	return w, writeDataYAML(dir, names)
}

func writeDataYAML(dir string, names []string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "path: %s\ntrain: images/train\nval: images/val\nnames:\n", yamlScalar(abs))
	for i, n := range names {
		fmt.Fprintf(&b, "  %d: %s\n", i, yamlScalar(n))
	}
	return os.WriteFile(filepath.Join(dir, "data.yaml"), []byte("# Ultralytics YOLO dataset, written by vigil dataset export\n"+b.String()), 0o644)
}

// yamlScalar is s as a YAML scalar: plain where YAML reads it back as the
// same string, else double-quoted (a JSON string is a YAML one).
func yamlScalar(s string) string {
	if b, err := yaml.Marshal(s); err == nil && !strings.Contains(strings.TrimSuffix(string(b), "\n"), "\n") {
		var back string
		if yaml.Unmarshal(b, &back) == nil && back == s {
			return strings.TrimSuffix(string(b), "\n")
		}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// yoloSet is one split of a YOLO-layout dataset, as Eval reads it.
type yoloSet struct {
	root   string // the folder the split's paths start from
	names  []string
	images []string // paths
}

// imageExts are the images a split's folder is read for (Ultralytics reads
// a few more).
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true,
	".tif": true, ".tiff": true, ".webp": true}

// readYOLO reads data.yaml in dir (or the file dir names) and lists the
// images of one split. The split's paths are taken from data.yaml's folder
// when they are there, else from `path` (itself relative to data.yaml's
// folder if relative). Ultralytics tries `path` first; here a copy of a
// dataset, whose data.yaml still names the original's absolute path, is
// read from the copy. A split is a folder of images, a .txt file listing
// images (a relative line from the file's folder), or a list of either.
func readYOLO(dir, split string) (*yoloSet, error) {
	file := dir
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		file = filepath.Join(dir, "data.yaml")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w (want a YOLO-layout folder with data.yaml, as vigil dataset export --format yolo writes)", dir, err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	set := &yoloSet{}
	if set.names, err = yamlNames(doc["names"]); err != nil {
		return nil, fmt.Errorf("%s: names: %w", file, err)
	}
	var entries []string
	switch v := doc[split].(type) {
	case string:
		entries = []string{v}
	case []any:
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%s: %s: %v is not a path", file, split, x)
			}
			entries = append(entries, s)
		}
	case nil:
		return nil, fmt.Errorf("%s: no %q split", file, split)
	default:
		return nil, fmt.Errorf("%s: %s: want a folder, a .txt list of images, or a list of them", file, split)
	}
	set.root = datasetRoot(filepath.Dir(file), doc["path"], entries)
	for _, e := range entries {
		if !filepath.IsAbs(e) {
			e = filepath.Join(set.root, e)
		}
		imgs, err := splitImages(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", file, split, err)
		}
		set.images = append(set.images, imgs...)
	}
	if len(set.images) == 0 {
		return nil, fmt.Errorf("%s: the %s split has no images", file, split)
	}
	return set, nil
}

// datasetRoot is the folder a split's relative paths start from:
// data.yaml's own when it holds them all, else `path`.
func datasetRoot(yamlDir string, path any, entries []string) string {
	holds := func(root string) bool {
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join(root, e)); err != nil && !filepath.IsAbs(e) {
				return false
			}
		}
		return true
	}
	p, _ := path.(string)
	if p == "" || holds(yamlDir) {
		p = yamlDir
	} else if !filepath.IsAbs(p) {
		p = filepath.Join(yamlDir, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func splitImages(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if strings.ToLower(filepath.Ext(p)) != ".txt" {
			return []string{p}, nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		var out []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if l == "" {
				continue
			}
			if !filepath.IsAbs(l) {
				l = filepath.Join(filepath.Dir(p), l)
			}
			out = append(out, l)
		}
		return out, sc.Err()
	}
	var out []string
	err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && imageExts[strings.ToLower(filepath.Ext(path))] {
			out = append(out, path)
		}
		return err
	})
	return out, err
}

// yamlNames reads Ultralytics' names: a map of class id to name, or a list.
func yamlNames(v any) ([]string, error) {
	switch n := v.(type) {
	case []any:
		out := make([]string, len(n))
		for i, x := range n {
			out[i] = fmt.Sprint(x)
		}
		return out, nil
	case map[string]any:
		out := make([]string, len(n))
		for k, x := range n {
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i < 0 || i >= len(n) {
				return nil, fmt.Errorf("class id %q: %d names want the ids 0…%d", k, len(n), len(n)-1)
			}
			out[i] = fmt.Sprint(x)
		}
		return out, nil
	case nil:
		return nil, fmt.Errorf("missing")
	}
	return nil, fmt.Errorf("want a map of class id to name, or a list")
}

// labelPath is where Ultralytics looks for an image's labels: the last
// /images/ in its path becomes /labels/, the extension .txt.
func labelPath(image string) string {
	sa, sb := string(filepath.Separator)+"images"+string(filepath.Separator), string(filepath.Separator)+"labels"+string(filepath.Separator)
	if i := strings.LastIndex(image, sa); i >= 0 {
		image = image[:i] + sb + image[i+len(sa):]
	}
	return strings.TrimSuffix(image, filepath.Ext(image)) + ".txt"
}

// readLabels reads an image's label file into boxes in pixels of a w×h
// image. No file is an image with no objects, as Ultralytics takes it. A
// line is class cx cy w h, or class x1 y1 x2 y2 … (a segment, taken as
// its bounding box); coordinates outside [0, 1] are refused.
func readLabels(path string, w, h int, names []string) ([]Box, error) {
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Box
	for n, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("%s:%d: %s: %q", path, n+1, why, line) }
		if len(f) < 5 || (len(f) > 5 && len(f)%2 == 0) {
			return nil, bad("want class cx cy w h")
		}
		var class int
		if _, err := fmt.Sscan(f[0], &class); err != nil || class < 0 || class >= len(names) {
			return nil, bad(fmt.Sprintf("class is not one of data.yaml's %d", len(names)))
		}
		v := make([]float64, len(f)-1)
		for i := range v {
			if _, err := fmt.Sscan(f[i+1], &v[i]); err != nil || math.IsNaN(v[i]) || math.IsInf(v[i], 0) {
				return nil, bad("not a number")
			}
		}
		var x1, y1, x2, y2 float64
		if len(v) == 4 {
			x1, y1, x2, y2 = v[0]-v[2]/2, v[1]-v[3]/2, v[0]+v[2]/2, v[1]+v[3]/2
			if v[2] < 0 || v[3] < 0 {
				return nil, bad("negative size")
			}
		} else {
			x1, y1, x2, y2 = v[0], v[1], v[0], v[1]
			for i := 0; i < len(v); i += 2 {
				x1, x2 = min(x1, v[i]), max(x2, v[i])
				y1, y2 = min(y1, v[i+1]), max(y2, v[i+1])
			}
		}
		const tol = 1e-6 // what 6 decimals may round past the border
		if x1 < -tol || y1 < -tol || x2 > 1+tol || y2 > 1+tol {
			return nil, bad("coordinates outside [0, 1]: not normalized, or beyond the image")
		}
		fw, fh := float64(w), float64(h)
		out = append(out, Box{Class: class, Label: names[class], Score: 1,
			X: x1 * fw, Y: y1 * fh, W: (x2 - x1) * fw, H: (y2 - y1) * fh})
	}
	return out, nil
}
