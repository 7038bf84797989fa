package infer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/model"
	"gocv.io/x/gocv"
)

// WatchOptions configure a Watch.
type WatchOptions struct {
	Remote *Remote
	// Goal is one of model.Goals; "" only probes the link's round trip,
	// for Remote.Link, and plans nothing.
	Goal string
	// Local and Server are the whole model's cuts profiled on this node
	// and on the server: `vigil model cuts MODEL --profile --json` run on
	// each. Local must profile the cut the Remote's head ends at.
	Local, Server *model.CutReport
	Every         time.Duration // between checks; 30s when 0
	// Margin is how much worse than the planner's choice, as a fraction of
	// the goal's measure, the configured way must be to be reported.
	Margin float64
	Probes int // round-trip probes a check; 3 when 0
	Logger zerolog.Logger
}

// PlanStatus is a Watch's last check of the configured way against the
// planner's choice.
type PlanStatus struct {
	Goal       string `json:"goal"`
	Configured string `json:"configured"` // "jpeg", or the After of the head's cut
	// Choice is the planner's pick for Goal over the measured link: a
	// candidate of model.Plan ("local", "jpeg" or a cut's After); "" until
	// a check had a frame and a measured link.
	Choice   string `json:"choice,omitempty"`
	Mismatch bool   `json:"mismatch"` // Choice is not Configured, and Configured is worse by more than the margin
	// The goal's measure (ms, or bytes for goal bytes) of each, as
	// predicted over the measured link.
	ConfiguredValue float64 `json:"configured_value,omitempty"`
	ChoiceValue     float64 `json:"choice_value,omitempty"`
	Unit            string  `json:"unit"`
	// The link the check planned with.
	RTTMS         float64   `json:"rtt_ms,omitempty"`
	MbitPerSecond float64   `json:"mbit_per_s,omitempty"`
	Fix           string    `json:"fix,omitempty"`
	Waiting       string    `json:"waiting,omitempty"` // what a check still lacks to plan: a frame, or a measured link
	Checked       time.Time `json:"checked"`
}

// Watch re-runs the planner (model.Plan, model.Pick) while a Remote runs,
// with the link the Remote measures and the costs of sending this
// camera's frames, and reports when the way the detector is configured
// (whole frames as JPEG, or the cut its head ends at) is no longer the
// planner's choice for the goal: a warning once per change, and Status.
type Watch struct {
	o          WatchOptions
	configured string
	valueBytes int
	quality    int
	transport  DType

	mu     sync.Mutex
	costs  []SendCosts // the newest few, a frame each
	status PlanStatus
}

// maxCosts is how many frames' send costs a check takes the median of.
const maxCosts = 5

// NewWatch checks that the profiles can plan for the Remote's configured
// way: both profiled, the head's cut among the local cuts and timed on the
// server.
func NewWatch(o WatchOptions) (*Watch, error) {
	if o.Remote == nil {
		return nil, errors.New("plan watch: no remote detector")
	}
	var cut []TensorSpec
	if h := o.Remote.o.Head; h != nil {
		cut = h.Cut()
	}
	w, err := newWatch(o, cut, o.Remote.o.Transport, o.Remote.o.JPEGQuality)
	if err != nil {
		return nil, err
	}
	if o.Goal != "" {
		o.Remote.wantSample.Store(true) // a frame for the first check's costs
	}
	return w, nil
}

func newWatch(o WatchOptions, cut []TensorSpec, transport DType, quality int) (*Watch, error) {
	if o.Every <= 0 {
		o.Every = 30 * time.Second
	}
	if o.Probes <= 0 {
		o.Probes = 3
	}
	if o.Goal == "" {
		return &Watch{o: o}, nil
	}
	if !slices.Contains(model.Goals, o.Goal) {
		return nil, fmt.Errorf("plan goal %q: use %s", o.Goal, strings.Join(model.Goals, ", "))
	}
	if o.Local == nil || o.Local.ModelMS == 0 {
		return nil, errors.New("the profile of this node has no timings: write it with `vigil model cuts MODEL --profile --json` here")
	}
	if o.Server == nil || o.Server.ModelMS == 0 {
		return nil, errors.New("the server's profile has no timings: write it with `vigil model cuts MODEL --profile --json` on the server")
	}
	w := &Watch{o: o, valueBytes: transport.Size(), quality: quality, transport: transport, configured: "jpeg"}
	if cut != nil {
		c, err := findCut(o.Local, cut)
		if err != nil {
			return nil, err
		}
		w.configured = c.After
		if c.HeadMS == 0 {
			return nil, fmt.Errorf("the profile of this node has the cut after %s unprofiled: write it with `vigil model cuts MODEL --profile --max-tensors %d --json`", c.After, len(cut))
		}
		if rc, err := findCut(o.Server, cut); err != nil || rc.TailMS == 0 {
			return nil, fmt.Errorf("the server's profile has no timing of the tail after %s: write it with `vigil model cuts MODEL --profile --max-tensors %d --json` on the server", c.After, len(cut))
		}
	}
	w.status = PlanStatus{Goal: o.Goal, Configured: w.configured, Unit: unit(o.Goal), Waiting: "the first check"}
	return w, nil
}

