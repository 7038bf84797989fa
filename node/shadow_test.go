package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/dataset"
	"github.com/vigil-vision/vigil/examples"
	"github.com/vigil-vision/vigil/internal/onnxtest"
	"github.com/vigil-vision/vigil/model"
	"github.com/vigil-vision/vigil/modelstore"
)

// shadowNode runs a looping camera whose detector follows the store model
// "det" (version 1: the default model) with the shadow settings s; it
// returns the node, the store and the reports published so far.
func shadowNode(t *testing.T, extra string, s config.Shadow) (*testNode, modelstore.Store, func() []ShadowReport) {
	t.Helper()
	tn := startNode(t, header(t)+fmt.Sprintf("cameras:\n  - {id: walkway, url: %s, fps: 4, loop: true}\n", assets.Media("vtest.avi"))+extra)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	store := tn.storeWithDet(ctx)
	var mu sync.Mutex
	var reports []ShadowReport
	sub, err := tn.nc.Subscribe(ShadowSubject("vigil", "det"), func(m *nats.Msg) {
		var r ShadowReport
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Errorf("shadow report %q: %v", m.Data, err)
			return
		}
		mu.Lock()
		reports = append(reports, r)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	if _, err := tn.Change("test", func(cur *config.Config) (*config.Config, error) {
		next := *cur
		next.Model.Store = "det"
		next.Model.Shadow = s
		return &next, nil
	}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "det@1's frames", func() bool {
		msgs := tn.messages("walkway")
		return len(msgs) > 0 && msgs[len(msgs)-1].Model == "det@1"
	})
	return tn, store, func() []ShadowReport {
		mu.Lock()
		defer mu.Unlock()
		return append([]ShadowReport(nil), reports...)
	}
}

func shadowSettings() config.Shadow {
	s := config.Default().Model.Shadow
	s.Every, s.MinFrames, s.ReportEvery = 1, 12, config.Duration(time.Second)
	s.MinAgreement, s.MinSpeedRatio = 0.5, 0.05
	return s
}

// TestShadowReportedThenPromoted: an INT8 candidate pushed beside the
// live FP32 model runs in shadow: its reports on NATS and in /api say how
// the two agree, frames where they disagree become hard examples, and with
// promote: auto it is promoted once the report passes and swapped in; the
// trial then ends.
func TestShadowReportedThenPromoted(t *testing.T) {
	q, err := int8Model()
	if err != nil {
		t.Fatal(err)
	}
	exdir := t.TempDir()
	s := shadowSettings()
	s.Promote = config.PromoteAuto
	tn, store, reports := shadowNode(t, fmt.Sprintf("examples: {enabled: true, strategies: {close_to_threshold: {epsilon: 0}, random: {fraction: 0}, shadow: true},"+
		" limits: {per_minute: 1000, per_hour: 1000, per_day: 1000}, store: {dir: %s}}\n", exdir), s)
	ctx := context.Background()
	if v, err := store.Push(ctx, "det", q); err != nil || v.Version != 2 {
		t.Fatalf("push the INT8 copy: %+v %v", v, err)
	}
	waitUntil(t, "a report of checked frames", func() bool {
		for _, r := range reports() {
			if r.State == ShadowRunning && r.Counts.Checked > 0 {
				return true
			}
		}
		return false
	})
	var api struct{ Shadows []ShadowReport }
	if code := tn.call("GET", "/api/models/shadow", "", &api); code != 200 || len(api.Shadows) != 1 {
		t.Fatalf("GET /api/models/shadow: %d %+v", code, api)
	}
	if r := api.Shadows[0]; r.Detector != "default" || r.Live != "det@1" || r.Candidate != "det@2" || r.Every != 1 || r.Promote != "auto" {
		t.Errorf("/api/models/shadow: %+v", r)
	}

	waitUntil(t, "det@2 promoted and swapped in", func() bool {
		msgs := tn.messages("walkway")
		return len(msgs) > 0 && msgs[len(msgs)-1].Model == "det@2"
	})
	if e, err := store.Get(ctx, "det"); err != nil || e.Promoted != 2 || e.Candidate != 0 {
		t.Fatalf("after the auto promotion: %+v %v", e, err)
	}
	waitUntil(t, "the trial over", func() bool {
		tn.call("GET", "/api/models/shadow", "", &api)
		return len(api.Shadows) == 0
	})
	if len(tn.log.lines("shadow: the candidate passes; promoted (promote: auto)")) == 0 {
		t.Error("the promotion is not in the log")
	}

	var passed *ShadowReport
	for _, r := range reports() {
		if r.Passes {
			passed = &r
			break
		}
		if r.Comparison != nil && r.Comparison.Frames >= s.MinFrames {
			t.Errorf("a report of %d frames does not pass: %s", r.Comparison.Frames, r.Verdict)
		}
	}
	if passed == nil {
		t.Fatalf("no report passed: %+v", reports())
	}
	c := passed.Comparison
	if !strings.HasPrefix(passed.Verdict, "passes:") || c.Frames < s.MinFrames || c.Agreement < 0.5 || c.All.Matched == 0 ||
		c.TimedFrames == 0 || c.SpeedRatio <= 0 || passed.Counts.Checked != int64(c.Frames) || passed.Counts.Sampled < passed.Counts.Checked {
		t.Errorf("the passing report: %+v %+v", passed, c)
	}

	// INT8 and FP32 differ on some box of some frame: those frames are
	// examples, with the live model's boxes and why.
	var shadowExamples int
	for e, err := range (&examples.Folder{Dir: exdir}).Examples(ctx, dataset.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(e.Reason, "shadow: det@2 against det@1: ") || len(e.JPEG) == 0 || e.Camera != "walkway" {
			t.Errorf("example %s: %q, %d bytes", e.ID, e.Reason, len(e.JPEG))
		}
		shadowExamples++
	}
	if c.Agreement < 1 && shadowExamples == 0 {
		t.Errorf("agreement %.3f, yet no shadow example", c.Agreement)
	}
}

// TestShadowOfABadCandidateFails: a candidate that the store took but the
// detector cannot run (an output that is no detector's once the graph
// runs) fails in shadow with an error naming why, in /api and the log; the
// live model goes on and nothing is promoted. (A candidate with another
// class count is refused the same way: model.TestShadowRefusesAnotherDetector.)
func TestShadowOfABadCandidateFails(t *testing.T) {
	tiny, err := onnxtest.Write(t.TempDir(), "tiny.onnx", []int64{1, 3, 64, 64}, []int64{1, 6, 100},
		map[string]string{"names": "{0: 'person', 1: 'forklift'}"})
	if err != nil {
		t.Fatal(err)
	}
	tn, store, _ := shadowNode(t, "", shadowSettings())
	if _, err := store.Push(context.Background(), "det", tiny); err != nil {
		t.Fatal(err)
	}
	var api struct{ Shadows []ShadowReport }
	waitUntil(t, "the shadow failed", func() bool {
		tn.call("GET", "/api/models/shadow", "", &api)
		return len(api.Shadows) == 1 && api.Shadows[0].State == ShadowFailed
	})
	if r := api.Shadows[0]; !strings.HasPrefix(r.Error, "candidate: ") || !strings.Contains(r.Error, "is not a detector output") || r.Passes || !strings.HasPrefix(r.Verdict, "failed:") {
		t.Errorf("failed shadow: %+v", r)
	}
	if len(tn.log.lines("shadow: the candidate cannot run; the live model goes on")) == 0 {
		t.Error("the failure is not in the log")
	}
	n := tn.count("walkway")
	waitUntil(t, "frames after the failure", func() bool { return tn.count("walkway") > n+3 })

	// The shadow's settings are the shadow's: changing them leaves the
	// live detector alone, and the shadow starts again with them.
	rep, err := tn.Change("test", func(cur *config.Config) (*config.Config, error) {
		next := *cur
		next.Model.Shadow.Every = 3
		return &next, nil
	})
	if err != nil || len(rep.Detectors.Swapped)+len(rep.Detectors.Loaded) > 0 {
		t.Fatalf("a shadow setting changed: %v %+v", err, rep.Detectors)
	}
	waitUntil(t, "the shadow again with every: 3", func() bool {
		tn.call("GET", "/api/models/shadow", "", &api)
		return len(api.Shadows) == 1 && api.Shadows[0].Every == 3 && api.Shadows[0].State == ShadowFailed
	})
	if e, _ := store.Get(context.Background(), "det"); e.Promoted != 1 {
		t.Errorf("promoted %d", e.Promoted)
	}
}

// TestVerdict: the thresholds a report passes or fails, and why.
func TestVerdict(t *testing.T) {
	s := config.Shadow{MinFrames: 10, MinAgreement: 0.9, MinSpeedRatio: 0.8}
	cmp := func(frames, timed int, agreement, speed float64) *model.Comparison {
		return &model.Comparison{Frames: frames, TimedFrames: timed, Agreement: agreement, SpeedRatio: speed, RefMS: 10, CandMS: 10 / speed}
	}
	cases := []struct {
		rep  ShadowReport
		s    config.Shadow
		pass bool
		why  string
	}{
		{ShadowReport{State: ShadowLoading}, s, false, "loading"},
		{ShadowReport{State: ShadowFailed, Error: "boom"}, s, false, "failed: boom"},
		{ShadowReport{State: ShadowRunning, Comparison: cmp(9, 3, 1, 1)}, s, false, "collecting: 9 of 10 frames checked"},
		{ShadowReport{State: ShadowRunning, Comparison: cmp(10, 3, 0.85, 1)}, s, false, "fails: agreement 0.850 is below 0.900 over 10 frames"},
		{ShadowReport{State: ShadowRunning, Comparison: cmp(10, 0, 0.95, 0)}, s, false, "collecting: no frame timed yet"},
		{ShadowReport{State: ShadowRunning, Comparison: cmp(10, 3, 0.95, 0.5)}, s, false, "fails: speed ratio 0.50 (live 10.0 ms, candidate 20.0 ms) is below 0.80"},
		{ShadowReport{State: ShadowRunning, Comparison: cmp(10, 3, 0.95, 0.9)}, s, true, "passes: agreement 0.950 (at least 0.900) and speed ratio 0.90 (at least 0.80) over 10 frames"},
		{ShadowReport{State: ShadowRunning, Comparison: cmp(10, 0, 0.95, 0)}, config.Shadow{MinFrames: 10, MinAgreement: 0.9}, true, "passes: agreement 0.950 (at least 0.900) over 10 frames; speed not checked"},
	}
	for i, c := range cases {
		if pass, why := verdict(c.rep, c.s); pass != c.pass || why != c.why {
			t.Errorf("%d: %v %q, want %v %q", i, pass, why, c.pass, c.why)
		}
	}
}
