// Command swap-bench measures what a model swap and a model in shadow cost
// a running vigil.
//
// One node (the real one: embedded NATS, the tracks publisher) runs a
// detector that follows the store model "det": version 1 the default
// YOLOv8n (FP32), version 2 its INT8 copy (quantized here, calibrated on
// one picture).
//
// Swaps: two cameras play vtest.avi paced at -fps, a rate the detector
// keeps up with, so that in steady state no frame is dropped. After a
// steady window, -cycles times, version 2 is promoted and then version 1
// rolled back to, each a swap between two frames, -hold apart.
//
//   - swap_dropped_frames: frames of the two cameras that never reached
//     NATS (gaps in their seq) from 5 s before to 5 s after each swap. Goal 0.
//   - swap_baseline_dropped_frames: the same over the steady window.
//   - swap_latency_p99_ratio: the capture→publish p99 in those 10 s windows
//     over the steady window's p99. Goal ≤ 1.5.
//   - swap_ms_{p50,p99}: from the promotion (or rollback) to the first
//     tracks message of the other version.
//
// Shadow: two cameras play vtest.avi at its full rate (10 fps each), more
// than the detector can take, so the processed rate is the detector's.
// Windows of -window with no candidate and with version 2 on trial in
// shadow at one frame in 10 (model.shadow defaults: 1 thread, nice 10)
// alternate, -rounds of each.
//
//   - shadow_throughput_ratio: processed frames per second with the shadow
//     over without. Goal ≥ 0.9.
//   - shadow_checked_per_s, shadow_busy_fraction: how many frames the
//     candidate checked, and the share of sampled frames it skipped
//     because it was still busy (it runs only on the CPU the live model
//     leaves).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/bench/internal/tracksub"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/model"
	"github.com/vigil-vision/vigil/modelstore"
	"github.com/vigil-vision/vigil/node"
)

type options struct {
	cycles  int
	hold    time.Duration
	fps     float64
	threads int
	window  time.Duration
	rounds  int
	out     string
}

