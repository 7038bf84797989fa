// Command reload-bench measures what changing a running vigil costs the
// cameras that do not change, and how soon a camera added at run time
// publishes.
//
// One node (the real one: embedded NATS, the default model, the tracks
// publisher) runs two "steady" cameras: vtest.avi paced like cameras at a
// rate the detector keeps up with, so that none of their frames is dropped
// in steady state. Then, -cycles times, a camera is added through the same
// path as PUT /api/config/cameras/{id} (Node.Change), runs -hold, and is
// removed; the added camera is a paced file and an RTSP camera (a real
// RTSP server, ffmpeg publishing) in turn.
//
// Lines printed and kept (reload-<date>.txt, reload-latest.txt):
//
//   - reload_gap_frames: frames of the steady cameras that never reached
//     NATS (gaps in their seq) while a camera was added or removed: from the
//     change's start to 1 s after it returned. Goal 0.
//   - reload_baseline_gap_frames: the same gaps over a steady window as long
//     as all change windows together, before any change: what the load
//     alone costs.
//   - add_camera_to_first_publish_ms_{file,rtsp}_{p50,p99}: from the start
//     of the change to the added camera's first tracks message received.
//   - reload_apply_ms_{p50,p99}: how long the change itself took.
//   - reload_steady_latency_p50_ratio: the steady cameras' capture→publish
//     median in the change windows over their steady-state median.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/bench/internal/tracksub"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/internal/rtsptest"
	"github.com/vigil-vision/vigil/node"
)

func main() {
	cycles := flag.Int("cycles", 20, "cameras added and removed, file and RTSP in turn")
	hold := flag.Duration("hold", 2*time.Second, "how long each added camera runs")
	fps := flag.Float64("fps", 2, "frame rate of each steady camera and of the added file camera")
	threads := flag.Int("threads", 2, "onnxruntime intra-op threads")
	out := flag.String("results", "bench/results", "folder for reload-<date>.txt and reload-latest.txt; empty: write none")
	flag.Parse()
	t := &results.T{}
	err := run(t, *cycles, *hold, *fps, *threads, *out)
	t.RunCleanups()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reload-bench:", err)
		os.Exit(1)
	}
}

