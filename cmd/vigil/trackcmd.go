package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/mot"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/track"
)

// trackerFlag ties a flag to its field of the config's tracker section; the
// flag is the YAML name with dashes, so a tuned value pastes into the config.
type trackerFlag struct {
	name, yaml string
	apply      func(dst, src *config.Tracker)
}

var trackerFlags = []trackerFlag{
	{"high-threshold", "high_threshold", func(d, s *config.Tracker) { d.HighThreshold = s.HighThreshold }},
	{"low-threshold", "low_threshold", func(d, s *config.Tracker) { d.LowThreshold = s.LowThreshold }},
	{"new-track-threshold", "new_track_threshold", func(d, s *config.Tracker) { d.NewTrackThreshold = s.NewTrackThreshold }},
	{"match-threshold", "match_threshold", func(d, s *config.Tracker) { d.MatchThreshold = s.MatchThreshold }},
	{"second-match-threshold", "second_match_threshold", func(d, s *config.Tracker) { d.SecondMatchThreshold = s.SecondMatchThreshold }},
	{"unconfirmed-match-threshold", "unconfirmed_match_threshold", func(d, s *config.Tracker) {
		d.UnconfirmedMatchThreshold = s.UnconfirmedMatchThreshold
	}},
	{"buffer-frames", "buffer_frames", func(d, s *config.Tracker) { d.BufferFrames = s.BufferFrames }},
	{"min-hits", "min_hits", func(d, s *config.Tracker) { d.MinHits = s.MinHits }},
	{"class-aware", "class_aware", func(d, s *config.Tracker) { d.ClassAware = s.ClassAware }},
	{"report-spread", "report_spread", func(d, s *config.Tracker) { d.ReportSpread = s.ReportSpread }},
}

// addTrackerFlags registers one flag per tracker setting, defaulting to the
// config's defaults, bound to f.
func addTrackerFlags(fs *flag.FlagSet, f *config.Tracker) {
	d := config.Default().Tracker
	*f = d
	fs.Float64Var(&f.HighThreshold, "high-threshold", d.HighThreshold, "tracker.high_threshold: detections scoring this or more go to the first association")
	fs.Float64Var(&f.LowThreshold, "low-threshold", d.LowThreshold, "tracker.low_threshold: lower-scoring detections are dropped")
	fs.Float64Var(&f.NewTrackThreshold, "new-track-threshold", d.NewTrackThreshold, "tracker.new_track_threshold: minimum score that starts a track")
	fs.Float64Var(&f.MatchThreshold, "match-threshold", d.MatchThreshold, "tracker.match_threshold: minimum IoU × score, first association")
	fs.Float64Var(&f.SecondMatchThreshold, "second-match-threshold", d.SecondMatchThreshold, "tracker.second_match_threshold: minimum IoU, low-score association")
	fs.Float64Var(&f.UnconfirmedMatchThreshold, "unconfirmed-match-threshold", d.UnconfirmedMatchThreshold, "tracker.unconfirmed_match_threshold: minimum IoU for unconfirmed tracks")
	fs.IntVar(&f.BufferFrames, "buffer-frames", d.BufferFrames, "tracker.buffer_frames: frames (at 30 fps, see --fps) a lost track is kept")
	fs.IntVar(&f.MinHits, "min-hits", d.MinHits, "tracker.min_hits: consecutive matches that confirm a track")
	fs.BoolVar(&f.ClassAware, "class-aware", d.ClassAware, "tracker.class_aware: match only within a class")
	fs.Float64Var(&f.ReportSpread, "report-spread", d.ReportSpread, "tracker.report_spread: tracks scoring this many standard deviations below their class's are not reported; 0: all are")
}

