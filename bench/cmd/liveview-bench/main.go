// Command liveview-bench measures what the browser live view costs and how
// late its pictures are, in one run:
//
//   - encode: the cost of converting and encoding one vtest.avi frame
//     (768×576) with each built-in codec (VP8; H.264 when built with
//     -tags x264), on the first frames of the video;
//   - CPU: the process CPU (all threads, user + system) the live view
//     costs with 1 and 4 browser viewers (headless chromium tabs, separate
//     processes, so their decoding is not counted), as the difference to
//     phases with no viewer before and after. The video is captured at its
//     10 fps and each frame is handed to the live view as the pipeline does,
//     with tracks the real detector and tracker made beforehand, so the
//     detector's CPU (which swings with the machine's load by more than the
//     live view costs) is not in the process;
//   - the real pipeline with the live view, as `vigil run` wires it: the
//     process's CPU, the detector's pace and its inference time with 0, 1
//     and 4 viewers;
//   - latency: capture to browser screen, per frame, read back in chromium
//     from the capture time the live view draws into every frame (the page
//     decodes it from a canvas at each requestVideoFrameCallback and takes
//     the frame's expected display time), p50 and p99 over at least
//     -latency-frames frames of the 1-viewer phase.
//
// Each number is a "name: value" line on stdout, also written with the
// command and the machine to a dated file in the results folder and to
// liveview-latest.txt. Progress goes to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/liveview"
	"gocv.io/x/gocv"
)

type config struct {
	Video         string
	Threads       int
	Bitrate       int
	EncodeFrames  int
	Phase         time.Duration
	Warmup        time.Duration
	LatencyFrames int
	Chromium      string
	Results       string
}

func parseFlags() config {
	var c config
	flag.StringVar(&c.Video, "video", assets.Media("vtest.avi"), "video file, paced at its frame rate and looped like a camera")
	flag.IntVar(&c.Threads, "threads", 2, "onnxruntime intra-op threads")
	flag.IntVar(&c.Bitrate, "bitrate", 1_500_000, "encoder target, bits per second")
	flag.IntVar(&c.EncodeFrames, "encode-frames", 100, "timed frames per codec in the encode measurement")
	flag.DurationVar(&c.Phase, "phase", 15*time.Second, "length of each CPU measurement")
	flag.DurationVar(&c.Warmup, "warmup", 5*time.Second, "settling time before each phase")
	flag.IntVar(&c.LatencyFrames, "latency-frames", 300, "frames read back in the browser for the latency percentiles (at least)")
	flag.StringVar(&c.Chromium, "chromium", "/usr/bin/chromium", "the browser")
	flag.StringVar(&c.Results, "results", "bench/results", "folder for the dated results file and liveview-latest.txt; empty: write none")
	flag.Parse()
	return c
}

func main() {
	cfg := parseFlags()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "liveview-bench:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "liveview-bench: "+format+"\n", args...)
}

func run(cfg config) error {
	var missing []string
	for _, p := range []string{assets.Library(), assets.Model(), cfg.Video, cfg.Chromium} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run `make deps`", strings.Join(missing, ", "))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep := results.New()
	if err := measureEncode(cfg, rep); err != nil {
		return err
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	if err := detect.InitRuntime(assets.Library()); err != nil {
		return err
	}
	b, err := startBrowser(cfg.Chromium)
	if err != nil {
		return err
	}
	defer b.close()
	if err := measureCost(ctx, cfg, b, rep, log); err != nil {
		return err
	}
	if err := measurePipeline(ctx, cfg, b, rep, log); err != nil {
		return err
	}
	if cfg.Results == "" {
		return nil
	}
	at := time.Now()
	path, err := rep.Write(cfg.Results, "liveview-", at, header(rep, cfg, at))
	if err != nil {
		return err
	}
	progress("results written to %s", path)
	return nil
}

// measureEncode times conversion + encoding of the video's first frames
// with each codec, as a camera's encoder runs it (no forced keyframes after
// the first).
func measureEncode(cfg config, rep *results.Report) error {
	vc, err := gocv.VideoCaptureFile(cfg.Video)
	if err != nil {
		return fmt.Errorf("open %s: %w", cfg.Video, err)
	}
	var frames []gocv.Mat
	defer func() {
		for i := range frames {
			frames[i].Close()
		}
	}()
	for len(frames) < cfg.EncodeFrames {
		m := gocv.NewMat()
		if !vc.Read(&m) || m.Empty() {
			m.Close()
			break
		}
		frames = append(frames, m)
	}
	vc.Close()
	if len(frames) < 10 {
		return fmt.Errorf("%s: only %d frames", cfg.Video, len(frames))
	}
	fps := 10.0
	rep.Add("liveview_encode_size", "%dx%d", frames[0].Cols(), frames[0].Rows())
	for _, codec := range []string{"vp8", "h264"} {
		if !slices.Contains(liveview.Codecs(), codec) {
			rep.Add("liveview_encode_ms_"+codec, "%s", "skipped (build with -tags x264 and libx264-dev)")
			continue
		}
		progress("encode: %s, %d frames", codec, len(frames))
		enc, err := liveview.NewFrameEncoder(codec, cfg.Bitrate, fps)
		if err != nil {
			return err
		}
		var times []time.Duration
		var bytes int
		for i, f := range frames {
			t0 := time.Now()
			out, _, err := enc.Encode(f, false)
			d := time.Since(t0)
			if err != nil {
				enc.Close()
				return fmt.Errorf("%s frame %d: %w", codec, i, err)
			}
			if i >= 3 { // the first frames start the codec
				times = append(times, d)
				bytes += len(out)
			}
		}
		enc.Close()
		rep.Add("liveview_encode_ms_"+codec, "%.2f", ms(mean(times)))
		rep.Add("liveview_encode_p99_ms_"+codec, "%.2f", ms(percentile(times, 99)))
		rep.Add("liveview_encode_kbps_"+codec, "%.0f", float64(bytes)*8/float64(len(times))*fps/1000)
	}
	return nil
}

func mean(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	var s time.Duration
	for _, x := range d {
		s += x
	}
	return s / time.Duration(len(d))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank p-th percentile.
func percentile(d []time.Duration, p float64) time.Duration {
	f := make([]float64, len(d))
	for i, x := range d {
		f[i] = float64(x)
	}
	return time.Duration(percentileF(f, p))
}

func percentileF(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// header says how the numbers were made: the command, its flags, the
// codecs, the machine and the browser.
func header(rep *results.Report, cfg config, at time.Time) []string {
	return []string{
		"liveview-bench, " + at.Format(time.RFC3339),
		"command: " + results.CommandLine("go run ./bench/cmd/liveview-bench"),
		"flags: " + results.Flags(),
		"codecs built in: " + strings.Join(liveview.Codecs(), ", "),
		"nproc: " + results.NProc(),
		"cpu: " + results.CPUInfo("model name"),
		fmt.Sprintf("go: %s; onnxruntime %s; opencv %s", results.GoVersion(), detect.RuntimeVersion(), gocv.OpenCVVersion()),
		"browser: " + cfg.Chromium,
		rep.Load(),
	}
}
