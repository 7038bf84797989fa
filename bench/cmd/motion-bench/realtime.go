package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/scenes"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/rules"
	"github.com/vigil-vision/vigil/track"
	"gocv.io/x/gocv"
)

// The line motion_max_cameras draws (issue 16).
const (
	minRecall = 0.98
	maxP99    = 300 * time.Millisecond
)

// rtScene is a real-time scene file and the events vigil reports on it
// with every frame detected, read without drops.
type rtScene struct {
	path   string
	ref    []event
	frames []frame // the reference run's, every frame detected
}

// rtRun is what one real-time run of n cameras measured.
type rtRun struct {
	n     int
	gated bool
	wall  time.Duration
	// Frames of all cameras: read from the files, published to the sinks
	// (held ones included), detected, dropped.
	read, published, detected, dropped int
	busy                               time.Duration // the detector's inference time (Pipeline.DetectorBusy)
	slotWait                           time.Duration // Pipeline.SlotWait
	latency                            []float64     // capture → publish of the detected frames but checks, ms
	recheck                            []float64     // the same of the checks (rechecks, settling): they wait on purpose
	// Where the time of the frames in latency went, ms: waiting for the detector
	// (capture → taken), in it (letterbox, model, decoding), and after it
	// (waiting for tracking, tracking, the sinks).
	queue, model, after []float64
	// The same frames' capture → publish by why the gate sent them
	// (settling, motion, tracks).
	byReason                     map[string][]float64
	matched, reference, reported int // events
}

// reasons says, per gate reason, how many detected frames and their
// capture → publish p99.
func (r rtRun) reasons() string {
	wait := fmt.Sprintf("; the idle model waited for tracking to give a slot back %.2f of the run", r.slotWait.Seconds()/r.wall.Seconds())
	if !r.gated {
		return wait
	}
	var parts []string
	for _, why := range []string{pipeline.GateSettling, pipeline.GateMotion, pipeline.GateTracks} {
		if l := r.byReason[why]; len(l) > 0 {
			parts = append(parts, fmt.Sprintf("%s %d p99 %.0f ms", why, len(l), results.Percentile(l, 99)))
		}
	}
	return "; by gate reason: " + strings.Join(parts, ", ") + wait
}

func (r rtRun) mode() string {
	if r.gated {
		return "gated"
	}
	return "latest"
}

func (r rtRun) p99() float64 { return results.Percentile(r.latency, 99) }

// passes says whether vigil keeps up with n cameras: its events are the
// reference's and its results come in time.
func (r rtRun) passes() bool {
	return share(r.matched, r.reference) >= minRecall && len(r.latency) > 0 && r.p99() <= float64(maxP99.Milliseconds())
}

