package model

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// int8Copy quantizes the default model once for the shadow tests: a
// candidate that mostly agrees with it, not everywhere.
var int8Copy = sync.OnceValues(func() (string, error) {
	m, err := Load(assets.Model())
	if err != nil {
		return "", err
	}
	q, _, err := Quantize(m, Options{Calibration: Frames{Paths: []string{assets.Media("messi5.jpg")}}, Threads: 2})
	if err != nil {
		return "", err
	}
	path := filepath.Join(tempDir(), "yolov8n-int8.onnx")
	return path, Save(q, path)
})

var tempDir = sync.OnceValue(func() string {
	dir, err := os.MkdirTemp("", "vigil-model-test")
	if err != nil {
		panic(err)
	}
	return dir
})

func TestMain(m *testing.M) {
	code := m.Run()
	os.RemoveAll(tempDir())
	os.Exit(code)
}

// TestShadowEqualsCompare: a shadow driven frame by frame with the live
// model's detections (kept down to a lower threshold, as vigil's live
// detector keeps them for the tracker) reports what Compare reports on
// the same frames, and its disagreements add up to the unmatched boxes.
func TestShadowEqualsCompare(t *testing.T) {
	requireRuntime(t)
	q, err := int8Copy()
	if err != nil {
		t.Fatal(err)
	}
	frames := Frames{Paths: []string{assets.Media("vtest.avi")}, Max: 12}
	live, err := detect.New(detect.Options{Model: assets.Model(), Confidence: 0.1, IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	var refOnly, candOnly, disagreeing int
	sh, err := NewShadow(ShadowOptions{
		Candidate: detect.Options{Model: q, Confidence: 0.1, IntraOpThreads: 1},
		Reference: detect.Options{Model: assets.Model(), Confidence: 0.1, IntraOpThreads: 1},
		Labels:    live.Labels(), Confidence: 0.25,
		OnDisagree: func(camera string, _ time.Time, img gocv.Mat, _ []detect.Detection, d Disagreement) {
			if camera != "walkway" || img.Empty() || d.None() || d.String() == "" {
				t.Errorf("disagreement on %q (empty picture %v): %+v %q", camera, img.Empty(), d, d.String())
			}
			disagreeing++
			refOnly += len(d.RefOnly)
			candOnly += len(d.CandOnly)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if _, err := frames.Each(func(name string, img gocv.Mat) error {
		dets, _, err := live.Detect(img, nil)
		if err != nil {
			return err
		}
		return sh.Check("walkway", time.Now(), img, dets, true)
	}); err != nil {
		t.Fatal(err)
	}
	want, err := Compare(assets.Model(), q, CompareOptions{Frames: frames, Confidence: 0.25, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	counts, got, lastErr := sh.Report()
	if lastErr != nil || counts.Checked != 12 || got.Frames != 12 || got.TimedFrames != 12 || want.Frames != 12 {
		t.Fatalf("counts %+v, %d frames (%d timed), compare %d frames, error %v", counts, got.Frames, got.TimedFrames, want.Frames, lastErr)
	}
	if len(got.Classes) != len(want.Classes) || got.All != want.All || got.Agreement != want.Agreement ||
		got.MeanScoreChange != want.MeanScoreChange || got.MeanBoxIoU != want.MeanBoxIoU {
		t.Fatalf("shadow %+v\ncompare %+v", got, want)
	}
	for i := range got.Classes {
		if got.Classes[i] != want.Classes[i] {
			t.Errorf("class %d: shadow %+v, compare %+v", i, got.Classes[i], want.Classes[i])
		}
	}
	if got.SpeedRatio <= 0 || want.SpeedRatio <= 0 {
		t.Errorf("speed ratios: shadow %g, compare %g", got.SpeedRatio, want.SpeedRatio)
	}
	if got.All.Matched == 0 || got.Agreement >= 1 || disagreeing == 0 {
		t.Fatalf("the INT8 copy should agree on most boxes, not all: %+v, %d frames disagreeing", got.All, disagreeing)
	}
	if refOnly != got.All.Ref-got.All.Matched || candOnly != got.All.Cand-got.All.Matched {
		t.Errorf("disagreements: %d only live, %d only candidate; tally %+v", refOnly, candOnly, got.All)
	}
}

// TestShadowOfferSamples: Offer takes one frame in Every, never blocks,
// and counts what it skipped while busy; Close stops it.
func TestShadowOfferSamples(t *testing.T) {
	requireRuntime(t)
	sh, err := NewShadow(ShadowOptions{
		Candidate: detect.Options{Model: assets.Model(), Confidence: 0.25, IntraOpThreads: 1},
		Labels:    make([]string, 80), Every: 3, Nice: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	img := gocv.IMRead(assets.Media("messi5.jpg"), gocv.IMReadColor)
	defer img.Close()
	var taken int
	for range 30 {
		if sh.Offer("cam", time.Now(), img, nil) {
			taken++
		}
	}
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	if sh.Offer("cam", time.Now(), img, nil) {
		t.Error("a closed shadow took a frame")
	}
	counts, c, _ := sh.Report()
	if counts.Seen != 30 || counts.Sampled != 10 || int(counts.Checked) != taken || counts.Checked+counts.Busy != 10 || c.Frames != taken || taken == 0 {
		t.Errorf("30 frames offered, 1 in 3 sampled: %+v, %d taken, %d compared", counts, taken, c.Frames)
	}
	if c.TimedFrames != 0 || c.SpeedRatio != 0 {
		t.Errorf("no reference, yet speeds: %+v", c)
	}
	// The live model with no detections against the candidate's: every
	// box the candidate found is one only it has.
	if c.All.Ref != 0 || c.All.Cand == 0 || c.All.Precision != 0 || c.All.Recall != 1 {
		t.Errorf("no live detections: %+v", c.All)
	}
}

// TestShadowRefusesAnotherDetector: a candidate with another class count
// is refused with an error saying so.
func TestShadowRefusesAnotherDetector(t *testing.T) {
	requireRuntime(t)
	_, err := NewShadow(ShadowOptions{Candidate: detect.Options{Model: assets.Model()}, Labels: []string{"widget"}})
	if err == nil || !strings.Contains(err.Error(), "80 classes, the live model 1") {
		t.Fatalf("got %v", err)
	}
}
