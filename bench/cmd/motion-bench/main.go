// Command motion-bench measures what motion gating saves the detector, and
// what it costs in what vigil reports, on a scene built from the sample
// video (internal/scenes): vtest.avi's own background (the per-pixel median
// of its frames) with sensor noise and a slow brightness drift, alternating
// with real stretches of vtest.avi, active about -active of the time.
//
// The scene, -seconds long at 10 fps, is read losslessly twice by vigil's
// pipeline (the default model, -threads intra-op threads): the reference
// with every frame detected, then with motion gating at its defaults. In
// one run:
//
//   - motion_detector_saving: the share of the scene's frames the detector
//     did not run on. Goal ≥ 0.8 (issue 16).
//   - motion_saving_idle, motion_detected_active: the same over the still
//     stretches, and the share of the active stretches' frames detected.
//   - motion_count_agreement: the share of frames whose person count (the
//     confirmed person tracks published) equals the reference's.
//   - motion_person_frames_recall: person-track frames of the gated run over
//     the reference's (held frames count with the tracks they publish).
//   - motion_speedup: the reference run's wall time over the gated run's.
//   - motion_lossless_events: the recall and precision of the gated run's
//     line crossings against the reference's (as below).
//   - motion_ms_per_frame_p50/p99: motion detection alone on the scene's
//     frames.
//
// Then, unless -cameras is empty, N cameras in real time: -rt-scenes
// scenes of -rt-seconds made the same way (seeds -seed on), camera i
// playing scene i mod -rt-scenes, each file paced at 10 fps, all N in one
// pipeline with one detector, for each N of -cameras with motion gating at
// its defaults (gated) and without (latest: today's latest-wins). Each
// camera has two counting lines across vtest.avi's walkway (sceneRules),
// run on every published frame, held ones too, as vigil does. A scene's
// reference events are those of a lossless run with every frame detected;
// a reported crossing matches one of its scene's reference crossings of the
// same line and direction within 1 s of media time (the frame's place in
// the file), each used once.
//
//   - motion_rt_scene_<i>: the reference events of each scene.
//   - motion_rt_<N>_<gated|latest>: detected frames per second over all
//     cameras; the detector's busy share (inference time over wall
//     time); capture→publish p50/p99 of the detected frames but the
//     periodic rechecks (which wait behind frames with motion by design,
//     up to a second, and carry nothing that moves), and the rechecks'
//     own p99; where the detected frames' time went (p99 waiting for the
//     detector, in it, after it); frames dropped; event recall (matched
//     over reference) and precision (matched over reported).
//   - motion_max_cameras: the largest N whose recall is ≥ 0.98 and p99
//     (detected frames but rechecks) ≤ 300 ms, gated, and latest-wins
//     beside it. Goal ≥ 8 (issue 16).
//   - motion_stride_<k>: what the tracker and rules alone make of every
//     k-th frame: the reference runs' detections replayed through vigil's
//     tracking (pipeline.Tracking, frame times as the files give them) on
//     frames k apart, each of the k phases, and the rules on those frames;
//     line-crossing recall and precision against the reference, with the
//     tracker told of the skipped frames as the pipeline tells it, and
//     without. It tells how much of a real-time run's misses come from
//     frames the detector did not see rather than from scheduling.
//   - motion_stride_<k>_near: the same on frames k apart and on the frame
//     after each one with a person near a counting line: what a camera
//     gets from a busy detector that serves it first while someone is near
//     a line (pipeline.Gate.Watch), and the share of frames looked at.
//
// Gated cameras watch the counting lines, as vigil's node makes them do;
// -near-first=false turns that off, for a run to compare with.
//
// Regions at full resolution are measured by regions-bench.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	_ "github.com/vigil-vision/vigil/internal/cmalloc/onearena" // the C allocator as vigil runs it
	"github.com/vigil-vision/vigil/internal/scenes"
	"github.com/vigil-vision/vigil/motion"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/track"
	"gocv.io/x/gocv"
)

