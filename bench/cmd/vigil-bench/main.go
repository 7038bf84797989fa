// Command vigil-bench measures how close vigil's full pipeline comes to the
// bare model, and how late its results are at real-time pacing.
//
// In one run, with one model, one video (vtest.avi) and one intra-op thread
// count, it measures, in rounds that interleave them so that drift in the
// machine's speed falls on all alike:
//
//   - raw: onnxruntime alone, Run() on a preallocated, letterboxed frame;
//   - detect: vigil's detector alone on that frame (letterbox, infer,
//     decode, NMS), which splits the gap between raw and pipeline into the
//     detector's own work and the rest;
//   - pipeline: decode → letterbox → infer → NMS → track → publish to an
//     embedded NATS, on the file read losslessly as fast as it goes;
//
// then raw once more, so that every pipeline run has a raw run on each side;
// and last, latency: the same pipeline with the file paced like a camera,
// capture → publish per frame, and the share of frames dropped.
//
// Each number is printed as a "name: value" line on stdout and written, with
// the command line and the machine, to a dated file in the results folder
// and to latest.txt beside it. Progress and logs go to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	// The C allocator as vigil runs it: one arena.
	_ "github.com/vigil-vision/vigil/internal/cmalloc/onearena"
	"github.com/vigil-vision/vigil/internal/cvthreads"
	"gocv.io/x/gocv"
)

// config is what the flags set.
type config struct {
	Rounds     int
	Frames     int
	Threads    int
	Warmup     int
	Latency    time.Duration
	FPS        float64
	Video      string
	Results    string
	CPUProfile string

	Spinning string // onnxruntime intra-op spinning for raw, detect and pipeline
	Peers    bool   // the OpenCV peers (gocv + cv::dnn, Python cv2.dnn)
	Python   string // the Python that runs bench/peers/cv2dnn.py
	Profile  bool   // a profiled pipeline run; top entries saved beside the results
	ORTSweep bool   // raw (and pipeline) with onnxruntime option variants

	Long          bool          // the long runs: latency at 10 and 30 fps, cameras, memory
	LongLatency   time.Duration // each long latency run
	Cameras       []int         // camera counts of the multi-camera runs
	CameraRun     time.Duration // each multi-camera run
	MemoryRun     time.Duration // the memory run
	WorkerNice    int           // pipeline.Options.WorkerNice
	OpenCVThreads int           // OpenCV's threads around vigil's runs
	NiceSweep     bool          // only the worker-priority sweep
}

