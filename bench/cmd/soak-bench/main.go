// Command soak-bench runs vigil for a long time in a world that keeps
// changing around it, and says whether it leaks: whether its memory, Go
// heap, goroutines and open files stay flat, whether it leaves gocv Mats
// open, and whether every rule event it accepted reached the events
// stream exactly once.
//
// In its own process it runs an RTSP server with two publishers (ffmpeg,
// vtest.avi looped in real time) and a NATS server with JetStream on a
// store folder. It builds vigil with -tags matprofile and runs `vigil run`
// against them with three cameras (the two RTSP paths and vtest.avi as a
// file camera), each with a zone over the whole picture and a line across
// the walkway that fire as people walk. Meanwhile:
//
//   - every -drop-every an RTSP camera goes away for -drop-min … -drop-max:
//     its publisher stops (the server answers 404), or, every third time,
//     the whole server closes (both cameras: connections refused) and
//     listens again on the same address;
//   - -nats-restarts times, evenly spread, the NATS server shuts down for
//     -nats-down and starts again on the same port and store;
//   - every -view-every a headless chromium opens the live page for
//     -view-min … -view-max and closes.
//
// It reads vigil's /metrics every second (cameras up, viewers, the alerts
// spool) and keeps a sample every -sample: resident memory, Go heap,
// goroutines, threads, open files. After -duration it sends SIGTERM, waits
// for vigil to exit, and reads the events stream.
//
// Lines printed and kept (soak-<date>.txt, soak-latest.txt, the samples in
// soak-<date>.csv):
//
//   - soak_<series>_slope_{mib,}_per_h and _pct_per_h: least-squares slope
//     of each series after -warmup, on the quiet samples (no viewer, no
//     camera away, NATS up, for -settle before), per hour and as a share
//     of the series' mean; first, last, min, max after the warm-up.
//   - soak_flat_<series> and soak_flat: |slope| ≤ -flat-pct % of the mean
//     per hour, for resident memory, the Go heap goal, goroutines and open
//     files.
//   - soak_mats_open_at_exit: the Mats vigil had not closed when it
//     stopped (its "vigil stopped" line). Goal 0.
//   - soak_events_*: the stream's messages and distinct ids against the
//     events vigil accepted (its "alerts stopped" line). Goal: each
//     accepted event in the stream once.
//   - soak_camera_*, soak_nats_*, soak_viewer_*: what the harness did and
//     how vigil followed (cameras back, spool drained, viewers gone).
//   - soak_vigil_exit_code, soak_vigil_log_*.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/bench/internal/vigilbin"
	"github.com/vigil-vision/vigil/internal/rtsptest"
)

