package model

import (
	"fmt"
	"math"
	"sort"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// CompareOptions configure Compare.
type CompareOptions struct {
	Frames     Frames
	Confidence float32 // detections kept by both models; default 0.25
	MatchIoU   float32 // a candidate box matches a reference box at this IoU; default 0.5
	Threads    int     // onnxruntime intra-op threads for both
	Providers  []string
	Warmup     int // untimed runs of each model on the first frame; default 2
	Logger     zerolog.Logger
}

// ClassAgreement counts one class's detections. Precision is matched/cand
// and recall matched/ref, each 1 when its denominator is 0 (nothing to be
// wrong about).
type ClassAgreement struct {
	Class     int     `json:"class"`
	Label     string  `json:"label"`
	Ref       int     `json:"ref"`
	Cand      int     `json:"cand"`
	Matched   int     `json:"matched"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

func (c *ClassAgreement) finish() {
	c.Precision, c.Recall = 1, 1
	if c.Cand > 0 {
		c.Precision = float64(c.Matched) / float64(c.Cand)
	}
	if c.Ref > 0 {
		c.Recall = float64(c.Matched) / float64(c.Ref)
	}
}

// Agreement is min(precision, recall): both are at least this.
func (c ClassAgreement) Agreement() float64 { return min(c.Precision, c.Recall) }

// Comparison is what Compare measured. Speeds are of the inference alone
// (onnxruntime's Run), the two models taking turns on every frame, so the
// ratio holds even when the machine's speed drifts during the run.
type Comparison struct {
	Frames          int              `json:"frames"`
	Confidence      float32          `json:"confidence"`
	MatchIoU        float32          `json:"match_iou"`
	Classes         []ClassAgreement `json:"classes"` // classes either model found, by class id
	All             ClassAgreement   `json:"all"`
	Agreement       float64          `json:"agreement"`         // All.Agreement()
	MeanScoreChange float64          `json:"mean_score_change"` // candidate − reference over matched pairs
	MeanBoxIoU      float64          `json:"mean_box_iou"`      // over matched pairs
	TimedFrames     int              `json:"timed_frames"`      // frames the speeds are the means of
	RefMS           float64          `json:"ref_ms"`            // mean inference time
	CandMS          float64          `json:"cand_ms"`
	SpeedRatio      float64          `json:"speed_ratio"` // RefMS / CandMS: > 1 when the candidate is faster
}

// Class returns the agreement of one class by label; ok is false when
// neither model found it.
func (c *Comparison) Class(label string) (ClassAgreement, bool) {
	for _, a := range c.Classes {
		if a.Label == label {
			return a, true
		}
	}
	return ClassAgreement{}, false
}

// Compare runs a reference and a candidate detector on the same frames and
// measures how far the candidate's detections agree with the reference's.
// onnxruntime must be initialized (detect.InitRuntime).
func Compare(ref, cand string, o CompareOptions) (*Comparison, error) {
	if o.Confidence == 0 {
		o.Confidence = 0.25
	}
	if o.MatchIoU == 0 {
		o.MatchIoU = 0.5
	}
	if o.Warmup == 0 {
		o.Warmup = 2
	}
	open := func(p string) (*detect.Detector, error) {
		return detect.New(detect.Options{Model: p, Confidence: o.Confidence, IntraOpThreads: o.Threads,
			Providers: o.Providers, FallbackToCPU: true, Logger: o.Logger})
	}
	rd, err := open(ref)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	defer rd.Close()
	cd, err := open(cand)
	if err != nil {
		return nil, fmt.Errorf("candidate: %w", err)
	}
	defer cd.Close()
	if len(rd.Labels()) != len(cd.Labels()) {
		return nil, fmt.Errorf("reference has %d classes, candidate %d: they are not the same detector", len(rd.Labels()), len(cd.Labels()))
	}

	tally := NewTally(rd.Labels(), o.Confidence, o.MatchIoU)
	var rdets, cdets []detect.Detection
	n, err := o.Frames.Each(func(name string, img gocv.Mat) error {
		if tally.Frames() == 0 {
			for range o.Warmup {
				if _, _, err := rd.Detect(img, nil); err != nil {
					return fmt.Errorf("reference on %s: %w", name, err)
				}
				if _, _, err := cd.Detect(img, nil); err != nil {
					return fmt.Errorf("candidate on %s: %w", name, err)
				}
			}
		}
		// Take turns on who goes first: a cache warmed by one must not
		// favour the other.
		var rtm, ctm detect.Timings
		var err error
		run := func(first bool) error {
			if first {
				rdets, rtm, err = rd.Detect(img, rdets[:0])
				if err != nil {
					return fmt.Errorf("reference on %s: %w", name, err)
				}
				return nil
			}
			cdets, ctm, err = cd.Detect(img, cdets[:0])
			if err != nil {
				return fmt.Errorf("candidate on %s: %w", name, err)
			}
			return nil
		}
		order := [2]bool{true, false}
		if tally.Frames()%2 == 1 {
			order = [2]bool{false, true}
		}
		for _, first := range order {
			if err := run(first); err != nil {
				return err
			}
		}
		tally.Time(rtm.Infer, ctm.Infer)
		tally.Add(rdets, cdets)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := tally.Result()
	res.Frames = n
	return res, nil
}

func classEntry(m map[int]*ClassAgreement, class int, labels []string) *ClassAgreement {
	a := m[class]
	if a == nil {
		a = &ClassAgreement{Class: class, Label: fmt.Sprint(class)}
		if class >= 0 && class < len(labels) {
			a.Label = labels[class]
		}
		m[class] = a
	}
	return a
}

type pair struct {
	ref, cand detect.Detection
	ri, ci    int // their indexes in the slices match was given
}

// match pairs reference and candidate detections of the same class,
// greedily: reference boxes by falling score each take the unmatched
// candidate box of highest IoU, if it reaches minIoU.
func match(ref, cand []detect.Detection, minIoU float32) []pair {
	order := make([]int, len(ref))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return ref[order[i]].Score > ref[order[j]].Score })
	used := make([]bool, len(cand))
	var out []pair
	for _, ri := range order {
		a := ref[ri]
		best, bi := float32(math.Inf(-1)), -1
		for j, b := range cand {
			if used[j] || b.Class != a.Class {
				continue
			}
			if iou := detect.IoU(a.Box, b.Box); iou >= minIoU && iou > best {
				best, bi = iou, j
			}
		}
		if bi >= 0 {
			used[bi] = true
			out = append(out, pair{a, cand[bi], ri, bi})
		}
	}
	return out
}