func parseFlags() config {
	var c config
	flag.IntVar(&c.Rounds, "rounds", 8, "raw, detect and pipeline runs, interleaved; raw runs once more at the end")
	flag.IntVar(&c.Frames, "frames", 40, "timed calls in each raw and detect run; frames, warm-up included, in each pipeline run")
	flag.IntVar(&c.Threads, "threads", 2, "onnxruntime intra-op threads, for raw and pipeline alike")
	flag.IntVar(&c.Warmup, "warmup", 3, "untimed runs (raw) and results (pipeline) before timing starts")
	flag.DurationVar(&c.Latency, "latency-duration", 30*time.Second, "how long the real-time latency run lasts")
	flag.Float64Var(&c.FPS, "fps", 10, "frame rate of the real-time latency run")
	flag.StringVar(&c.Video, "video", assets.Media("vtest.avi"), "video file to run on")
	flag.StringVar(&c.Results, "results", "bench/results", "folder for the dated results file and latest.txt; empty: write none")
	flag.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.StringVar(&c.Spinning, "spinning", "", "onnxruntime intra-op spinning (on|off) for raw, detect and pipeline; empty: detect's default ("+detect.DefaultIntraOpSpinning+")")
	flag.BoolVar(&c.Peers, "peers", true, "measure the OpenCV peers: gocv with cv::dnn, and Python cv2.dnn")
	flag.StringVar(&c.Python, "python", "/usr/bin/python3", "Debian's Python, with python3-opencv, for the cv2.dnn peer")
	flag.BoolVar(&c.Profile, "profile", true, "profile one more pipeline run (Go pprof, and perf when installed); top entries go beside the results")
	flag.BoolVar(&c.ORTSweep, "ort-sweep", false, "also time raw inference (and the pipeline) with onnxruntime option variants")
	flag.BoolVar(&c.Long, "long", false, "also run the long measurements: latency at 10 and 30 fps, 1-8 cameras, memory")
	flag.DurationVar(&c.LongLatency, "long-latency", 2*time.Minute, "with -long: length of each real-time latency run (10 and 30 fps)")
	cams := flag.String("cameras", "1,2,4,8", "with -long: camera counts of the multi-camera runs")
	flag.DurationVar(&c.CameraRun, "camera-duration", time.Minute, "with -long: length of each multi-camera run")
	flag.DurationVar(&c.MemoryRun, "memory-duration", 10*time.Minute, "with -long: length of the memory run")
	flag.IntVar(&c.WorkerNice, "worker-nice", 0, "nice value of the pipeline's decode and letterbox threads (pipeline.Options.WorkerNice)")
	flag.IntVar(&c.OpenCVThreads, "opencv-threads", 0, "OpenCV's threads (letterbox resize) during vigil's runs, as pipeline.opencv_threads; the peers get -threads")
	flag.BoolVar(&c.NiceSweep, "nice-sweep", false, "measure only raw and the pipeline at worker nice 0, 5, 10, 19 (and 10 with the post stage), interleaved")
	flag.Parse()
	for _, f := range strings.Split(*cams, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "vigil-bench: -cameras %q: want counts like 1,2,4,8\n", *cams)
			os.Exit(2)
		}
		c.Cameras = append(c.Cameras, n)
	}
	return c
}

func (c config) validate() error {
	switch {
	case c.Rounds < 1:
		return fmt.Errorf("-rounds %d: must be at least 1", c.Rounds)
	case c.Frames <= c.Warmup+1:
		return fmt.Errorf("-frames %d: must be more than -warmup (%d) + 1", c.Frames, c.Warmup)
	case c.Threads < 1:
		return fmt.Errorf("-threads %d: must be at least 1", c.Threads)
	case c.Warmup < 0:
		return fmt.Errorf("-warmup %d: must be at least 0", c.Warmup)
	case c.Latency <= 0:
		return fmt.Errorf("-latency-duration %s: must be positive", c.Latency)
	case c.FPS <= 0:
		return fmt.Errorf("-fps %v: must be positive", c.FPS)
	}
	return nil
}

func main() {
	cfg := parseFlags()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "vigil-bench:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := checkDeps(cfg.Video); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile %s: %w", cfg.CPUProfile, err)
		}
		defer pprof.StopCPUProfile()
	}

	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	if err := detect.InitRuntime(assets.Library()); err != nil {
		return err
	}
	rep := newReport()
	if err := measure(ctx, cfg, rep, log); err != nil {
		return err
	}
	if cfg.Results == "" {
		return nil
	}
	at := time.Now()
	path, err := rep.Write(cfg.Results, "", at, rep.header(at))
	if err != nil {
		return err
	}
	progress("results written to %s", path)
	return nil
}

// checkDeps names everything `make deps` should have fetched and is missing.
func checkDeps(video string) error {
	var missing []string
	for _, p := range []string{assets.Library(), assets.Model(), video} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run `make deps` (or set VIGIL_DEPS_DIR to where it put them)", strings.Join(missing, ", "))
	}
	return nil
}