type options struct {
	duration, warmup            time.Duration
	dropEvery, dropMin, dropMax time.Duration
	natsRestarts                int
	natsDown                    time.Duration
	viewEvery, viewMin, viewMax time.Duration
	sample, settle              time.Duration
	fps                         float64
	threads                     int
	flatPct                     float64
	seed                        uint64
	chromium, vigil, keep, out  string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", time.Hour, "how long vigil runs, from all cameras streaming to SIGTERM")
	flag.DurationVar(&o.warmup, "warmup", 10*time.Minute, "samples before this are left out of the trends")
	flag.DurationVar(&o.dropEvery, "drop-every", 3*time.Minute, "an RTSP camera goes away this often")
	flag.DurationVar(&o.dropMin, "drop-min", 5*time.Second, "shortest time a camera is away")
	flag.DurationVar(&o.dropMax, "drop-max", 20*time.Second, "longest time a camera is away")
	flag.IntVar(&o.natsRestarts, "nats-restarts", 2, "NATS server restarts, evenly spread over the run")
	flag.DurationVar(&o.natsDown, "nats-down", 20*time.Second, "how long NATS is down at each restart")
	flag.DurationVar(&o.viewEvery, "view-every", 2*time.Minute, "a browser viewer opens the live page this often (0: none)")
	flag.DurationVar(&o.viewMin, "view-min", 20*time.Second, "shortest time a viewer stays")
	flag.DurationVar(&o.viewMax, "view-max", time.Minute, "longest time a viewer stays")
	flag.DurationVar(&o.sample, "sample", 10*time.Second, "how often a sample of vigil's memory, goroutines and files is kept")
	flag.DurationVar(&o.settle, "settle", 20*time.Second, "a sample is quiet when nothing has been disturbed for this long")
	flag.Float64Var(&o.fps, "fps", 5, "frame rate cap of each camera")
	flag.IntVar(&o.threads, "threads", 1, "onnxruntime intra-op threads")
	flag.Float64Var(&o.flatPct, "flat-pct", 2, "a series is flat when its slope after the warm-up is within this many % of its mean per hour")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the random outage and viewing times")
	flag.StringVar(&o.chromium, "chromium", "/usr/bin/chromium", "the browser")
	flag.StringVar(&o.vigil, "vigil", "", "a vigil binary built with -tags matprofile (default: build ./cmd/vigil so)")
	flag.StringVar(&o.keep, "keep", "", "copy vigil's log and config, the NATS server's log and the samples into this folder at the end")
	flag.StringVar(&o.out, "results", "bench/results", "folder for soak-<date>.txt, soak-<date>.csv and soak-latest.*; empty: write none")
	flag.Parse()
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "soak-bench:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "soak-bench:", err)
		os.Exit(1)
	}
}

func (o options) check() error {
	switch {
	case o.duration <= 0 || o.warmup < 0 || o.warmup >= o.duration:
		return errors.New("-warmup must be shorter than -duration")
	case o.dropEvery <= 0 || o.dropMin <= 0 || o.dropMax < o.dropMin:
		return errors.New("-drop-every, -drop-min must be positive and -drop-max at least -drop-min")
	case o.viewEvery < 0 || o.viewMin <= 0 || o.viewMax < o.viewMin:
		return errors.New("-view-min must be positive and -view-max at least -view-min")
	case o.sample < time.Second:
		return errors.New("-sample must be at least 1s")
	}
	return nil
}

// The cameras: two RTSP paths and the file.
var cameraIDs = []string{"rtsp-a", "rtsp-b", "file"}

// rtspPath is the RTSP path of a camera.
func rtspPath(id string) string { return strings.TrimPrefix(id, "rtsp-") }

// soak is one run: the world vigil lives in, vigil, and what happened.
type soak struct {
	o      options
	dir    string
	rtsp   *rtspCameras
	nats   *natsServer
	vigil  *vigilProc
	base   string // vigil's HTTP, http://127.0.0.1:port
	state  *state
	watch  *watch
	begin  time.Time
	end    time.Time // planned
	record record
}

// record is what the harness did.
type record struct {
	mu       sync.Mutex
	drops    []drop
	restarts []restart
	viewers  []viewerSession
}

// drop is one outage of RTSP cameras.
type drop struct {
	kind     string // "publisher": one path's publisher stopped; "server": the server closed
	cameras  []string
	at, back time.Time // taken away; publishing again
	err      error
}

// restart is one NATS outage.
type restart struct {
	at, back time.Time
	err      error
}

