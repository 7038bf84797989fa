// Command evidence-bench measures what events' evidence costs a camera:
// the clip ring (every frame encoded to VP8), the snapshots, the clips cut
// when events ask, and their uploads to a real NATS (embedded, in this
// process: its work is counted too).
//
// N cameras play frames of vtest.avi (decoded before, so decoding is not
// counted) at 10 fps for -seconds, first into nothing (the baseline), then
// into an evidence.Recorder, each camera with an event every -every
// (staggered), each event asking for a snapshot and a 5 s + 5 s clip.
//
//   - evidence_cpu_per_camera: the CPU (all threads, process rusage) of
//     the recorded run less the baseline's, per second and camera, in
//     cores. Goal ≤ 0.05.
//   - evidence_ready_p99_ms: from an event's Capture to its record (its
//     snapshot stored) arriving on NATS, p50 and p99. Goal ≤ 500 ms.
//   - evidence_bytes_per_event: snapshot, thumbnail and clip, as stored.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/evidence"
	"github.com/vigil-vision/vigil/rules"
	"github.com/vigil-vision/vigil/sinks"
	"gocv.io/x/gocv"
)

type options struct {
	seconds int
	every   time.Duration
	cameras []int
	out     string
	profile string
}

func main() {
	var o options
	flag.IntVar(&o.seconds, "seconds", 40, "length of each run, in seconds of real time")
	flag.DurationVar(&o.every, "every", 10*time.Second, "one event per camera this often")
	cams := flag.String("cameras", "1,4", "camera counts, comma separated")
	flag.StringVar(&o.out, "results", "bench/results", "folder for evidence-bench-<date>.txt; empty: write none")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the recorded runs to this file")
	flag.Parse()
	for _, s := range strings.Split(*cams, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "evidence-bench: -cameras %q: use counts such as 1,4\n", *cams)
			os.Exit(2)
		}
		o.cameras = append(o.cameras, n)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "evidence-bench:", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "evidence-bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

func run(o options) error {
	frames, err := decode(assets.Media("vtest.avi"), 100)
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range frames {
			f.Close()
		}
	}()
	rep := results.New()
	for _, n := range o.cameras {
		if err := measure(rep, o, frames, n); err != nil {
			return err
		}
	}
	if o.out == "" {
		return nil
	}
	path, err := rep.Write(o.out, "evidence-bench-", time.Now(), []string{
		"evidence-bench: what events' evidence costs a camera (bench/cmd/evidence-bench)",
		"command: " + results.CommandLine("go run ./bench/cmd/evidence-bench"),
		"flags: " + results.Flags(),
		"cpu: " + results.CPUInfo("model name") + ", cores " + results.NProc(),
		"go: " + results.GoVersion(),
		rep.Load(),
	})
	if err == nil {
		logf("wrote %s", path)
	}
	return err
}

func decode(path string, n int) ([]gocv.Mat, error) {
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		return nil, err
	}
	defer vc.Close()
	var out []gocv.Mat
	for range n {
		m := gocv.NewMat()
		if !vc.Read(&m) || m.Empty() {
			m.Close()
			break
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no frames in %s", path)
	}
	return out, nil
}

// play feeds n cameras at 10 fps for d, each frame to tap; event, when
// set, is called for camera c's frame at its event times.
func play(frames []gocv.Mat, n int, d time.Duration, tap func(*capture.Frame), event func(cam int, f *capture.Frame)) {
	const interval = 100 * time.Millisecond
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; time.Since(start) < d; i++ {
		<-tick.C
		for c := range n {
			f := &capture.Frame{Camera: "cam" + strconv.Itoa(c), Seq: uint64(i), Time: time.Now(), Read: time.Now(), Image: frames[(i+c*7)%len(frames)]}
			if tap != nil {
				tap(f)
			}
			if event != nil {
				event(c, f)
			}
		}
	}
}

