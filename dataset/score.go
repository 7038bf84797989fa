package dataset

import (
	"fmt"
	"sort"
)

// IoUThresholds are the IoU thresholds of mAP50-95: 0.50, 0.55, …, 0.95.
var IoUThresholds = func() []float64 {
	t := make([]float64, 10)
	for i := range t {
		t[i] = float64(50+5*i) / 100
	}
	return t
}()

// Annotated is one image's ground truth and a detector's predictions on
// it, in the same pixels.
type Annotated struct {
	Truth, Pred []Box
}

// ClassResult is one class's numbers. Precision and recall count the
// predictions given (those at or above the detector's confidence
// threshold) matched at IoU 0.50: precision is TP/Predicted and recall
// TP/Truth, each 1 when its denominator is 0 (nothing to be wrong about),
// as vigil model compare has them. AP50 and AP50_95 are null for a class
// without ground truth: it takes no part in the mean.
type ClassResult struct {
	Class     int      `json:"class"`
	Label     string   `json:"label"`
	Truth     int      `json:"truth"`
	Predicted int      `json:"predicted"`
	TP        int      `json:"tp"`
	Precision float64  `json:"precision"`
	Recall    float64  `json:"recall"`
	AP50      *float64 `json:"ap50"`
	AP50_95   *float64 `json:"ap50_95"`
}

// Report is what Score measured. All sums every class: its precision and
// recall are over all boxes, its AP the mAP.
type Report struct {
	Images   int           `json:"images"`
	MAP50    float64       `json:"map50"`
	MAP50_95 float64       `json:"map50_95"`
	Classes  []ClassResult `json:"classes"` // classes with ground truth or predictions, by class id
	All      ClassResult   `json:"all"`
}

// Score computes COCO-style AP (see the package documentation) for each
// class of ground truth and predictions, and the precision and recall of
// the predictions as given. names label the classes by id.
func Score(images []Annotated, names []string) Report {
	type scored struct {
		score float64
		tp    [10]bool // matched at each of IoUThresholds
	}
	preds := map[int][]scored{}
	truth := map[int]int{}
	for _, img := range images {
		for _, class := range classesOf(img) {
			gt, dt := ofClass(img.Truth, class), ofClass(img.Pred, class)
			sort.SliceStable(dt, func(i, j int) bool { return dt[i].Score > dt[j].Score })
			truth[class] += len(gt)
			s := make([]scored, len(dt))
			for ti, t := range IoUThresholds {
				for di, m := range match(gt, dt, t) {
					s[di].score = dt[di].Score
					s[di].tp[ti] = m >= 0
				}
			}
			preds[class] = append(preds[class], s...)
		}
	}
	r := Report{Images: len(images), All: ClassResult{Class: -1, Label: "all"}}
	var sum50, sum, n float64
	for class := range union(truth, preds) {
		c := ClassResult{Class: class, Label: nameOf(names, class), Truth: truth[class], Predicted: len(preds[class])}
		p := preds[class]
		sort.SliceStable(p, func(i, j int) bool { return p[i].score > p[j].score })
		for _, d := range p {
			if d.tp[0] {
				c.TP++
			}
		}
		if c.Truth > 0 {
			var aps [10]float64
			tp := make([]bool, len(p))
			for ti := range IoUThresholds {
				for i, d := range p {
					tp[i] = d.tp[ti]
				}
				aps[ti] = AP(tp, c.Truth)
			}
			a50, a := aps[0], mean(aps[:])
			c.AP50, c.AP50_95 = &a50, &a
			sum50, sum, n = sum50+a50, sum+a, n+1
		}
		c.finish()
		r.Classes = append(r.Classes, c)
		r.All.Truth += c.Truth
		r.All.Predicted += c.Predicted
		r.All.TP += c.TP
	}
	sort.Slice(r.Classes, func(i, j int) bool { return r.Classes[i].Class < r.Classes[j].Class })
	if n > 0 {
		r.MAP50, r.MAP50_95 = sum50/n, sum/n
		r.All.AP50, r.All.AP50_95 = &r.MAP50, &r.MAP50_95
	}
	r.All.finish()
	return r
}

func (c *ClassResult) finish() {
	c.Precision, c.Recall = 1, 1
	if c.Predicted > 0 {
		c.Precision = float64(c.TP) / float64(c.Predicted)
	}
	if c.Truth > 0 {
		c.Recall = float64(c.TP) / float64(c.Truth)
	}
}

// match pairs predictions (by falling score) with ground truth as COCO
// does: each takes the unmatched truth box of highest IoU, if it reaches
// t; the result holds each prediction's truth index, or -1.
func match(gt, dt []Box, t float64) []int {
	used := make([]bool, len(gt))
	out := make([]int, len(dt))
	for di, d := range dt {
		best, m := t, -1
		for gi, g := range gt {
			if used[gi] {
				continue
			}
			if iou := IoU(d, g); iou >= best {
				best, m = iou, gi
			}
		}
		out[di] = m
		if m >= 0 {
			used[m] = true
		}
	}
	return out
}

// AP is the mean of the interpolated precision envelope at the 101 recall
// points 0, 0.01, …, 1 (COCO's): tp says of each prediction, by falling
// score, whether it matched; npos is the number of ground-truth boxes.
func AP(tp []bool, npos int) float64 {
	rec := make([]float64, len(tp))
	prec := make([]float64, len(tp))
	var tps, fps float64
	for i, t := range tp {
		if t {
			tps++
		} else {
			fps++
		}
		rec[i] = tps / float64(npos)
		prec[i] = tps / (tps + fps)
	}
	for i := len(prec) - 1; i > 0; i-- {
		prec[i-1] = max(prec[i-1], prec[i])
	}
	var sum float64
	for k := 0; k <= 100; k++ {
		r := float64(k) / 100
		i := sort.SearchFloat64s(rec, r) // the first index with rec[i] >= r
		if i < len(rec) {
			sum += prec[i]
		}
	}
	return sum / 101
}

// IoU is the intersection over union of two boxes.
func IoU(a, b Box) float64 {
	iw := min(a.X+a.W, b.X+b.W) - max(a.X, b.X)
	ih := min(a.Y+a.H, b.Y+b.H) - max(a.Y, b.Y)
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	return inter / (a.W*a.H + b.W*b.H - inter)
}

func classesOf(img Annotated) []int {
	seen := map[int]bool{}
	var out []int
	for _, bs := range [][]Box{img.Truth, img.Pred} {
		for _, b := range bs {
			if !seen[b.Class] {
				seen[b.Class] = true
				out = append(out, b.Class)
			}
		}
	}
	return out
}

func ofClass(bs []Box, class int) []Box {
	var out []Box
	for _, b := range bs {
		if b.Class == class {
			out = append(out, b)
		}
	}
	return out
}

func union[A, B any](a map[int]A, b map[int]B) map[int]bool {
	out := map[int]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func nameOf(names []string, class int) string {
	if class >= 0 && class < len(names) {
		return names[class]
	}
	return fmt.Sprint(class)
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