// findCut is the profiled cut that the tensors of cut cross, in any order.
func findCut(r *model.CutReport, cut []TensorSpec) (model.Cut, error) {
	want := make([]string, len(cut))
	for i, t := range cut {
		want[i] = t.Name
	}
	slices.Sort(want)
	for _, c := range r.Cuts {
		names := c.Names()
		slices.Sort(names)
		if slices.Equal(names, want) {
			return c, nil
		}
	}
	return model.Cut{}, fmt.Errorf("the profile has no cut at %s: profile the whole model the head was split from, with `vigil model cuts MODEL --profile --max-tensors %d --json`",
		strings.Join(want, ", "), len(cut))
}

// Run checks every Every until ctx ends.
func (w *Watch) Run(ctx context.Context) {
	t := time.NewTicker(w.o.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.Check()
		}
	}
}

// Planning says whether the Watch checks a plan (it has a goal), or only
// probes the link.
func (w *Watch) Planning() bool { return w.o.Goal != "" }

// Status is the last check; the zero PlanStatus without a goal.
func (w *Watch) Status() PlanStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// Check measures what it can (a frame's send costs, the link's round
// trip by probes while requests flow), plans, and reports a change.
// Without a goal it only probes.
func (w *Watch) Check() PlanStatus {
	r := w.o.Remote
	if m := w.sample(); m != nil {
		c, err := MeasureSendCosts([]gocv.Mat{*m}, w.quality, w.transport)
		m.Close()
		if err != nil {
			w.o.Logger.Debug().Err(err).Msg("plan check: send costs not measured")
		} else {
			w.mu.Lock()
			w.costs = append(w.costs[max(0, len(w.costs)-maxCosts+1):], c)
			w.mu.Unlock()
		}
	}
	if r.Link().Requests > 0 { // no traffic, nothing to plan for: no probes either
		for range w.o.Probes {
			if err := r.Probe(); err != nil {
				w.o.Logger.Debug().Err(err).Msg("plan check: probe")
				break
			}
		}
	}
	if !w.Planning() {
		return PlanStatus{}
	}
	w.mu.Lock()
	costs, ok := medianCosts(w.costs)
	w.mu.Unlock()
	return w.report(w.judge(r.Link(), costs, ok, time.Now()))
}

// sample is the frame the Remote kept for this check; nil without a goal
// (none is asked for).
func (w *Watch) sample() *gocv.Mat {
	if !w.Planning() {
		return nil
	}
	return w.o.Remote.takeSample()
}

// judge plans over link with the costs of sending a frame (ok: measured)
// and says whether the configured way is still the choice.
func (w *Watch) judge(link LinkEstimate, costs SendCosts, ok bool, now time.Time) PlanStatus {
	st := PlanStatus{Goal: w.o.Goal, Configured: w.configured, Unit: unit(w.o.Goal), Checked: now}
	switch {
	case !ok:
		st.Waiting = "a frame to measure the costs of sending on"
		return st
	case !link.Known():
		st.Waiting = "answered requests and probes to measure the link"
		return st
	}
	st.RTTMS, st.MbitPerSecond = float64(link.RTT.Microseconds())/1000, link.BitsPerSecond/1e6
	cands, err := model.Plan(model.PlanInput{
		Local: w.o.Local, Remote: w.o.Server, ValueBytes: w.valueBytes,
		Link:        model.Link{BitsPerSecond: link.BitsPerSecond, RTT: link.RTT},
		LetterboxMS: costs.LetterboxMS, JPEGEncodeMS: costs.JPEGEncodeMS, JPEGDecodeMS: costs.JPEGDecodeMS,
		JPEGBytes: costs.JPEGBytes, QuantizeNSPerValue: costs.QuantizeNSPerValue,
	})
	if err != nil {
		st.Waiting = err.Error()
		return st
	}
	pick, err := model.Pick(cands, w.o.Goal)
	if err != nil {
		st.Waiting = err.Error()
		return st
	}
	i := slices.IndexFunc(cands, func(c model.Candidate) bool { return c.Name == w.configured })
	if i < 0 { // NewWatch checked that both profiles have it
		st.Waiting = "the configured way among the planner's candidates"
		return st
	}
	cur := cands[i]
	st.Choice = pick.Name
	st.ConfiguredValue, st.ChoiceValue = measure(w.o.Goal, cur), measure(w.o.Goal, pick)
	st.Mismatch = pick.Name != cur.Name && st.ConfiguredValue > st.ChoiceValue*(1+w.o.Margin)
	if st.Mismatch {
		st.Fix = w.fix(pick.Name)
	}
	return st
}

