package dataset

import (
	"context"
	"fmt"
	"strings"

	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// Evaluation is Score's Report on a dataset split, with what it ran on.
type Evaluation struct {
	Dataset string `json:"dataset"`
	Root    string `json:"root"` // where the split's images were read: see readYOLO
	Split   string `json:"split"`
	Report
	// LeftOut counts the predictions of the detector's classes that the
	// dataset does not name: no ground truth can match them.
	LeftOut int `json:"left_out"`
}

// Eval runs det over one split ("val" when "") of the YOLO-layout dataset
// in dir (a folder with data.yaml, or the yaml file) and scores its
// predictions against the labels. The detector's classes are matched to
// the dataset's by name.
func Eval(ctx context.Context, det Detector, dir, split string) (*Evaluation, error) {
	if split == "" {
		split = Val
	}
	set, err := readYOLO(dir, split)
	if err != nil {
		return nil, err
	}
	toData, err := classMap(det.Labels(), set.names)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", dir, err)
	}
	ev := &Evaluation{Dataset: dir, Root: set.root, Split: split}
	var images []Annotated
	var dets []detect.Detection
	for _, path := range set.images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var a Annotated
		var left int
		if a, dets, left, err = evalImage(det, path, set.names, toData, dets[:0]); err != nil {
			return nil, err
		}
		images = append(images, a)
		ev.LeftOut += left
	}
	ev.Report = Score(images, set.names)
	return ev, nil
}

func evalImage(det Detector, path string, names []string, toData []int, dets []detect.Detection) (Annotated, []detect.Detection, int, error) {
	var a Annotated
	img := gocv.IMRead(path, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		return a, dets, 0, fmt.Errorf("image %s: cannot read it (missing, or not an image OpenCV decodes)", path)
	}
	var err error
	if a.Truth, err = readLabels(labelPath(path), img.Cols(), img.Rows(), names); err != nil {
		return a, dets, 0, err
	}
	if dets, _, err = det.Detect(img, dets); err != nil {
		return a, dets, 0, fmt.Errorf("image %s: %w", path, err)
	}
	left := 0
	for _, b := range boxes(dets) {
		if b.Class < 0 || b.Class >= len(toData) || toData[b.Class] < 0 {
			left++
			continue
		}
		b.Class = toData[b.Class]
		a.Pred = append(a.Pred, b)
	}
	return a, dets, left, nil
}

// classMap maps the model's class ids to the dataset's by name; -1 where
// the dataset lacks the name.
func classMap(model, data []string) ([]int, error) {
	idx := map[string]int{}
	for i, n := range data {
		idx[n] = i
	}
	out := make([]int, len(model))
	shared := 0
	for i, n := range model {
		out[i] = -1
		if j, ok := idx[n]; ok {
			out[i] = j
			shared++
		}
	}
	if shared == 0 && len(data) > 0 {
		return nil, fmt.Errorf("the model's classes (%s) share no name with data.yaml's (%s)", preview(model), preview(data))
	}
	return out, nil
}

func preview(s []string) string {
	if len(s) > 6 {
		return strings.Join(s[:6], ", ") + ", …"
	}
	return strings.Join(s, ", ")
}