// realtime writes c.rtScenes scenes of c.rtSeconds, finds each one's
// reference events, then plays them to c.cameras cameras in real time,
// with motion gating and without, and adds a line per run and
// motion_max_cameras to rep.
func realtime(det *detect.Detector, c config, bg gocv.Mat, video, dir string, rep *results.Report) error {
	scs := make([]rtScene, c.rtScenes)
	for i := range scs {
		seed := c.seed + uint64(i)
		scs[i].path = filepath.Join(dir, fmt.Sprintf("rt-%d.avi", i))
		plan := scenes.IdleActive(seed, c.rtSeconds*sceneFPS, c.active, 40, 795)
		if err := scenes.Write(scs[i].path, sceneFPS, scenes.Still{BG: bg, Noise: 2, Drift: 0.02, Seed: seed}, video, plan); err != nil {
			return err
		}
		frames, ref, err := reference(det, c.refCache, scs[i].path)
		if err != nil {
			return err
		}
		progress("real-time scene %d (seed %d): reference ready", i, seed)
		scs[i].ref, scs[i].frames = ref, frames
		rep.Add(fmt.Sprintf("motion_rt_scene_%d", i), "%d reference events (seed %d, %d s, %d stretches)", len(ref), seed, c.rtSeconds, len(plan))
	}

	for _, k := range []int{2, 3, 5} {
		var m, ref, rep2 [2]int
		for i, counted := range []bool{true, false} {
			var err error
			if m[i], ref[i], rep2[i], _, err = strideEvents(scs, stride{k: k, counted: counted}); err != nil {
				return err
			}
		}
		rep.Add(fmt.Sprintf("motion_stride_%d", k), "recall %.3f (%d of %d), precision %.3f (%d of %d); without skipped frames counted: recall %.3f, precision %.3f (the reference's detections on frames %d apart, each phase, tracked and ruled alone)",
			share(m[0], ref[0]), m[0], ref[0], share(m[0], rep2[0]), m[0], rep2[0], share(m[1], ref[1]), share(m[1], rep2[1]), k)
		m1, ref1, rep1, looked, err := strideEvents(scs, stride{k: k, near: true, counted: true})
		if err != nil {
			return err
		}
		rep.Add(fmt.Sprintf("motion_stride_%d_near", k), "recall %.3f (%d of %d), precision %.3f (%d of %d), %.3f of the frames looked at (frames %d apart, and the frame after each one with a person near a counting line, as pipeline.Gate.Watch serves a busy detector's cameras)",
			share(m1, ref1), m1, ref1, share(m1, rep1), m1, rep1, looked, k)
	}

	best := map[bool]int{}
	failed := map[bool]int{} // the smallest n that failed
	for _, n := range c.cameras {
		for _, gated := range []bool{true, false} {
			r, err := realtimeRun(det, scs, n, gated, c.nearFirst, time.Duration(c.rtSeconds)*time.Second)
			if err != nil {
				return err
			}
			rep.Add(fmt.Sprintf("motion_rt_%d_%s", n, r.mode()),
				"%.1f detected frames/s (published %.1f/s, read %.1f/s of %d due), detector busy %.2f, capture→publish p99 %.0f ms (p50 %.0f; detected frames but checks; checks (rechecks, settling) p99 %.0f ms of %d), of those frames p99 waiting for the detector %.0f ms, in it %.0f ms, after it %.0f ms, dropped %d of %d, events recall %.3f (%d of %d) precision %.3f (%d of %d)%s",
				perSecond(r.detected, r.wall), perSecond(r.published, r.wall), perSecond(r.read, r.wall), n*sceneFPS,
				r.busy.Seconds()/r.wall.Seconds(), r.p99(), results.Percentile(r.latency, 50), results.Percentile(r.recheck, 99), len(r.recheck),
				results.Percentile(r.queue, 99), results.Percentile(r.model, 99), results.Percentile(r.after, 99), r.dropped, r.read,
				share(r.matched, r.reference), r.matched, r.reference, share(r.matched, r.reported), r.matched, r.reported, r.reasons())
			switch {
			case r.passes():
				best[gated] = max(best[gated], n)
			case failed[gated] == 0 || n < failed[gated]:
				failed[gated] = n
			}
		}
	}
	note := ""
	if f := failed[true]; f > 0 && f < best[true] {
		note = fmt.Sprintf("; gated failed at %d, below it", f)
	}
	rep.Add("motion_max_cameras", "%d gated (latest-wins %d; recall ≥ %.2f and p99 ≤ %d ms; goal ≥ 8%s)",
		best[true], best[false], minRecall, maxP99.Milliseconds(), note)
	return nil
}