func main() {
	var c config
	flag.IntVar(&c.seconds, "seconds", 120, "length of the scene at 10 fps")
	flag.Float64Var(&c.active, "active", 0.15, "share of the scene that is the real video")
	flag.Uint64Var(&c.seed, "seed", 1, "the scene's seed")
	flag.IntVar(&c.threads, "threads", 2, "onnxruntime intra-op threads")
	flag.StringVar(&c.out, "results", "bench/results", "folder for motion-<date>.txt; empty: write none")
	cameras := flag.String("cameras", "1,2,4,8,12,16", "camera counts of the real-time runs, comma separated; empty: none")
	flag.IntVar(&c.rtSeconds, "rt-seconds", 60, "length of each real-time scene at 10 fps")
	flag.BoolVar(&c.nearFirst, "near-first", true, "gated real-time cameras with a person near a counting line are served first (pipeline.Gate.Watch); false: round-robin alone")
	flag.IntVar(&c.rtScenes, "rt-scenes", 16, "distinct real-time scenes (seeds seed… on): camera i plays scene i mod this")
	flag.StringVar(&c.refCache, "ref-cache", "", "folder that keeps the real-time scenes' references (every frame detected) between runs, named by the scene's and the model's bytes; empty: compute them each run")
	flag.Parse()
	var err error
	c.cameras, err = counts(*cameras)
	switch {
	case err != nil:
	case len(c.cameras) > 0 && (c.rtSeconds < 1 || c.rtScenes < 1):
		err = fmt.Errorf("-rt-seconds %d, -rt-scenes %d: want 1 or more of each", c.rtSeconds, c.rtScenes)
	default:
		err = run(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "motion-bench:", err)
		os.Exit(1)
	}
}

// config is the command's flags.
type config struct {
	seconds   int
	active    float64
	seed      uint64
	threads   int
	out       string
	cameras   []int // camera counts of the real-time runs
	rtSeconds int
	nearFirst bool
	rtScenes  int
	refCache  string
}

// counts parses -cameras.
func counts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-cameras %q: want camera counts of 1 or more, comma separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "motion-bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// frame is what one processed frame published.
type frame struct {
	skipped bool
	gate    string // pipeline.Result.Gate
	persons int
	dets    []detect.Detection // what the detector found (none when skipped)
	w, h    int                // the frame's size
}

func run(c config) error {
	seconds, activeShare, seed, threads, out := c.seconds, c.active, c.seed, c.threads, c.out
	video := assets.Media("vtest.avi")
	if _, err := os.Stat(video); err != nil {
		return fmt.Errorf("%s: run `make deps`", video)
	}
	dir, err := os.MkdirTemp("", "motion-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	progress("scene: %d s at 10 fps, active %.0f%%, seed %d", seconds, 100*activeShare, seed)
	bg, err := scenes.Background(video, 15)
	if err != nil {
		return err
	}
	defer bg.Close()
	plan := scenes.IdleActive(seed, seconds*10, activeShare, 40, 795)
	active := make([]bool, 0, seconds*10)
	for _, s := range plan {
		for range s.Frames {
			active = append(active, s.Active)
		}
	}
	path := filepath.Join(dir, "scene.avi")
	if err := scenes.Write(path, 10, scenes.Still{BG: bg, Noise: 2, Drift: 0.02, Seed: seed}, video, plan); err != nil {
		return err
	}

	if err := detect.InitRuntime(assets.Library()); err != nil {
		return err
	}
	det, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: threads})
	if err != nil {
		return err
	}
	defer det.Close()

	progress("reference: every frame detected")
	ref, refEvents, refTook, err := lossless(det, path, nil)
	if err != nil {
		return err
	}
	progress("gated: motion gating at its defaults")
	gated, gatedEvents, gatedTook, err := lossless(det, path, &pipeline.Gate{})
	if err != nil {
		return err
	}
	if len(ref) != len(active) || len(gated) != len(active) {
		return fmt.Errorf("results: reference %d, gated %d, scene %d frames", len(ref), len(gated), len(active))
	}
	progress("motion detection alone")
	ms, err := motionCost(path)
	if err != nil {
		return err
	}

	rep := results.New()
	var held, heldIdle, idle, detActive, nActive, agree, refPersons, gatedPersons int
	idleWhy := map[string]int{}
	for i, g := range gated {
		if g.skipped {
			held++
		}
		if active[i] {
			nActive++
			if !g.skipped {
				detActive++
			}
		} else {
			idle++
			if g.skipped {
				heldIdle++
			} else {
				idleWhy[g.gate]++
			}
		}
		if g.persons == ref[i].persons {
			agree++
		}
		refPersons += ref[i].persons
		gatedPersons += g.persons
	}
	n := len(gated)
	rep.Add("motion_scene_frames", "%d (%d active, %d still; %d stretches)", n, nActive, idle, len(plan))
	rep.Add("motion_detector_saving", "%.3f (%d of %d frames not detected; goal ≥ 0.8)", float64(held)/float64(n), held, n)
	rep.Add("motion_saving_idle", "%.3f (%d of %d still frames)", ratio(heldIdle, idle), heldIdle, idle)
	rep.Add("motion_idle_detected_why", "settling %d, motion %d, tracks %d, recheck %d (still frames detected, by gate reason)",
		idleWhy[pipeline.GateSettling], idleWhy[pipeline.GateMotion], idleWhy[pipeline.GateTracks], idleWhy[pipeline.GateRecheck])
	rep.Add("motion_detected_active", "%.3f (%d of %d active frames)", ratio(detActive, nActive), detActive, nActive)
	rep.Add("motion_count_agreement", "%.3f (frames whose person count equals the reference's)", float64(agree)/float64(n))
	rep.Add("motion_person_frames_recall", "%.3f (person-track frames: gated %d, reference %d)", ratio(gatedPersons, refPersons), gatedPersons, refPersons)
	rep.Add("motion_speedup", "%.2f (lossless wall time: reference %.1f s, gated %.1f s)", refTook.Seconds()/gatedTook.Seconds(), refTook.Seconds(), gatedTook.Seconds())
	matched := match(refEvents, gatedEvents)
	rep.Add("motion_lossless_events", "recall %.3f (%d of %d), precision %.3f (%d of %d) (line crossings; gated against the reference, within %v)",
		share(matched, len(refEvents)), matched, len(refEvents), share(matched, len(gatedEvents)), matched, len(gatedEvents), matchWindow)
	rep.Add("motion_ms_per_frame_p50", "%.2f", results.Percentile(ms, 50))
	rep.Add("motion_ms_per_frame_p99", "%.2f", results.Percentile(ms, 99))
	if len(c.cameras) > 0 {
		if err := realtime(det, c, bg, video, dir, rep); err != nil {
			return err
		}
	}
	if out == "" {
		return nil
	}
	at := time.Now()
	p, err := rep.Write(out, "motion-", at, []string{
		"motion-bench, " + at.Format(time.RFC3339),
		"command: " + results.CommandLine("go run ./bench/cmd/motion-bench"),
		"flags: " + results.Flags(),
		"nproc: " + results.NProc(), "cpu: " + results.CPUInfo("model name"), "go: " + results.GoVersion(),
		"onnxruntime: " + detect.RuntimeVersion(), "opencv: " + gocv.OpenCVVersion(), rep.Load(),
	})
	if err != nil {
		return err
	}
	progress("results written to %s", p)
	return nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// lossless runs the scene file through the pipeline, read without drops,