func measure(rep *results.Report, o options, frames []gocv.Mat, n int) error {
	store, spool := mustTemp(), mustTemp()
	defer os.RemoveAll(store)
	defer os.RemoveAll(spool)
	srv, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Port: -1, JetStream: true, StoreDir: store, Logger: zerolog.Nop()})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: alerts.DefaultStream,
		Subjects: []string{alerts.EventsFilter("vigil"), alerts.EvidenceFilter("vigil")}}); err != nil {
		return err
	}
	d := time.Duration(o.seconds) * time.Second

	logf("%d cameras: baseline, %s", n, d)
	cpu0 := results.CPUTime()
	play(frames, n, d, nil, nil)
	base := results.CPUTime() - cpu0

	// Records: when each event's first (snapshot) record came.
	var mu sync.Mutex
	asked := map[string]time.Time{}
	var ready []float64
	var recs []evidence.Record
	sub, err := nc.Subscribe(alerts.EvidenceFilter("vigil"), func(m *nats.Msg) {
		var r evidence.Record
		if json.Unmarshal(m.Data, &r) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if r.Clip == "" {
			if t, ok := asked[r.Event.ID]; ok {
				ready = append(ready, float64(time.Since(t).Microseconds())/1000)
			}
		} else {
			recs = append(recs, r)
		}
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()

	rec, err := evidence.New(evidence.Options{Conn: nc, SpoolDir: spool, Logger: zerolog.Nop()})
	if err != nil {
		return err
	}
	keep := map[string]time.Duration{}
	for c := range n {
		keep["cam"+strconv.Itoa(c)] = 12 * time.Second
	}
	rec.SetClipCameras(keep)
	rec.Start()
	next := make([]time.Time, n)
	for c := range n {
		next[c] = time.Now().Add(2*time.Second + o.every*time.Duration(c)/time.Duration(n)) // staggered
	}
	id := 0
	logf("%d cameras: evidence, an event a camera every %s", n, o.every)
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0 = results.CPUTime()
	play(frames, n, d, rec.Frame, func(c int, f *capture.Frame) {
		if f.Time.Before(next[c]) {
			return
		}
		next[c] = next[c].Add(o.every)
		id++
		m := alerts.Message{Schema: alerts.EventSchema, ID: "bench-" + strconv.Itoa(id), Camera: f.Camera, Rule: "door",
			Kind: rules.KindLine, Type: rules.TypeLineCross, TrackID: 1, Label: "person", Time: f.Time, Seq: f.Seq}
		mu.Lock()
		asked[m.ID] = time.Now()
		mu.Unlock()
		rec.Capture(f.Image, []evidence.Request{{Event: m,
			Shot: &evidence.Shot{Box: image.Rect(300, 150, 360, 330), Label: "#1 person"},
			Clip: &evidence.Window{Pre: 5 * time.Second, Post: 5 * time.Second}}})
	})
	// The clips of the last events are made on Close: their CPU counts.
	rec.Close(30 * time.Second)
	used := results.CPUTime() - cpu0
	time.Sleep(500 * time.Millisecond) // the last records' deliveries
	perCam := (used - base).Seconds() / d.Seconds() / float64(n)

	mu.Lock()
	defer mu.Unlock()
	rep.Add(fmt.Sprintf("evidence_cpu_per_camera_%d", n), "%.3f cores (goal ≤ 0.05; %d cameras at 10 fps, an event every %s each, a snapshot and a 10 s clip per event; process CPU %.1f s with evidence, %.1f s without, over %s)",
		perCam, n, o.every, used.Seconds(), base.Seconds(), d)
	rep.Add(fmt.Sprintf("evidence_ready_p99_ms_%d", n), "%.0f (p50 %.0f; from Capture to the snapshot's record on NATS, %d events; goal ≤ 500)",
		results.Percentile(ready, 99), results.Percentile(ready, 50), len(ready))
	obs := rec.Bucket()
	if obs == nil || len(recs) == 0 {
		return fmt.Errorf("%d cameras: no clip stored", n)
	}
	var snap, thumb, clip int64
	for _, r := range recs {
		snap += size(ctx, js, r.Snapshot)
		thumb += size(ctx, js, r.Thumbnail)
		clip += size(ctx, js, r.Clip)
	}
	k := int64(len(recs))
	rep.Add(fmt.Sprintf("evidence_bytes_per_event_%d", n), "%d (snapshot %d, thumbnail %d, clip %d; mean of %d events)",
		(snap+thumb+clip)/k, snap/k, thumb/k, clip/k, k)
	return nil
}

func size(ctx context.Context, js jetstream.JetStream, name string) int64 {
	obs, err := js.ObjectStore(ctx, evidence.DefaultBucket)
	if err != nil {
		return 0
	}
	in, err := obs.GetInfo(ctx, name)
	if err != nil {
		return 0
	}
	return int64(in.Size)
}

func mustTemp() string {
	d, err := os.MkdirTemp("", "evidence-bench-")
	if err != nil {
		panic(err)
	}
	return d
}