// report keeps st and logs a change: a warning when the configured way
// stops being the choice or the choice changes, a note when it is the
// choice again. A check that could not plan keeps the last verdict.
func (w *Watch) report(st PlanStatus) PlanStatus {
	w.mu.Lock()
	prev := w.status
	if st.Waiting != "" {
		st.Choice, st.Mismatch, st.ConfiguredValue, st.ChoiceValue, st.Fix = prev.Choice, prev.Mismatch, prev.ConfiguredValue, prev.ChoiceValue, prev.Fix
	}
	w.status = st
	w.mu.Unlock()
	if st.Waiting != "" {
		return st
	}
	l := w.o.Logger
	switch {
	case st.Mismatch && (!prev.Mismatch || prev.Choice != st.Choice):
		l.Warn().Str("goal", st.Goal).Str("configured", st.Configured).Str("choice", st.Choice).
			Float64("configured_"+st.Unit, round(st.ConfiguredValue)).Float64("choice_"+st.Unit, round(st.ChoiceValue)).
			Float64("link_mbit_per_s", round(st.MbitPerSecond)).Float64("rtt_ms", round(st.RTTMS)).Str("fix", st.Fix).
			Msgf("remote detector: over the measured link the planner now picks %s for %s, not the configured %s", st.Choice, st.Goal, st.Configured)
	case !st.Mismatch && prev.Mismatch:
		l.Info().Str("goal", st.Goal).Str("configured", st.Configured).Str("choice", st.Choice).
			Float64("link_mbit_per_s", round(st.MbitPerSecond)).Float64("rtt_ms", round(st.RTTMS)).
			Msgf("remote detector: the configured %s is the planner's choice for %s again", st.Configured, st.Goal)
	}
	return st
}

// fix says how to configure the planner's choice.
func (w *Watch) fix(choice string) string {
	switch choice {
	case "local":
		return "run the model on this node: model.path the whole model, model.remote.subject empty"
	case "jpeg":
		return "send whole frames: model.path the whole model, served there with `vigil serve infer --model MODEL`"
	}
	var names []string
	for _, c := range w.o.Local.Cuts {
		if c.After == choice {
			names = c.Names()
		}
	}
	return fmt.Sprintf("split after %s: `vigil model split MODEL --at %s -o DIR`, model.path DIR/head.onnx here, `vigil serve infer --model DIR/tail.onnx` there",
		choice, strings.Join(names, ","))
}

func unit(goal string) string {
	if goal == "bytes" {
		return "bytes"
	}
	return goal + "_ms"
}

func measure(goal string, c model.Candidate) float64 {
	switch goal {
	case "camera_cpu":
		return c.CameraMS
	case "bytes":
		return float64(c.Bytes)
	}
	return c.LatencyMS
}

func round(v float64) float64 { return math.Round(v*100) / 100 }

// medianCosts is each cost's median over the frames measured.
func medianCosts(cs []SendCosts) (SendCosts, bool) {
	if len(cs) == 0 {
		return SendCosts{}, false
	}
	of := func(f func(SendCosts) float64) float64 {
		v := make([]float64, len(cs))
		for i, c := range cs {
			v[i] = f(c)
		}
		return median(v)
	}
	return SendCosts{
		LetterboxMS:        of(func(c SendCosts) float64 { return c.LetterboxMS }),
		JPEGEncodeMS:       of(func(c SendCosts) float64 { return c.JPEGEncodeMS }),
		JPEGDecodeMS:       of(func(c SendCosts) float64 { return c.JPEGDecodeMS }),
		JPEGBytes:          int(of(func(c SendCosts) float64 { return float64(c.JPEGBytes) })),
		QuantizeNSPerValue: of(func(c SendCosts) float64 { return c.QuantizeNSPerValue }),
	}, true
}