// and returns each frame's record, the rules' events and the wall time.
func lossless(det *detect.Detector, path string, gate *pipeline.Gate) ([]frame, []event, time.Duration, error) {
	cam, err := capture.New(capture.Config{ID: "scene", URL: path}, zerolog.Nop())
	if err != nil {
		return nil, nil, 0, err
	}
	w, err := newWatcher("scene")
	if err != nil {
		return nil, nil, 0, err
	}
	var mu sync.Mutex
	var got []frame
	sink := pipeline.SinkFunc(func(r *pipeline.Result) {
		f := frame{skipped: r.Skipped, gate: r.Gate, dets: slices.Clone(r.Detections), w: r.Frame.Image.Cols(), h: r.Frame.Image.Rows()}
		for _, t := range r.Tracks {
			if t.Class == 0 {
				f.persons++
			}
		}
		mu.Lock()
		got = append(got, f)
		w.observe(r)
		mu.Unlock()
	})
	o := pipeline.Options{Cameras: []*capture.Camera{cam}, Detector: det, Labels: det.Labels(), Tracker: track.DefaultConfig(),
		Sinks: []pipeline.Sink{sink}, Registry: prometheus.NewRegistry(), Logger: zerolog.Nop()}
	if gate != nil {
		o.Gates = map[string]*pipeline.Gate{"scene": gate}
	}
	p, err := pipeline.New(o)
	if err != nil {
		return nil, nil, 0, err
	}
	t0 := time.Now()
	if err := p.Run(context.Background()); err != nil {
		return nil, nil, 0, err
	}
	return got, w.events, time.Since(t0), nil
}

// motionCost times motion detection alone on every frame of the scene, in
// milliseconds.
func motionCost(path string) ([]float64, error) {
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		return nil, err
	}
	defer vc.Close()
	img := gocv.NewMat()
	defer img.Close()
	d := motion.New(motion.Options{})
	defer d.Close()
	var ms []float64
	for vc.Read(&img) && !img.Empty() {
		t0 := time.Now()
		d.Detect(img)
		ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("cannot read %s", path)
	}
	return ms, nil
}