func main() {
	var o options
	flag.IntVar(&o.cycles, "cycles", 10, "promote-then-rollback cycles: two swaps each")
	flag.DurationVar(&o.hold, "hold", 6*time.Second, "time between two swaps")
	flag.Float64Var(&o.fps, "fps", 2, "frame rate of each camera while swapping")
	flag.IntVar(&o.threads, "threads", 2, "the live model's onnxruntime intra-op threads")
	flag.DurationVar(&o.window, "window", 30*time.Second, "length of each window with and without the shadow")
	flag.IntVar(&o.rounds, "rounds", 3, "windows of each kind, alternating")
	flag.StringVar(&o.out, "results", "bench/results", "folder for swap-<date>.txt and swap-latest.txt; empty: write none")
	flag.Parse()
	t := &results.T{}
	err := run(t, o)
	t.RunCleanups()
	if err != nil {
		fmt.Fprintln(os.Stderr, "swap-bench:", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "swap-bench: "+format+"\n", a...)
}

// bench is one running node with its store and what it published.
type bench struct {
	n     *node.Node
	nc    *nats.Conn
	store modelstore.Store
	rec   *tracksub.Recorder
}

// start runs a node on two vtest.avi cameras paced at fps (0: the file's
// rate) whose detector follows "det", pushed as v1 (FP32) and v2 (INT8).
func start(t *results.T, dir string, fps float64, threads int, shadow string, int8Path string) (*bench, error) {
	natsAddr := tracksub.FreeAddr()
	cams := ""
	for _, id := range []string{"cam-1", "cam-2"} {
		cams += fmt.Sprintf("  - {id: %s, url: %s, fps: %g}\n", id, assets.Media("vtest.avi"), fps)
	}
	cfgText := fmt.Sprintf("data_dir: %s\nnats: {listen: %q}\nhttp: {listen: off}\nmodel: {intra_op_threads: %d, shadow: %s}\ncameras:\n%s",
		dir, natsAddr, threads, shadow, cams)
	cfg, err := config.Parse([]byte(cfgText), "swap-bench")
	if err != nil {
		return nil, err
	}
	n, err := node.Start(cfg, node.Options{Logger: zerolog.New(os.Stderr).Level(zerolog.WarnLevel)})
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	rec, err := tracksub.Subscribe(nc, "vigil")
	if err != nil {
		return nil, err
	}
	b := &bench{n: n, nc: nc, rec: rec}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if b.store, err = modelstore.OpenNATS(ctx, js, modelstore.Options{TempDir: dir}); err != nil {
		return nil, err
	}
	for _, p := range []string{assets.Model(), int8Path} {
		if _, err := b.store.Push(ctx, "det", p); err != nil {
			return nil, err
		}
	}
	if err := b.store.SetCandidate(ctx, "det", 0); err != nil {
		return nil, err
	}
	if _, err := n.Change("swap-bench", func(cur *config.Config) (*config.Config, error) {
		next := *cur
		next.Model.Store = "det"
		return &next, nil
	}); err != nil {
		return nil, err
	}
	if err := waitFor("det@1's frames", func() bool { _, ok := b.rec.Since(time.Now().Add(-time.Second), "det@1"); return ok }); err != nil {
		return nil, err
	}
	return b, nil
}

func waitFor(what string, cond func() bool) error {
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

func quantized(dir string) (string, error) {
	m, err := model.Load(assets.Model())
	if err != nil {
		return "", err
	}
	q, _, err := model.Quantize(m, model.Options{Calibration: model.Frames{Paths: []string{assets.Media("messi5.jpg")}}, Threads: 2})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "yolov8n-int8.onnx")
	return path, model.Save(q, path)
}

func run(t *results.T, o options) error {
	dir, err := os.MkdirTemp("", "swap-bench")
	if err != nil {
		return err
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := detect.InitRuntime(assets.Library()); err != nil {
		return err
	}
	logf("quantizing the INT8 candidate")
	q, err := quantized(dir)
	if err != nil {
		return err
	}
	r := results.New()
	if err := swaps(t, r, o, filepath.Join(dir, "swaps"), q); err != nil {
		return err
	}
	if err := shadows(t, r, o, filepath.Join(dir, "shadow"), q); err != nil {
		return err
	}
	if o.out == "" {
		return nil
	}
	path, err := r.Write(o.out, "swap-", time.Now(), []string{
		"swap-bench: model swaps and a model in shadow on a running vigil (bench/cmd/swap-bench)",
		"command: " + results.CommandLine("go run ./bench/cmd/swap-bench"),
		"flags: " + results.Flags(),
		"cpu: " + results.CPUInfo("model name") + ", cores " + results.NProc(),
		"go: " + results.GoVersion(),
		r.Load(),
	})
	if err == nil {
		logf("wrote %s", path)
	}
	return err
}

func swaps(t *results.T, r *results.Report, o options, dir string, q string) error {
	sub := &results.T{}
	defer sub.RunCleanups()
	b, err := start(sub, dir, o.fps, o.threads, "{enabled: false}", q)
	if err != nil {
		return err
	}
	steady := 2 * time.Duration(o.cycles) * 10 * time.Second
	steady = min(steady, 2*time.Minute)
	logf("swaps: steady window of %s", steady)
	base := tracksub.Window{From: time.Now()}
	time.Sleep(steady)
	base.To = time.Now()

	ctx := context.Background()
	var around []tracksub.Window
	var swapMS []float64
	for i := range o.cycles {
		for _, to := range []int{2, 1} {
			logf("swaps: cycle %d/%d: to det@%d", i+1, o.cycles, to)
			t0 := time.Now()
			if to == 2 {
				err = b.store.Promote(ctx, "det", 2)
			} else {
				_, err = b.store.Rollback(ctx, "det")
			}
			if err != nil {
				return err
			}
			want := fmt.Sprintf("det@%d", to)
			var at time.Time
			if err := waitFor(want+"'s frames", func() bool {
				_, ok := b.rec.Since(t0, want)
				if ok {
					at = time.Now()
				}
				return ok
			}); err != nil {
				return err
			}
			swapMS = append(swapMS, float64(at.Sub(t0).Microseconds())/1000)
			around = append(around, tracksub.Window{From: t0.Add(-5 * time.Second), To: t0.Add(5 * time.Second)})
			time.Sleep(o.hold)
		}
	}
	var lost, baseLost int
	var lat, baseLat []float64
	ms := func(d []time.Duration) []float64 {
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x.Microseconds()) / 1000
		}
		return out
	}
	for _, cam := range []string{"cam-1", "cam-2"} {
		l, ls := b.rec.Gaps(cam, around)
		lost, lat = lost+l, append(lat, ms(ls)...)
		l, ls = b.rec.Gaps(cam, []tracksub.Window{base})
		baseLost, baseLat = baseLost+l, append(baseLat, ms(ls)...)
	}
	r.Add("swap_dropped_frames", "%d", lost)
	r.Add("swap_baseline_dropped_frames", "%d", baseLost)
	r.Add("swaps", "%d", len(swapMS))
	r.Add("swap_ms_p50", "%.1f", results.Percentile(swapMS, 50))
	r.Add("swap_ms_p99", "%.1f", results.Percentile(swapMS, 99))
	bp99, sp99 := results.Percentile(baseLat, 99), results.Percentile(lat, 99)
	r.Add("swap_steady_latency_p99_ms", "%.1f", bp99)
	r.Add("swap_window_latency_p99_ms", "%.1f", sp99)
	if bp99 > 0 {
		r.Add("swap_latency_p99_ratio", "%.3f", sp99/bp99)
	}
	return nil
}

