package dataset

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"iter"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-vision/vigil/internal/jsonnum"
)

// LabelStudioOptions configure WriteLabelStudio.
type LabelStudioOptions struct {
	// ModelVersion names the predictions in Label Studio (its
	// model_version): the model's file name, say.
	ModelVersion string
	// DocumentRoot is Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT;
	// the tasks name images as /data/local-files/?d=PATH, PATH relative to
	// it. "" is the export folder itself.
	DocumentRoot string
}

type (
	lsTask struct {
		Data        lsData         `json:"data"`
		Predictions []lsPrediction `json:"predictions"`
	}
	lsData struct {
		Image   string `json:"image"`
		Example string `json:"example"`
		Split   string `json:"split"`
		Camera  string `json:"camera,omitempty"`
		Time    string `json:"time,omitempty"`
		Reason  string `json:"reason,omitempty"`
	}
	lsPrediction struct {
		ModelVersion string     `json:"model_version"`
		Score        float64    `json:"score"` // the mean of the boxes' scores
		Result       []lsResult `json:"result"`
	}
	lsResult struct {
		ID             string  `json:"id"`
		FromName       string  `json:"from_name"`
		ToName         string  `json:"to_name"`
		Type           string  `json:"type"`
		OriginalWidth  int     `json:"original_width"`
		OriginalHeight int     `json:"original_height"`
		ImageRotation  int     `json:"image_rotation"`
		Value          lsValue `json:"value"`
		Score          float64 `json:"score"`
	}
	lsValue struct {
		X               float64  `json:"x"` // percent of the image's width, top-left corner
		Y               float64  `json:"y"`
		Width           float64  `json:"width"`
		Height          float64  `json:"height"`
		Rotation        float64  `json:"rotation"`
		RectangleLabels []string `json:"rectanglelabels"`
	}
)

// WriteLabelStudio writes Label Studio tasks with the examples' boxes as
// predictions (pre-annotations) into dir:
//
//	images/{train,val}/ID.jpg
//	tasks.json            [{"data": {"image": "/data/local-files/?d=…", …},
//	                        "predictions": [{"model_version", "score",
//	                        "result": [{"type": "rectanglelabels", "value":
//	                        {"x", "y", "width", "height" in percent, …}}]}]}]
//	labeling-config.xml   the labeling interface the results refer to: an
//	                      Image "image" and RectangleLabels "label" with
//	                      every class name
//
// Percentages keep 6 decimals: a millionth of a percent, 0.00004 px of a
// 4000-pixel image.
func WriteLabelStudio(dir string, examples iter.Seq2[Example, error], names []string, split Split, o LabelStudioOptions) (Written, error) {
	root := o.DocumentRoot
	if root == "" {
		root = dir
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return Written{}, err
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return Written{}, err
	}
	rel, err := filepath.Rel(absRoot, absDir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return Written{}, fmt.Errorf("label studio document root %s does not hold %s: Label Studio serves local files only from under its document root", root, dir)
	}
	tasks := []lsTask{}
	w, err := export(dir, examples, names, split, func(e Example, s, image string) error {
		t := lsTask{Data: lsData{
			Image:   "/data/local-files/?d=" + (&url.URL{Path: filepath.ToSlash(filepath.Join(rel, image))}).EscapedPath(),
			Example: e.ID, Split: s, Camera: e.Camera, Reason: e.Reason,
		}}
		if !e.Time.IsZero() {
			t.Data.Time = e.Time.UTC().Format(time.RFC3339Nano)
		}
		p := lsPrediction{ModelVersion: o.ModelVersion, Result: []lsResult{}}
		fw, fh := float64(e.Width), float64(e.Height)
		for i, b := range e.Boxes {
			p.Score += b.Score
			p.Result = append(p.Result, lsResult{
				ID: fmt.Sprintf("%s-%d", e.ID, i), FromName: "label", ToName: "image", Type: "rectanglelabels",
				OriginalWidth: e.Width, OriginalHeight: e.Height,
				Value: lsValue{X: pct(b.X, fw), Y: pct(b.Y, fh), Width: pct(b.W, fw), Height: pct(b.H, fh),
					RectangleLabels: []string{names[b.Class]}},
				Score: jsonnum.Round(b.Score, 4),
			})
		}
		if len(e.Boxes) > 0 {
			p.Score = jsonnum.Round(p.Score/float64(len(e.Boxes)), 4)
		}
		t.Predictions = []lsPrediction{p}
		tasks = append(tasks, t)
		return nil
	})
	if err != nil {
		return w, err
	}
	b, err := json.MarshalIndent(tasks, "", "  ")
	if err != nil {
		return w, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tasks.json"), b, 0o644); err != nil {
		return w, err
	}
	return w, os.WriteFile(filepath.Join(dir, "labeling-config.xml"), labelingConfig(names), 0o644)
}

func pct(v, of float64) float64 { return jsonnum.Round(100*v/of, 6) }

func labelingConfig(names []string) []byte {
	var b strings.Builder
	b.WriteString("<View>\n  <Image name=\"image\" value=\"$image\"/>\n  <RectangleLabels name=\"label\" toName=\"image\">\n")
	for _, n := range names {
		b.WriteString("    <Label value=\"")
		xml.EscapeText(&b, []byte(n))
		b.WriteString("\"/>\n")
	}
	b.WriteString("  </RectangleLabels>\n</View>\n")
	return []byte(b.String())
}
