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
//   - motion_ms_per_frame_p50/p99: motion detection alone on the scene's
//     frames.
//
// Not yet here (issue 16): N cameras in real time (motion_max_cameras),
// event recall against the reference, and regions at full resolution.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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
	seconds := flag.Int("seconds", 120, "length of the scene at 10 fps")
	active := flag.Float64("active", 0.15, "share of the scene that is the real video")
	seed := flag.Uint64("seed", 1, "the scene's seed")
	threads := flag.Int("threads", 2, "onnxruntime intra-op threads")
	out := flag.String("results", "bench/results", "folder for motion-<date>.txt; empty: write none")
	flag.Parse()
	if err := run(*seconds, *active, *seed, *threads, *out); err != nil {
		fmt.Fprintln(os.Stderr, "motion-bench:", err)
		os.Exit(1)
	}
}

func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "motion-bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// frame is what one processed frame published.
type frame struct {
	skipped bool
	persons int
}

func run(seconds int, activeShare float64, seed uint64, threads int, out string) error {
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
	ref, refTook, err := lossless(det, path, nil)
	if err != nil {
		return err
	}
	progress("gated: motion gating at its defaults")
	gated, gatedTook, err := lossless(det, path, &pipeline.Gate{})
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
	rep.Add("motion_detected_active", "%.3f (%d of %d active frames)", ratio(detActive, nActive), detActive, nActive)
	rep.Add("motion_count_agreement", "%.3f (frames whose person count equals the reference's)", float64(agree)/float64(n))
	rep.Add("motion_person_frames_recall", "%.3f (person-track frames: gated %d, reference %d)", ratio(gatedPersons, refPersons), gatedPersons, refPersons)
	rep.Add("motion_speedup", "%.2f (lossless wall time: reference %.1f s, gated %.1f s)", refTook.Seconds()/gatedTook.Seconds(), refTook.Seconds(), gatedTook.Seconds())
	rep.Add("motion_ms_per_frame_p50", "%.2f", results.Percentile(ms, 50))
	rep.Add("motion_ms_per_frame_p99", "%.2f", results.Percentile(ms, 99))
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
// and returns each frame's record and the wall time.
func lossless(det *detect.Detector, path string, gate *pipeline.Gate) ([]frame, time.Duration, error) {
	cam, err := capture.New(capture.Config{ID: "scene", URL: path}, zerolog.Nop())
	if err != nil {
		return nil, 0, err
	}
	var mu sync.Mutex
	var got []frame
	sink := pipeline.SinkFunc(func(r *pipeline.Result) {
		f := frame{skipped: r.Skipped}
		for _, t := range r.Tracks {
			if t.Class == 0 {
				f.persons++
			}
		}
		mu.Lock()
		got = append(got, f)
		mu.Unlock()
	})
	o := pipeline.Options{Cameras: []*capture.Camera{cam}, Detector: det, Labels: det.Labels(), Tracker: track.DefaultConfig(),
		Sinks: []pipeline.Sink{sink}, Registry: prometheus.NewRegistry(), Logger: zerolog.Nop()}
	if gate != nil {
		o.Gates = map[string]*pipeline.Gate{"scene": gate}
	}
	p, err := pipeline.New(o)
	if err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	if err := p.Run(context.Background()); err != nil {
		return nil, 0, err
	}
	return got, time.Since(t0), nil
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
