package model

import (
	"fmt"
	"sort"
	"time"

	"github.com/vigil-vision/vigil/detect"
)

// Tally adds up how a candidate model's detections agree with a
// reference model's, frame after frame: what Compare reports over a set
// of frames and a shadow over live ones. Detections below Confidence are
// left out of both sides; a candidate box matches a reference box of the
// same class at MatchIoU or more. Not safe for use by several goroutines.
type Tally struct {
	confidence, matchIoU float32
	labels               []string

	frames           int
	perClass         map[int]*ClassAgreement
	scoreSum         float64
	iouSum           float64
	refTime, cndTime time.Duration
	timed            int
	ref, cand        []detect.Detection // scratch
}

// NewTally starts a tally for models whose classes are labels.
// confidence 0 is 0.25, matchIoU 0 is 0.5.
func NewTally(labels []string, confidence, matchIoU float32) *Tally {
	if confidence == 0 {
		confidence = 0.25
	}
	if matchIoU == 0 {
		matchIoU = 0.5
	}
	return &Tally{confidence: confidence, matchIoU: matchIoU, labels: labels, perClass: map[int]*ClassAgreement{}}
}

// Disagreement is what one frame's detections did not share: the
// reference's boxes no candidate box matched, and the other way round.
type Disagreement struct {
	RefOnly, CandOnly []detect.Detection
}

// None says whether the two models agreed on every box.
func (d Disagreement) None() bool { return len(d.RefOnly) == 0 && len(d.CandOnly) == 0 }

// String says it in a few words: "person 0.71 only in the reference; car
// 0.40 only in the candidate".
func (d Disagreement) String() string {
	var s string
	add := func(dets []detect.Detection, where string) {
		if len(dets) == 0 {
			return
		}
		if s != "" {
			s += "; "
		}
		for i, x := range dets {
			if i == 3 {
				s += fmt.Sprintf(" and %d more", len(dets)-3)
				break
			}
			if i > 0 {
				s += ", "
			}
			s += fmt.Sprintf("%s %.2f", labelOf(x), x.Score)
		}
		s += " only in the " + where
	}
	add(d.RefOnly, "reference")
	add(d.CandOnly, "candidate")
	return s
}

func labelOf(d detect.Detection) string {
	if d.Label != "" {
		return d.Label
	}
	return fmt.Sprint(d.Class)
}

// Add counts one frame's detections of both models and returns where
// they disagree (slices valid until the next Add).
func (t *Tally) Add(ref, cand []detect.Detection) Disagreement {
	t.ref, t.cand = t.kept(t.ref[:0], ref), t.kept(t.cand[:0], cand)
	t.frames++
	pairs := match(t.ref, t.cand, t.matchIoU)
	var d Disagreement
	refUsed := make([]bool, len(t.ref))
	candUsed := make([]bool, len(t.cand))
	for _, m := range pairs {
		t.scoreSum += float64(m.cand.Score - m.ref.Score)
		t.iouSum += float64(detect.IoU(m.ref.Box, m.cand.Box))
		t.entry(m.ref.Class).Matched++
		refUsed[m.ri], candUsed[m.ci] = true, true
	}
	for i, x := range t.ref {
		t.entry(x.Class).Ref++
		if !refUsed[i] {
			d.RefOnly = append(d.RefOnly, x)
		}
	}
	for i, x := range t.cand {
		t.entry(x.Class).Cand++
		if !candUsed[i] {
			d.CandOnly = append(d.CandOnly, x)
		}
	}
	return d
}

func (t *Tally) kept(dst, dets []detect.Detection) []detect.Detection {
	for _, d := range dets {
		if d.Score >= t.confidence {
			dst = append(dst, d)
		}
	}
	return dst
}

// Time counts one frame's inference times of both models, taken on the
// same frame with the same threads: SpeedRatio is their means' ratio.
func (t *Tally) Time(ref, cand time.Duration) {
	t.refTime += ref
	t.cndTime += cand
	t.timed++
}

// Frames is how many frames were added.
func (t *Tally) Frames() int { return t.frames }

func (t *Tally) entry(class int) *ClassAgreement { return classEntry(t.perClass, class, t.labels) }

// Result is the comparison so far.
func (t *Tally) Result() *Comparison {
	res := &Comparison{Frames: t.frames, Confidence: t.confidence, MatchIoU: t.matchIoU, Classes: []ClassAgreement{}}
	for _, a := range t.perClass {
		c := *a
		c.finish()
		res.Classes = append(res.Classes, c)
		res.All.Ref += c.Ref
		res.All.Cand += c.Cand
		res.All.Matched += c.Matched
	}
	sort.Slice(res.Classes, func(i, j int) bool { return res.Classes[i].Class < res.Classes[j].Class })
	res.All.Class, res.All.Label = -1, "all"
	res.All.finish()
	res.Agreement = res.All.Agreement()
	if res.All.Matched > 0 {
		res.MeanScoreChange = t.scoreSum / float64(res.All.Matched)
		res.MeanBoxIoU = t.iouSum / float64(res.All.Matched)
	}
	if t.timed > 0 {
		res.TimedFrames = t.timed
		res.RefMS = float64(t.refTime) / float64(t.timed) / 1e6
		res.CandMS = float64(t.cndTime) / float64(t.timed) / 1e6
		if res.CandMS > 0 {
			res.SpeedRatio = res.RefMS / res.CandMS
		}
	}
	return res
}