func run(t *results.T, cycles int, hold time.Duration, fps float64, threads int, out string) error {
	dir, err := os.MkdirTemp("", "reload-bench")
	if err != nil {
		return err
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	rtsp := rtsptest.Start(t)
	rtsptest.Publish(t, rtsp.URL("cam"), rtsptest.TestSource)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = rtsp.WaitPublishing(ctx, "cam")
	cancel()
	if err != nil {
		return fmt.Errorf("RTSP publisher: %w", err)
	}

	natsAddr := tracksub.FreeAddr()
	video := assets.Media("vtest.avi")
	steady := func(id string) string {
		return fmt.Sprintf("  - {id: %s, url: %s, fps: %g}\n", id, video, fps)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf("data_dir: %s\nnats: {listen: %q}\nhttp: {listen: off}\nmodel: {intra_op_threads: %d}\ncameras:\n%s%s",
		dir, natsAddr, threads, steady("steady-1"), steady("steady-2"))), "reload-bench")
	if err != nil {
		return err
	}
	n, err := node.Start(cfg, node.Options{Logger: zerolog.New(os.Stderr).Level(zerolog.WarnLevel)})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	defer func() { stop(); <-done }()

	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		return err
	}
	defer nc.Close()
	rec, err := tracksub.Subscribe(nc, "vigil")
	if err != nil {
		return err
	}
	waitFor := func(what string, cond func() bool) error {
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				return fmt.Errorf("gave up waiting for %s", what)
			}
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	}
	if err := waitFor("the steady cameras", func() bool { return rec.Count("steady-1") >= 5 && rec.Count("steady-2") >= 5 }); err != nil {
		return err
	}

	r := results.New() // notes the load average now
	// The steady baseline, as long as the change windows will be in all.
	fmt.Fprintln(os.Stderr, "reload-bench: steady baseline")
	base := tracksub.Window{From: time.Now()}
	time.Sleep(time.Duration(cycles) * (2*time.Second + hold))
	base.To = time.Now()

	first := map[string][]float64{}
	var applyMS []float64
	var changes []tracksub.Window
	change := func(source string, f func(*config.Config) (*config.Config, error)) (time.Time, error) {
		t0 := time.Now()
		rep, err := n.Change(source, f)
		if err != nil {
			return t0, err
		}
		applyMS = append(applyMS, rep.DurationMS)
		changes = append(changes, tracksub.Window{From: t0, To: time.Now().Add(time.Second)})
		return t0, nil
	}
	for i := range cycles {
		kind, url := "file", video
		if i%2 == 1 {
			kind, url = "rtsp", rtsp.URL("cam")
		}
		id := fmt.Sprintf("added-%d", i)
		cam := config.DemoCamera(url)
		cam.ID = id
		if kind == "file" {
			cam.FPS = fps
		}
		fmt.Fprintf(os.Stderr, "reload-bench: cycle %d/%d: add %s camera\n", i+1, cycles, kind)
		t0, err := change("bench", func(cur *config.Config) (*config.Config, error) { return cur.WithCamera(cam) })
		if err != nil {
			return err
		}
		if err := waitFor(id+"'s first tracks", func() bool { _, ok := rec.First(id); return ok }); err != nil {
			return err
		}
		a, _ := rec.First(id)
		first[kind] = append(first[kind], float64(a.At.Sub(t0).Microseconds())/1000)
		time.Sleep(hold)
		if _, err := change("bench", func(cur *config.Config) (*config.Config, error) {
			next, _ := cur.WithoutCamera(id)
			return next, nil
		}); err != nil {
			return err
		}
		time.Sleep(time.Second) // the window after the removal
	}

	var gaps, baseGaps int
	var lat, baseLat []time.Duration
	for _, c := range []string{"steady-1", "steady-2"} {
		g, l := rec.Gaps(c, changes)
		gaps += g
		lat = append(lat, l...)
		g, l = rec.Gaps(c, []tracksub.Window{base})
		baseGaps += g
		baseLat = append(baseLat, l...)
	}
	r.Add("reload_gap_frames", "%d", gaps)
	r.Add("reload_baseline_gap_frames", "%d", baseGaps)
	r.Add("reload_changes", "%d", len(changes))
	for _, kind := range []string{"file", "rtsp"} {
		if len(first[kind]) > 0 {
			r.Add("add_camera_to_first_publish_ms_"+kind+"_p50", "%.1f", results.Percentile(first[kind], 50))
			r.Add("add_camera_to_first_publish_ms_"+kind+"_p99", "%.1f", results.Percentile(first[kind], 99))
		}
	}
	r.Add("reload_apply_ms_p50", "%.1f", results.Percentile(applyMS, 50))
	r.Add("reload_apply_ms_p99", "%.1f", results.Percentile(applyMS, 99))
	if m := median(baseLat); m > 0 {
		r.Add("reload_steady_latency_p50_ms", "%.1f", float64(m.Microseconds())/1000)
		r.Add("reload_steady_latency_p50_ratio", "%.3f", float64(median(lat))/float64(m))
	}
	if out == "" {
		return nil
	}
	path, err := r.Write(out, "reload-", time.Now(), []string{
		"reload-bench: changing a running vigil (bench/cmd/reload-bench)",
		"command: " + results.CommandLine("go run ./bench/cmd/reload-bench"),
		"flags: " + results.Flags(),
		"cpu: " + results.CPUInfo("model name") + ", cores " + results.NProc(),
		"go: " + results.GoVersion(),
		r.Load(),
	})
	if err == nil {
		fmt.Fprintln(os.Stderr, "reload-bench: wrote", path)
	}
	return err
}

func median(v []time.Duration) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
