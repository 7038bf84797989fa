// Command regions-bench measures what regions at full resolution
// (detect.PlanRegions, Detector.DetectRegions) find of small people in a
// large frame, on a scene built from the sample video
// (internal/scenes.Large): vtest.avi's frames scaled by -scale into a
// -size canvas of the video's own background, so that its people are a few
// dozen pixels tall.
//
// The reference is the person detections (score ≥ -ref-score) on the
// original-size frames, mapped into the canvas. On the canvas, the default
// model (-threads intra-op threads) runs twice a frame: on the whole frame
// letterboxed, and on at most -max crops planned around motion blobs
// (package motion at its defaults) and the last frame's person detections
// (a tracker's boxes stand-in). A reference person is found when a person
// detection (the detector's default confidence) overlaps it with IoU ≥ 0.5,
// each detection matching at most one. In one run:
//
//   - regions_small_person_recall: persons found by the regions over the
//     reference's (the original size's recall, 1 by definition). Goal ≥ 0.9
//     (issue 16).
//   - regions_whole_frame_recall: the same for the whole frame letterboxed.
//   - regions_placed_recall: crops planned around the part of the canvas
//     the video lies in instead (a zone), what regions give when planning
//     misses nothing.
//   - crops per frame and milliseconds per frame for each.
package main

import (
	"flag"
	"fmt"
	"image"
	"os"
	"slices"
	"time"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/detect"
	_ "github.com/vigil-vision/vigil/internal/cmalloc/onearena" // the C allocator as vigil runs it
	"github.com/vigil-vision/vigil/internal/scenes"
	"github.com/vigil-vision/vigil/motion"
	"gocv.io/x/gocv"
)

func main() {
	frames := flag.Int("frames", 100, "frames of the scene")
	from := flag.Int("from", 0, "the video's first frame")
	scale := flag.Float64("scale", 0.55, "scale of the video's frames in the canvas")
	width := flag.Int("width", 1920, "canvas width")
	height := flag.Int("height", 1080, "canvas height")
	seed := flag.Uint64("seed", 1, "the scene's seed (where the video lies in the canvas)")
	limit := flag.Int("max", 4, "crops per frame at most")
	refScore := flag.Float64("ref-score", 0.5, "lowest score of a reference person")
	threads := flag.Int("threads", 2, "onnxruntime intra-op threads")
	out := flag.String("results", "bench/results", "folder for regions-<date>.txt; empty: write none")
	flag.Parse()
	if err := run(*frames, *from, *scale, image.Pt(*width, *height), *seed, *limit, float32(*refScore), *threads, *out); err != nil {
		fmt.Fprintln(os.Stderr, "regions-bench:", err)
		os.Exit(1)
	}
}

func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "regions-bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// way is one way of detecting on the canvas, and what it did.
type way struct {
	found, crops int
	took         time.Duration
}

func (w way) recall(ref int) float64 { return ratio(w.found, ref) }