func run(o options) error {
	var missing []string
	video := assets.Media("vtest.avi")
	for _, p := range []string{assets.Library(), assets.Model(), video, o.chromium} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		missing = append(missing, "ffmpeg")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run `make deps`", strings.Join(missing, ", "))
	}
	rep := results.New() // notes the load average now
	dir, err := os.MkdirTemp("", "soak-bench-")
	if err != nil {
		return err
	}
	t := &benchT{}
	s := &soak{o: o, dir: dir, state: newState(o.settle)}
	defer func() {
		if s.vigil != nil {
			s.vigil.kill()
		}
		t.cleanup()
		if s.nats != nil {
			s.nats.stop()
		}
		if o.keep != "" {
			keepLogs(dir, o.keep)
		}
		os.RemoveAll(dir)
	}()

	bin := o.vigil
	if bin == "" {
		// -tags matprofile: the node counts the gocv Mats still open when it
		// stops ("vigil stopped" line, mats_open).
		if bin, err = vigilbin.Build("soak-bench", dir, "matprofile"); err != nil {
			return err
		}
	}
	header := []string{
		"soak-bench: vigil under a changing world for " + o.duration.String() + " (bench/cmd/soak-bench)",
		"command: " + results.CommandLine("go run ./bench/cmd/soak-bench"),
		"flags: " + results.Flags(),
		"cpu: " + results.CPUInfo("model name") + ", cores " + results.NProc(),
		"go: " + results.GoVersion(),
	}
	if v, err := exec.Command(bin, "version").Output(); err == nil {
		header = append(header, "vigil: "+strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(v)), "\n", " ; ")), " ")+
			" (built with -tags matprofile)")
	}

	// The world: RTSP cameras and NATS.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s.rtsp = &rtspCameras{t: t, addr: rtsptest.ReserveAddr(t), video: video, pubs: map[string]*rtsptest.Publisher{}}
	progress("RTSP server on %s, publishing %s on /a and /b", s.rtsp.addr, video)
	if err := s.rtsp.start(ctx, "a", "b"); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	natsLog, err := os.Create(filepath.Join(dir, "nats.log"))
	if err != nil {
		return err
	}
	defer natsLog.Close()
	s.nats = &natsServer{port: port, dir: filepath.Join(dir, "jetstream"),
		log: zerolog.New(natsLog).Level(zerolog.InfoLevel).With().Timestamp().Logger()}
	if err := s.nats.start(); err != nil {
		return err
	}
	progress("NATS with JetStream on %s, store %s", s.nats.url(), s.nats.dir)

	// vigil.
	httpPort, err := freePort()
	if err != nil {
		return err
	}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	cams := []camera{{id: "rtsp-a", url: s.rtsp.url("a")}, {id: "rtsp-b", url: s.rtsp.url("b")}, {id: "file", url: video, file: true}}
	cfgPath := filepath.Join(dir, "vigil.yaml")
	cfg := vigilConfig(filepath.Join(dir, "data"), s.nats.url(), fmt.Sprintf("127.0.0.1:%d", httpPort), cams, o.fps, o.threads)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	header = append(header, fmt.Sprintf("setup: vigil run with 3 cameras (2 RTSP, vtest.avi published by ffmpeg; vtest.avi as a realtime looped file), fps cap %g, model intra_op_threads %d; a person zone over the whole picture and a line across the walkway on each; NATS with JetStream in the bench's process",
		o.fps, o.threads))
	s.vigil, err = startVigil(bin, cfgPath, filepath.Join(dir, "vigil.log"))
	if err != nil {
		return err
	}
	progress("vigil run (log %s), http %s", filepath.Join(dir, "vigil.log"), s.base)
	s.watch = &watch{sc: newScraper(s.base), pid: s.vigil.cmd.Process.Pid, every: o.sample, state: s.state}
	if err := s.waitStreaming(ctx, 3*time.Minute); err != nil {
		return err
	}

	// The soak.
	s.begin = time.Now()
	s.end = s.begin.Add(o.duration)
	progress("all cameras streaming; soaking for %s (warm-up %s)", o.duration, o.warmup)
	runCtx, cancel := context.WithDeadline(ctx, s.end)
	defer cancel()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); s.watch.run(watchCtx, s.begin) }()
	var wg sync.WaitGroup
	for _, f := range []func(context.Context){s.drops, s.natsRestarts, s.viewers} {
		wg.Add(1)
		go func() { defer wg.Done(); f(runCtx) }()
	}
	exited := false
	select {
	case <-runCtx.Done():
	case <-s.vigil.exited:
		exited = true
		cancel()
	}
	wg.Wait()
	interrupted := ctx.Err() != nil
	stop() // a second interrupt ends the bench at once
	ran := time.Since(s.begin)
	if exited {
		progress("vigil exited during the soak (%v); its last lines:\n%s", s.vigil.state, s.vigil.logs.lastLines())
	}

	// The end: the spool drained, a last sample, SIGTERM.
	if !exited {
		s.waitDrained(time.Minute)
	}
	stopWatch()
	<-watchDone
	last := s.watch.final(s.begin)
	var took time.Duration
	var killed bool
	if !exited {
		progress("SIGTERM to vigil")
		took, killed = s.vigil.stop(time.Minute)
	}
	progress("vigil exited (%v); reading the events stream", s.vigil.state)
	events, evErr := readEvents(s.nats.url())

	s.report(rep, reportInput{ran: ran, interrupted: interrupted, exitedEarly: exited, exitTook: took, killed: killed,
		last: last, events: events, eventsErr: evErr})
	if o.keep != "" {
		os.WriteFile(filepath.Join(dir, "samples.csv"), samplesCSV(s.watch.samples), 0o644)
	}
	if o.out == "" {
		return nil
	}
	at := time.Now()
	path, err := rep.Write(o.out, "soak-", at, append(header, rep.Load()))
	if err != nil {
		return err
	}
	csv := samplesCSV(s.watch.samples)
	for _, p := range []string{strings.TrimSuffix(path, ".txt") + ".csv", filepath.Join(o.out, "soak-latest.csv")} {
		if err := os.WriteFile(p, csv, 0o644); err != nil {
			return err
		}
	}
	progress("wrote %s and its .csv", path)
	return nil
}