func perSecond(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// reference is a scene's reference run, every frame detected, read from
// the cache folder when it holds one for this scene and model ("": none),
// and its events: the detections tracked and ruled (replay).
func reference(det *detect.Detector, cache, scene string) ([]frame, []event, error) {
	var key string
	if cache != "" {
		var err error
		if key, err = refKey(scene, assets.Model()); err != nil {
			return nil, nil, err
		}
		if frames, ok := loadRef(cache, key); ok {
			ev, _, err := replay(frames, every, 0)
			return frames, ev, err
		}
	}
	progress("%s: reference, every frame detected", filepath.Base(scene))
	frames, _, _, err := lossless(det, scene, nil)
	if err != nil {
		return nil, nil, err
	}
	if cache != "" {
		if err := saveRef(cache, key, frames); err != nil {
			return nil, nil, err
		}
	}
	ev, _, err := replay(frames, every, 0)
	return frames, ev, err
}

// realtimeRun plays the scenes to n cameras at once, camera i scene i mod
// len(scs), each file paced at its frame rate, in one pipeline with one
// detector: every camera with motion gating at its defaults (nearFirst:
// watching the scene's counting lines, as vigil's node does), or none
// (latest-wins: a camera's newest frame waits for the detector, older ones
// are dropped). It returns when the files have ended.
func realtimeRun(det *detect.Detector, scs []rtScene, n int, gated, nearFirst bool, length time.Duration) (rtRun, error) {
	r := rtRun{n: n, gated: gated, byReason: map[string][]float64{}}
	progress("real-time: %d cameras, %s", n, r.mode())
	cams := make([]*capture.Camera, n)
	watchers := make(map[string]*watcher, n)
	gates := map[string]*pipeline.Gate{}
	var watch *rules.Watch
	if nearFirst {
		watch = rules.NewWatch(sceneRules())
	}
	for i := range cams {
		id := fmt.Sprintf("cam-%02d", i+1)
		var err error
		if cams[i], err = capture.New(capture.Config{ID: id, URL: scs[i%len(scs)].path, Realtime: true}, zerolog.Nop()); err != nil {
			return r, err
		}
		if watchers[id], err = newWatcher(id); err != nil {
			return r, err
		}
		if gated {
			gates[id] = &pipeline.Gate{Watch: watch}
		}
	}
	// Sinks run on one goroutine, and Run returns after the last one.
	sink := pipeline.SinkFunc(func(res *pipeline.Result) {
		watchers[res.Frame.Camera].observe(res)
		r.published++
		if !res.Skipped {
			r.detected++
			tm := res.Timings
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			if res.Gate == pipeline.GateRecheck || res.Gate == pipeline.GateSettling {
				r.recheck = append(r.recheck, ms(tm.Total)) // they wait recheckWait on purpose
				r.byReason[res.Gate] = append(r.byReason[res.Gate], ms(tm.Total))
			} else {
				r.latency = append(r.latency, ms(tm.Total))
				r.byReason[res.Gate] = append(r.byReason[res.Gate], ms(tm.Total))
				inModel := tm.Preprocess + tm.Infer + tm.Postprocess
				r.queue = append(r.queue, ms(tm.Queue))
				r.model = append(r.model, ms(inModel))
				r.after = append(r.after, ms(tm.Total-tm.Queue-inModel))
			}
		}
	})
	p, err := pipeline.New(pipeline.Options{Cameras: cams, Detector: det, Labels: det.Labels(), Tracker: track.DefaultConfig(),
		Sinks: []pipeline.Sink{sink}, Registry: prometheus.NewRegistry(), Logger: zerolog.Nop(), Gates: gates})
	if err != nil {
		return r, err
	}
	// The files end by themselves; the timeout only stops a run that hangs.
	ctx, cancel := context.WithTimeout(context.Background(), 3*length+time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := p.Run(ctx); err != nil {
		return r, err
	}
	r.wall = time.Since(t0)
	if ctx.Err() != nil {
		return r, fmt.Errorf("real-time run of %d cameras (%s): not done after %v", n, r.mode(), r.wall.Round(time.Second))
	}
	r.busy = p.DetectorBusy()
	r.slotWait = p.SlotWait()
	for i, c := range cams {
		_, dropped := p.CameraCounts(c.ID())
		r.dropped += int(dropped)
		r.read += int(c.Status().Frames)
		ref, got := scs[i%len(scs)].ref, watchers[c.ID()].events
		m := match(ref, got)
		if gated && m < len(ref) {
			progress("%s (scene %d): %d of %d reference events reported; reference %v, reported %v",
				c.ID(), i%len(scs), m, len(ref), ref, got)
		}
		r.matched += m
		r.reference += len(ref)
		r.reported += len(got)
	}
	progress("real-time: %d cameras, %s: %.1f s", n, r.mode(), r.wall.Seconds())
	return r, nil
}

// stride is which frames of a scene a replay looks at: every k-th, and
// with near also the one after each frame with a person near a line of
// the scene's rules (rules.Watch.Near, as pipeline.Gate.Watch serves a
// busy detector's cameras). counted: the tracker is told of the frames
// skipped (Tracking.UpdateFrame), as the pipeline does; otherwise it
// takes the frames as consecutive.
type stride struct {
	k       int
	near    bool
	counted bool
}

// every is the stride of a lossless run: every frame.
var every = stride{k: 1, counted: true}

// strideEvents replays each scene's reference detections through vigil's
// tracking and rules on the frames of s, once per phase (0 … k-1), and
// matches the crossings with the reference's; looked is the share of the
// frames looked at.
func strideEvents(scs []rtScene, s stride) (matched, ref, reported int, looked float64, err error) {
	var n, all int
	for _, sc := range scs {
		for phase := range s.k {
			got, seen, err := replay(sc.frames, s, phase)
			if err != nil {
				return 0, 0, 0, 0, err
			}
			matched += match(sc.ref, got)
			ref += len(sc.ref)
			reported += len(got)
			n += seen
			all += len(sc.frames)
		}
	}
	return matched, ref, reported, share(n, all), nil
}

// replay runs a reference's detections through vigil's tracking
// (pipeline.Tracking, frame times as the file gives them) and the scene's
// rules on the frames of s from phase, and returns the rules' events and
// how many frames it looked at; at stride every they are the events of
// the reference run itself, which ran the same tracking and rules on the
// same detections (a lossless run's tracker sees every frame in order).
func replay(frames []frame, s stride, phase int) ([]event, int, error) {
	t0 := time.Unix(1_000_000_000, 0)
	tr := pipeline.NewTracking(track.DefaultConfig())
	w, err := newWatcher("scene")
	if err != nil {
		return nil, 0, err
	}
	watch := rules.NewWatch(sceneRules())
	seen := 0
	for i := phase; i < len(frames); {
		f := frames[i]
		at := t0.Add(time.Duration(i) * time.Second / sceneFPS)
		seq := uint64(i + 1)
		if !s.counted {
			seq = 0
		}
		w.update(uint64(i+1), at, f.w, f.h, tr.UpdateFrame("scene", f.dets, at, seq))
		seen++
		if s.near && pipeline.NearLine(watch, f.dets, f.w, f.h) {
			i++
		} else {
			i += s.k
		}
	}
	return w.events, seen, nil
}