// measure runs the interleaved rounds, the closing raw run and the latency
// run, adding the numbers to rep.
func measure(ctx context.Context, cfg config, rep *report, log zerolog.Logger) error {
	b, err := openBench(cfg, log)
	if err != nil {
		return err
	}
	defer b.Close()
	if cfg.NiceSweep {
		return b.sweepNice(ctx, rep)
	}
	if cfg.Peers {
		progress("peers: rewriting the model for OpenCV 4.6 and checking its outputs against onnxruntime's")
		if err := b.openPeers(rep); err != nil {
			return err
		}
	}
	rr, err := b.rounds(ctx)
	if err != nil {
		return err
	}
	rep.addRounds(rr)
	progress("latency: %s at %g fps, real-time", cfg.Latency, cfg.FPS)
	lat, err := b.latency(ctx, cfg.FPS, cfg.Latency, 1)
	if err != nil {
		return err
	}
	rep.addLatency(lat)
	if cfg.Profile {
		if err := b.profile(ctx, rep); err != nil {
			return err
		}
	}
	if cfg.ORTSweep {
		if err := b.sweep(ctx, rep); err != nil {
			return err
		}
	}
	if cfg.Long {
		if err := b.long(ctx, rep, rr); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return nil
}

// bench holds what every measurement shares: one detector (the pipeline's),
// one raw session, one frame and one NATS.
type bench struct {
	cfg   config
	log   zerolog.Logger
	det   *detect.Detector
	frame gocv.Mat
	raw   *rawBench
	nats  *bus
	peers *peers // with -peers
}

func openBench(cfg config, log zerolog.Logger) (*bench, error) {
	b := &bench{cfg: cfg, log: log}
	cvthreads.Set(cfg.OpenCVThreads)
	var err error
	if b.det, err = detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: cfg.Threads, IntraOpSpinning: cfg.Spinning, Logger: log}); err != nil {
		return nil, err
	}
	if b.frame, err = firstFrame(cfg.Video); err != nil {
		b.Close()
		return nil, err
	}
	if b.raw, err = newRawBench(cfg, sessionConfig{Threads: cfg.Threads, Spinning: cfg.Spinning}, b.det, b.frame); err != nil {
		b.Close()
		return nil, err
	}
	if b.nats, err = startBus(log); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Close frees what openBench made.
func (b *bench) Close() {
	if b.peers != nil {
		b.peers.Close()
	}
	if b.nats != nil {
		b.nats.Close()
	}
	if b.raw != nil {
		b.raw.Close()
	}
	if b.frame.Ptr() != nil {
		b.frame.Close()
	}
	b.det.Close()
}

// rounds are the throughput runs, in the order they ran.
type rounds struct {
	raw, detect      []timedRun
	pipeline, serial []throughputRun
	gocv             []timedRun  // with -peers
	python           []pythonRun // with -peers
}

// rounds runs raw, detect, the pipeline (overlapped, then serial) and the
// peers in turn, -rounds times, then raw once more.
func (b *bench) rounds(ctx context.Context) (rounds, error) {
	var rr rounds
	for i := range b.cfg.Rounds {
		progress("round %d/%d: raw, detect, pipeline, pipeline serial%s; %d warm-up + %d frames each, %d threads",
			i+1, b.cfg.Rounds, map[bool]string{true: ", gocv cv::dnn, Python cv2.dnn"}[b.peers != nil], b.cfg.Warmup, b.cfg.Frames, b.cfg.Threads)
		r, err := b.raw.Measure()
		if err != nil {
			return rr, err
		}
		d, err := measureDetect(b.det, b.frame, b.cfg.Warmup, b.cfg.Frames)
		if err != nil {
			return rr, err
		}
		p, err := b.throughput(ctx, false)
		if err != nil {
			return rr, err
		}
		ps, err := b.throughput(ctx, true)
		if err != nil {
			return rr, err
		}
		rr.raw, rr.detect, rr.pipeline, rr.serial = append(rr.raw, r), append(rr.detect, d), append(rr.pipeline, p), append(rr.serial, ps)
		if b.peers == nil {
			continue
		}
		g, err := b.measureGocv()
		if err != nil {
			return rr, err
		}
		py, err := b.measurePython()
		if err != nil {
			return rr, err
		}
		rr.gocv, rr.python = append(rr.gocv, g), append(rr.python, py)
	}
	progress("raw (closing run)")
	r, err := b.raw.Measure()
	rr.raw = append(rr.raw, r)
	return rr, err
}

// progress tells the person waiting what runs now, on stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "vigil-bench: "+format+"\n", args...)
}