// waitStreaming waits until vigil answers /metrics with every camera up.
func (s *soak) waitStreaming(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var why string
	for time.Now().Before(deadline) {
		if !s.vigil.running() {
			return fmt.Errorf("vigil exited (%v); its last lines:\n%s", s.vigil.state, s.vigil.logs.lastLines())
		}
		sc, err := s.watch.sc.get(ctx)
		if err == nil {
			up := 0
			for _, id := range cameraIDs {
				if v, _ := sc.label("vigil_camera_up", "camera", id); v == 1 {
					up++
				}
			}
			if up == len(cameraIDs) && sc.value("vigil_frames_processed_total") > 0 {
				return nil
			}
			why = fmt.Sprintf("%d of %d cameras up", up, len(cameraIDs))
		} else {
			why = err.Error()
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	return fmt.Errorf("vigil not streaming every camera after %s: %s; its last lines:\n%s", limit, why, s.vigil.logs.lastLines())
}

// waitDrained waits until vigil's alerts spool is empty.
func (s *soak) waitDrained(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if p, ok := s.watch.latest(); ok && p.pending == 0 {
			return
		}
		time.Sleep(time.Second)
	}
	progress("the alerts spool still holds events after %s", limit)
}

// sleepUntil sleeps until t, or until ctx ends (an error).
func sleepUntil(ctx context.Context, t time.Time) error {
	return sleep(ctx, time.Until(t))
}

// reconnectTail is the time left after the last camera outage for vigil to
// take the camera back: its default camera reconnect.max, the longest it
// waits between tries once the fast retries are over.
const reconnectTail = 30 * time.Second

// drops takes RTSP cameras away every -drop-every: camera a's publisher,
// b's, then the whole server, in turn.
func (s *soak) drops(ctx context.Context) {
	rng := rand.New(rand.NewPCG(s.o.seed, 1))
	kinds := []struct {
		kind  string
		paths []string
	}{{"publisher", []string{"a"}}, {"publisher", []string{"b"}}, {"server", []string{"a", "b"}}}
	for i := 0; ; i++ {
		at := s.begin.Add(time.Duration(i+1) * s.o.dropEvery)
		away := between(rng, s.o.dropMin, s.o.dropMax)
		if at.Add(away+reconnectTail).After(s.end) || sleepUntil(ctx, at) != nil {
			return
		}
		k := kinds[i%len(kinds)]
		d := drop{kind: k.kind}
		for _, p := range k.paths {
			d.cameras = append(d.cameras, "rtsp-"+p)
			s.state.setDown("rtsp-"+p, true)
		}
		progress("camera drop %d: %s %s away for %s", i+1, k.kind, strings.Join(d.cameras, ","), away.Round(time.Millisecond))
		d.at = time.Now()
		if k.kind == "server" {
			s.rtsp.stop()
		} else {
			s.rtsp.unpublish(k.paths[0])
		}
		sleep(ctx, away) // cut short when the soak ends: the cameras come back first
		if k.kind == "server" {
			d.err = s.rtsp.start(context.Background(), k.paths...)
		} else {
			d.err = s.rtsp.publish(context.Background(), k.paths[0])
		}
		d.back = time.Now()
		if d.err != nil {
			progress("camera drop %d: not back: %v", i+1, d.err)
		}
		for _, c := range d.cameras {
			s.state.setDown(c, false)
		}
		s.record.mu.Lock()
		s.record.drops = append(s.record.drops, d)
		s.record.mu.Unlock()
	}
}

// natsRestarts shuts the NATS server down -nats-restarts times, evenly
// spread, and starts it again on the same port and store after -nats-down.
func (s *soak) natsRestarts(ctx context.Context) {
	n := s.o.natsRestarts
	for k := 1; k <= n; k++ {
		at := s.begin.Add(s.o.duration * time.Duration(k) / time.Duration(n+1))
		if sleepUntil(ctx, at) != nil {
			return
		}
		progress("NATS restart %d: down for %s", k, s.o.natsDown)
		s.state.setNATSDown(true)
		r := restart{at: time.Now()}
		s.nats.stop()
		sleep(ctx, s.o.natsDown)
		r.err = s.nats.start()
		r.back = time.Now()
		if r.err != nil {
			progress("NATS restart %d: not started again: %v", k, r.err)
		}
		s.state.setNATSDown(false)
		s.record.mu.Lock()
		s.record.restarts = append(s.record.restarts, r)
		s.record.mu.Unlock()
	}
}

// viewerTail is the time left after the last viewer for vigil to let go
// of its sessions: a browser that vanished is noticed when its WebRTC
// connection fails.
const viewerTail = 30 * time.Second

// viewers opens the live page in a browser every -view-every, half a
// period after the start; the viewers leave the page and close the
// browser in turn.
func (s *soak) viewers(ctx context.Context) {
	if s.o.viewEvery == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(s.o.seed, 2))
	for k := 0; ; k++ {
		at := s.begin.Add(s.o.viewEvery/2 + time.Duration(k)*s.o.viewEvery)
		hold := between(rng, s.o.viewMin, s.o.viewMax)
		if at.Add(hold+viewerTail).After(s.end) || sleepUntil(ctx, at) != nil {
			return
		}
		leave := []string{leavePage, killBrowser}[k%2]
		progress("viewer %d: the live page for %s, then %s", k+1, hold.Round(time.Millisecond), leave)
		s.state.setViewer(true)
		v := view(ctx, s.o.chromium, s.base, cameraIDs, hold, leave)
		s.state.setViewer(false)
		progress("viewer %d: %s", k+1, v)
		s.record.mu.Lock()
		s.record.viewers = append(s.record.viewers, v)
		s.record.mu.Unlock()
	}
}

// between is a random duration from lo to hi, to the millisecond.
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64((hi-lo)/time.Millisecond)+1))*time.Millisecond
}

// keepLogs copies vigil's log and config, the NATS log and the samples
// out of the temporary folder.
func keepLogs(dir, keep string) {
	if err := os.MkdirAll(keep, 0o755); err != nil {
		progress("keep: %v", err)
		return
	}
	for _, name := range []string{"vigil.log", "vigil.yaml", "nats.log", "samples.csv"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			os.WriteFile(filepath.Join(keep, name), b, 0o644)
		}
	}
	progress("logs kept in %s", keep)
}