// resolveTracker is the tracker section of the config file (or the
// defaults) with the flags that were set applied, validated by the config's
// own rules. Errors name the flag and the config field.
func resolveTracker(fs *flag.FlagSet, flags *config.Tracker, cfgPath string) (config.Tracker, error) {
	cfg := config.Default()
	if cfgPath != "" {
		var err error
		if cfg, err = config.Load(cfgPath); err != nil {
			return config.Tracker{}, err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, tf := range trackerFlags {
		if set[tf.name] {
			tf.apply(&cfg.Tracker, flags)
		}
	}
	check := config.Default()
	check.Tracker = cfg.Tracker
	if err := check.Validate(); err != nil {
		msg := err.Error()
		for _, tf := range trackerFlags {
			msg = strings.ReplaceAll(msg, "tracker."+tf.yaml+":", "--"+tf.name+" (tracker."+tf.yaml+"):")
		}
		return config.Tracker{}, fmt.Errorf("%w: invalid tracker settings:\n%s", errUsage, msg)
	}
	return cfg.Tracker, nil
}

func cmdTrack(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigil track", flag.ContinueOnError)
	fs.SetOutput(stderr)
	det := fs.String("det", "", "MOTChallenge detections `file` (frame,id,x,y,w,h,conf,…), or a MOTChallenge directory with <seq>/det/det.txt")
	out := fs.String("o", "", "results `file` (- for standard output); with a directory --det, a directory for <seq>.txt")
	fps := fs.Float64("fps", 0, "frame rate: frame f is tracked at time (f-1)/fps, and buffer_frames counts frames at 30 fps of time; 0 for 30 (directory mode: seqinfo.ini's frameRate where present)")
	cfgPath := fs.String("config", "", "take the tracker section from this config `file`; flags override it")
	var flags config.Tracker
	addTrackerFlags(fs, &flags)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: vigil track --det DET.txt -o OUT.txt [--fps N] [tracker flags]\n"+
			"       vigil track --det MOTDIR -o OUTDIR [tracker flags]\n\n"+
			"Runs vigil's tracker, as the pipeline runs it, on MOTChallenge detections and\n"+
			"writes frame,id,x,y,w,h,conf,-1,-1,-1 lines. Tracker flags are the config's\n"+
			"tracker section, dashes for underscores.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *det == "" || *out == "" {
		return fmt.Errorf("%w: --det and -o are required; e.g. vigil track --det MOT17-02/det/det.txt -o MOT17-02.txt", errUsage)
	}
	if !(*fps >= 0) {
		return fmt.Errorf("%w: --fps %v: use a frame rate above 0, or 0 for none", errUsage, *fps)
	}
	tc, err := resolveTracker(fs, &flags, *cfgPath)
	if err != nil {
		return err
	}
	info, err := os.Stat(*det)
	if err != nil {
		return fmt.Errorf("--det: %w", err)
	}
	if !info.IsDir() {
		return trackFile(*det, *out, *fps, tc, stdout, stderr)
	}

	seqs, err := motSequences(*det, filepath.Join("det", "det.txt"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	for _, seq := range seqs {
		rate, err := seqFrameRate(filepath.Join(*det, seq, "seqinfo.ini"), *fps)
		if err != nil {
			return err
		}
		err = trackFile(filepath.Join(*det, seq, "det", "det.txt"), filepath.Join(*out, seq+".txt"), rate, tc, stdout, stderr)
		if err != nil {
			return err
		}
	}
	return nil
}

// seqFrameRate is the frameRate of the seqinfo.ini at path, or def when
// the file is missing or gives none.
func seqFrameRate(path string, def float64) (float64, error) {
	if _, err := os.Stat(path); err != nil {
		return def, nil
	}
	si, err := mot.ReadSeqInfo(path)
	if err != nil {
		return 0, err
	}
	if si.FrameRate > 0 {
		return si.FrameRate, nil
	}
	return def, nil
}

// motSequences lists the sequences under root that have the file rel, such
// as det/det.txt, sorted by name.
func motSequences(root, rel string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var seqs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, e.Name(), rel)); err == nil {
			seqs = append(seqs, e.Name())
		}
	}
	sort.Strings(seqs)
	if len(seqs) == 0 {
		return nil, fmt.Errorf("%s: no sequences: want the MOTChallenge layout <seq>/%s", root, rel)
	}
	return seqs, nil
}

// trackFile tracks one detections file and writes the results to out.
func trackFile(detPath, out string, fps float64, tc config.Tracker, stdout, stderr io.Writer) error {
	rows, err := mot.ReadFile(detPath, mot.Detections)
	if err != nil {
		return err
	}
	results := trackRows(rows, fps, tc)
	if err := writeResults(out, results, stdout); err != nil {
		return err
	}
	ids := map[int]bool{}
	for _, r := range results {
		ids[r.ID] = true
	}
	fmt.Fprintf(stderr, "%s: %d detections, %d tracks, %d boxes (buffer %s) → %s\n",
		detPath, len(rows), len(ids), len(results), describeBuffer(tc.BufferFrames, fps), out)
	return nil
}

// describeBuffer says how long a lost track is kept with buffer_frames
// frames, and how many frames that is at fps (track.BaseFPS when 0).
func describeBuffer(frames int, fps float64) string {
	fps = streamFPS(fps)
	d := time.Duration(frames) * time.Second / track.BaseFPS
	return fmt.Sprintf("%v: %d frames at %g fps", d, track.BufferForFPS(frames, fps), fps)
}

// streamFPS is fps, or track.BaseFPS where fps is not a usable rate.
func streamFPS(fps float64) float64 {
	if !(fps > 0) || math.IsInf(fps, 0) {
		return track.BaseFPS
	}
	return fps
}

// writeResults writes rows to the file out, or to stdout for "-".
func writeResults(out string, rows []mot.Row, stdout io.Writer) error {
	if out == "-" {
		return mot.Write(stdout, rows)
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	if err := mot.Write(f, rows); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

// trackRows runs the pipeline's tracking step over every frame from 1 to the
// last one with a detection, frame f at time (f−1)/fps as the pipeline
// would see it (at track.BaseFPS when fps is 0, unknown). Detections
// become detect.Detections of class 0 with float32 corners, exactly what
// the detector stage hands the tracker. Each row is a track's Estimate, the
// filter's box, as SORT and ByteTrack write their results.
func trackRows(rows []mot.Row, fps float64, tc config.Tracker) []mot.Row {
	fps = streamFPS(fps)
	tracking := pipeline.NewTracking(tc.TrackConfig())
	var out []mot.Row
	var dets []detect.Detection
	for f, frame := range mot.ByFrame(rows) {
		if f == 0 {
			continue
		}
		dets = dets[:0]
		for _, r := range frame {
			dets = append(dets, detect.Detection{
				Class: 0, Score: float32(r.Conf),
				Box: detect.Box{
					X1: float32(r.Box.X), Y1: float32(r.Box.Y),
					X2: float32(r.Box.X + r.Box.W), Y2: float32(r.Box.Y + r.Box.H),
				},
			})
		}
		for _, t := range tracking.UpdateAt("mot", dets, frameTime(f, fps)) {
			out = append(out, mot.Row{
				Frame: f, ID: int(t.ID), Conf: t.Score,
				Box: mot.Box{X: t.Estimate.X1, Y: t.Estimate.Y1, W: t.Estimate.X2 - t.Estimate.X1, H: t.Estimate.Y2 - t.Estimate.Y1},
			})
		}
	}
	return out
}

// frameTime is when frame f (from 1) of a stream at fps was taken, counted
// from the Unix epoch.
func frameTime(f int, fps float64) time.Time {
	return time.Unix(0, 0).Add(time.Duration(float64(f-1) / fps * float64(time.Second)))
}