func run(frames, from int, scale float64, size image.Point, seed uint64, limit int, refScore float32, threads int, out string) error {
	video := assets.Media("vtest.avi")
	if _, err := os.Stat(video); err != nil {
		return fmt.Errorf("%s: run `make deps`", video)
	}
	progress("scene: %d frames of %s from %d, scaled %.2f into %dx%d, seed %d", frames, video, from, scale, size.X, size.Y, seed)
	scene, err := scenes.NewLarge(video, size, scale, seed)
	if err != nil {
		return err
	}
	defer scene.Close()

	if err := detect.InitRuntime(assets.Library()); err != nil {
		return err
	}
	det, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: threads})
	if err != nil {
		return err
	}
	defer det.Close()
	side, _ := det.InputSize()
	md := motion.New(motion.Options{})
	defer md.Close()

	vc, err := gocv.VideoCaptureFile(video)
	if err != nil {
		return fmt.Errorf("open %s: %w", video, err)
	}
	defer vc.Close()
	vc.Set(gocv.VideoCapturePosFrames, float64(from))
	img, canvas := gocv.NewMat(), gocv.NewMat()
	defer img.Close()
	defer canvas.Close()

	var whole, regions, placed way
	var ref, fallback int
	var dets, last []detect.Detection
	var interest []image.Rectangle
	placedCrops := detect.PlanRegions(size, []image.Rectangle{scene.Placed()}, side, limit)
	for i := range frames {
		if !vc.Read(&img) || img.Empty() {
			return fmt.Errorf("%s: cannot read frame %d", video, from+i)
		}
		if err := scene.Render(img, &canvas); err != nil {
			return err
		}
		dets, _, err = det.Detect(img, dets[:0])
		if err != nil {
			return err
		}
		var truth []detect.Box
		for _, d := range dets {
			if d.Class == 0 && d.Score >= refScore {
				x1, y1 := scene.ToCanvas(d.Box.X1, d.Box.Y1)
				x2, y2 := scene.ToCanvas(d.Box.X2, d.Box.Y2)
				truth = append(truth, detect.Box{X1: x1, Y1: y1, X2: x2, Y2: y2})
			}
		}
		ref += len(truth)

		t0 := time.Now()
		dets, _, err = det.Detect(canvas, dets[:0])
		if err != nil {
			return err
		}
		whole.took += time.Since(t0)
		whole.found += matched(truth, dets)

		t0 = time.Now()
		interest = append(interest[:0], md.Detect(canvas).Boxes...)
		for _, d := range last {
			interest = append(interest, image.Rect(int(d.Box.X1), int(d.Box.Y1), int(d.Box.X2+1), int(d.Box.Y2+1)))
		}
		crops := detect.PlanRegions(size, interest, side, limit)
		if crops == nil {
			fallback++ // nothing to look at: the whole frame
		}
		dets, _, err = det.DetectRegions(canvas, crops, dets[:0])
		if err != nil {
			return err
		}
		regions.took += time.Since(t0)
		regions.crops += max(len(crops), 1)
		regions.found += matched(truth, dets)
		last = slices.DeleteFunc(append(last[:0], dets...), func(d detect.Detection) bool { return d.Class != 0 })

		t0 = time.Now()
		dets, _, err = det.DetectRegions(canvas, placedCrops, dets[:0])
		if err != nil {
			return err
		}
		placed.took += time.Since(t0)
		placed.crops += len(placedCrops)
		placed.found += matched(truth, dets)
		if (i+1)%25 == 0 {
			progress("%d frames: reference %d persons, whole %d, regions %d, placed %d", i+1, ref, whole.found, regions.found, placed.found)
		}
	}

	rep := results.New()
	msPer := func(w way) float64 { return float64(w.took.Microseconds()) / 1000 / float64(frames) }
	rep.Add("regions_scene", "%d frames of vtest.avi from %d, scaled %.2f at %v in a %dx%d canvas; %d reference persons (score ≥ %.2f on the original frames)", frames, from, scale, scene.At, size.X, size.Y, ref, refScore)
	rep.Add("regions_small_person_recall", "%.3f (regions recall over the original-size recall; goal ≥ 0.9; %d of %d, IoU ≥ 0.5)", regions.recall(ref), regions.found, ref)
	rep.Add("regions_whole_frame_recall", "%.3f (the whole frame letterboxed; %d of %d)", whole.recall(ref), whole.found, ref)
	rep.Add("regions_placed_recall", "%.3f (crops around the video's part of the canvas: %v; %d of %d)", placed.recall(ref), placedCrops, placed.found, ref)
	rep.Add("regions_crops_per_frame", "%.2f (at most %d; %d frames without motion or persons ran the whole frame)", float64(regions.crops)/float64(frames), limit, fallback)
	rep.Add("regions_ms_per_frame", "%.1f (motion, planning and the crops)", msPer(regions))
	rep.Add("regions_whole_frame_ms_per_frame", "%.1f (1 crop: the frame)", msPer(whole))
	rep.Add("regions_placed_ms_per_frame", "%.1f (crops: %d)", msPer(placed), len(placedCrops))
	if out == "" {
		return nil
	}
	at := time.Now()
	p, err := rep.Write(out, "regions-", at, []string{
		"regions-bench, " + at.Format(time.RFC3339),
		"command: " + results.CommandLine("go run ./bench/cmd/regions-bench"),
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

// matched counts the truth boxes a person detection overlaps with IoU ≥
// 0.5, each detection matching at most one, the best overlaps first.
func matched(truth []detect.Box, dets []detect.Detection) int {
	type pair struct {
		t, d int
		iou  float32
	}
	var pairs []pair
	for t, b := range truth {
		for d, x := range dets {
			if x.Class != 0 {
				continue
			}
			if iou := detect.IoU(b, x.Box); iou >= 0.5 {
				pairs = append(pairs, pair{t, d, iou})
			}
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if a.iou != b.iou {
			if a.iou > b.iou {
				return -1
			}
			return 1
		}
		return 0
	})
	usedT, usedD := map[int]bool{}, map[int]bool{}
	n := 0
	for _, p := range pairs {
		if !usedT[p.t] && !usedD[p.d] {
			usedT[p.t], usedD[p.d] = true, true
			n++
		}
	}
	return n
}