func shadows(t *results.T, r *results.Report, o options, dir string, q string) error {
	sub := &results.T{}
	defer sub.RunCleanups()
	b, err := start(sub, dir, 0, o.threads, "{every: 10, report_every: 1s}", q)
	if err != nil {
		return err
	}
	ctx := context.Background()
	time.Sleep(5 * time.Second) // warm up
	var with, without []float64
	var checked, sampled, busy int64
	var shadowTime time.Duration
	for i := range 2 * o.rounds {
		on := i%2 == 1
		v := 0
		if on {
			v = 2
		}
		if err := b.store.SetCandidate(ctx, "det", v); err != nil {
			return err
		}
		if on {
			if err := waitFor("the shadow running", func() bool {
				for _, rep := range b.n.ShadowReports() {
					if rep.State == node.ShadowRunning {
						return true
					}
				}
				return false
			}); err != nil {
				return err
			}
		} else {
			if err := waitFor("the shadow stopped", func() bool { return len(b.n.ShadowReports()) == 0 }); err != nil {
				return err
			}
		}
		time.Sleep(2 * time.Second) // settle
		logf("shadow: window %d/%d, shadow %v", i+1, 2*o.rounds, on)
		var before []node.ShadowReport
		if on {
			before = b.n.ShadowReports()
		}
		t0 := time.Now()
		n0, _ := b.rec.Since(t0, "")
		time.Sleep(o.window)
		n1, _ := b.rec.Since(t0, "")
		fps := float64(n1-n0) / time.Since(t0).Seconds()
		if on {
			with = append(with, fps)
			after := b.n.ShadowReports()
			if len(before) == 1 && len(after) == 1 {
				checked += after[0].Counts.Checked - before[0].Counts.Checked
				sampled += after[0].Counts.Sampled - before[0].Counts.Sampled
				busy += after[0].Counts.Busy - before[0].Counts.Busy
				shadowTime += o.window
			}
		} else {
			without = append(without, fps)
		}
		logf("shadow: %.2f frames/s", fps)
	}
	mean := func(v []float64) float64 {
		var s float64
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	r.Add("shadow_fps_without", "%.2f", mean(without))
	r.Add("shadow_fps_with", "%.2f", mean(with))
	r.Add("shadow_throughput_ratio", "%.3f", mean(with)/mean(without))
	if shadowTime > 0 {
		r.Add("shadow_checked_per_s", "%.2f", float64(checked)/shadowTime.Seconds())
	}
	if sampled > 0 {
		r.Add("shadow_busy_fraction", "%.3f", float64(busy)/float64(sampled))
	}
	return nil
}
