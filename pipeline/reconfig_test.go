package pipeline

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/track"
)

// seqRecorder keeps, per camera, the seq and model of every result, and
// wakes waiters on each.
type seqRecorder struct {
	mu     sync.Mutex
	seqs   map[string][]uint64
	models map[string][]string
	groups map[string][]string
	more   chan struct{}
}

func newSeqRecorder() *seqRecorder {
	return &seqRecorder{seqs: map[string][]uint64{}, models: map[string][]string{}, groups: map[string][]string{}, more: make(chan struct{}, 1)}
}

func (r *seqRecorder) Consume(res *Result) {
	if res.Frame.Image.Empty() {
		panic("sink got a closed image")
	}
	r.mu.Lock()
	c := res.Frame.Camera
	r.seqs[c] = append(r.seqs[c], res.Frame.Seq)
	r.models[c] = append(r.models[c], res.Model)
	r.groups[c] = append(r.groups[c], res.Detector)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

func (r *seqRecorder) count(camera string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seqs[camera])
}

// waitFor waits until cond holds over the results; the bound only guards
// against a hang.
func (r *seqRecorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for !cond() {
		select {
		case <-r.more:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// contiguous fails the test unless seqs run from first without a gap.
func contiguous(t *testing.T, camera string, seqs []uint64) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("camera %s: seq %d after %d: a lossless camera lost or reordered frames", camera, seqs[i], seqs[i-1])
		}
	}
}

// start runs p in the background; the returned func stops it and waits.
func start(t *testing.T, p *Pipeline) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Error(err)
				}
			case <-time.After(2 * time.Minute):
				t.Fatal("pipeline did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func losslessFile(t *testing.T, id string) *capture.Camera {
	return camera(t, capture.Config{ID: id, URL: assets.Media("vtest.avi"), Loop: true})
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd on this system")
	}
	return len(ents)
}

// TestAddAndRemoveCameraWhileRunning: a camera added to a running pipeline
// streams at once, the other camera (lossless: any lost frame shows as a
// gap) loses nothing meanwhile, and a removed camera gives no more results
// and leaves no metric series behind.
func TestAddAndRemoveCameraWhileRunning(t *testing.T) {
	rec := newSeqRecorder()
	reg := prometheus.NewRegistry()
	p, err := New(Options{
		Cameras: []*capture.Camera{losslessFile(t, "steady")}, Detector: detectorThreads(t, 1),
		Tracker: track.DefaultConfig(), Sinks: []Sink{rec}, Registry: reg, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	rec.waitFor(t, "steady's first results", func() bool { return rec.count("steady") >= 3 })

	if err := p.AddCamera(losslessFile(t, "extra"), DefaultGroup); err != nil {
		t.Fatal(err)
	}
	if err := p.AddCamera(losslessFile(t, "extra"), DefaultGroup); err == nil {
		t.Error("a second camera with the same id accepted")
	}
	if err := p.AddCamera(losslessFile(t, "lost"), "nosuch"); err == nil {
		t.Error("a camera in an unknown group accepted")
	}
	rec.waitFor(t, "the added camera's results", func() bool { return rec.count("extra") >= 5 })
	if got := p.DetectorOf("extra"); got != DefaultGroup {
		t.Errorf("DetectorOf(extra) = %q", got)
	}
	if st := p.Stages(); !st["capture/extra"] || !st["detect"] || !st["track"] {
		t.Errorf("stages %v", st)
	}

	if err := p.RemoveCamera("extra"); err != nil {
		t.Fatal(err)
	}
	removedAt := rec.count("extra")
	if err := p.RemoveCamera("extra"); err == nil {
		t.Error("removing a camera twice succeeded")
	}
	steadyThen := rec.count("steady")
	rec.waitFor(t, "steady's results after the removal", func() bool { return rec.count("steady") >= steadyThen+5 })
	if n := rec.count("extra"); n != removedAt {
		t.Errorf("%d results for the removed camera after RemoveCamera returned", n-removedAt)
	}
	if p.Camera("extra") != nil || p.DetectorOf("extra") != "" {
		t.Error("the removed camera is still listed")
	}
	if _, ok := p.Stages()["capture/extra"]; ok {
		t.Error("the removed camera's stage is still reported")
	}
	for _, name := range []string{"vigil_frames_captured_total", "vigil_frames_processed_total", "vigil_camera_up", "vigil_capture_to_publish_seconds"} {
		if n := seriesFor(t, reg, name, "extra"); n != 0 {
			t.Errorf("%s: %d series of the removed camera", name, n)
		}
		if n := seriesFor(t, reg, name, "steady"); n == 0 {
			t.Errorf("%s: no series of the camera that stays", name)
		}
	}
	stop()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	contiguous(t, "steady", rec.seqs["steady"])
	contiguous(t, "extra", rec.seqs["extra"])
	if rec.seqs["extra"][0] != 1 {
		t.Errorf("the added camera's first result is seq %d", rec.seqs["extra"][0])
	}
}

// seriesFor counts a metric's series labelled camera=id.
func seriesFor(t *testing.T, reg *prometheus.Registry, name, id string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "camera" && l.GetValue() == id {
					n++
				}
			}
		}
	}
	return n
}

// TestSwapDetectorLosesNoFrame: a detector swapped in the middle of a
// lossless run takes over between two frames: every frame is processed
// once, in order, and each result names the model that made it, the old
// one up to a point and the new one after it.
func TestSwapDetectorLosesNoFrame(t *testing.T) {
	rec := newSeqRecorder()
	cam := camera(t, capture.Config{ID: "walkway", URL: assets.Media("vtest.avi")})
	p, err := New(Options{
		Cameras: []*capture.Camera{cam}, Groups: []Group{{Name: "main", Detector: detectorThreads(t, 1), Model: "fp32-a", Cameras: []string{"walkway"}}},
		Tracker: track.DefaultConfig(), Sinks: []Sink{rec}, MaxFrames: 40, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	rec.waitFor(t, "the first results", func() bool { return rec.count("walkway") >= 10 })
	b := detectorThreads(t, 1)
	old, err := p.SwapDetector("main", b, b.Labels(), "fp32-b")
	if err != nil {
		t.Fatal(err)
	}
	if old == nil || old == Detector(b) {
		t.Fatalf("SwapDetector returned %v as the old detector", old)
	}
	if _, err := p.SwapDetector("nosuch", b, nil, "x"); err == nil {
		t.Error("a swap in an unknown group succeeded")
	}
	rec.waitFor(t, "all 40 frames", func() bool { return rec.count("walkway") == 40 })
	stop()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	seqs, models := rec.seqs["walkway"], rec.models["walkway"]
	if len(seqs) != 40 || seqs[0] != 1 {
		t.Fatalf("%d results from seq %d", len(seqs), seqs[0])
	}
	contiguous(t, "walkway", seqs)
	switched := -1
	for i, m := range models {
		switch {
		case m == "fp32-b" && switched < 0:
			switched = i
		case m != "fp32-a" && m != "fp32-b", m == "fp32-a" && switched >= 0:
			t.Fatalf("result %d: model %q after the switch at %d: %v", i, m, switched, models)
		}
	}
	if switched < 10 || switched == len(models) {
		t.Errorf("new model from result %d: %v", switched, models)
	}
}

// TestMoveCameraKeepsOrder: a camera handed to another detector group
// goes on from the next frame, in order, without a lost frame.
func TestMoveCameraKeepsOrder(t *testing.T) {
	rec := newSeqRecorder()
	a, b := detectorThreads(t, 1), detectorThreads(t, 1)
	p, err := New(Options{
		Cameras: []*capture.Camera{losslessFile(t, "walkway")},
		Groups:  []Group{{Name: "a", Detector: a, Model: "a", Cameras: []string{"walkway"}}},
		Tracker: track.DefaultConfig(), Sinks: []Sink{rec}, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	if err := p.AddGroup(Group{Name: "b", Detector: b, Labels: b.Labels(), Model: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := p.AddGroup(Group{Name: "b", Detector: b}); err == nil {
		t.Error("a second group b accepted")
	}
	rec.waitFor(t, "results from group a", func() bool { return rec.count("walkway") >= 5 })
	if err := p.MoveCamera("walkway", "b"); err != nil {
		t.Fatal(err)
	}
	if p.DetectorOf("walkway") != "b" {
		t.Errorf("DetectorOf = %q after the move", p.DetectorOf("walkway"))
	}
	if _, err := p.RemoveGroup("b"); err == nil {
		t.Error("a group with a camera was removed")
	}
	moved := rec.count("walkway")
	rec.waitFor(t, "results from group b", func() bool { return rec.count("walkway") >= moved+5 })
	old, err := p.RemoveGroup("a")
	if err != nil || old != Detector(a) {
		t.Fatalf("RemoveGroup(a) = %v, %v", old, err)
	}
	stop()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	contiguous(t, "walkway", rec.seqs["walkway"])
	g := rec.groups["walkway"]
	for i := 1; i < len(g); i++ {
		if g[i] == "a" && g[i-1] == "b" {
			t.Fatalf("result %d from group a after group b: %v", i, g)
		}
	}
	if g[0] != "a" || g[len(g)-1] != "b" {
		t.Errorf("groups %v", g)
	}
}

// TestAddRemoveCyclesLeaveNothing: 100 cameras added, streamed and removed
// one after another leave the goroutine and file-descriptor counts where
// they started.
func TestAddRemoveCyclesLeaveNothing(t *testing.T) {
	rec := newSeqRecorder()
	reg := prometheus.NewRegistry()
	p, err := New(Options{
		Cameras:  []*capture.Camera{camera(t, capture.Config{ID: "steady", URL: "testsrc", FPS: 10, Width: 320, Height: 240})},
		Detector: detectorThreads(t, 1), Tracker: track.DefaultConfig(), Sinks: []Sink{rec}, Registry: reg, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, p)
	rec.waitFor(t, "the first result", func() bool { return rec.count("steady") >= 1 })
	// One warm-up cycle: the first camera of a kind may start lasting
	// runtime goroutines (timers, the signal handler).
	cycle := func(id string) {
		c := camera(t, capture.Config{ID: id, URL: "testsrc", FPS: 30, Width: 160, Height: 120})
		if err := p.AddCamera(c, DefaultGroup); err != nil {
			t.Fatal(err)
		}
		rec.waitFor(t, id+"'s first result", func() bool { return rec.count(id) >= 1 })
		if err := p.RemoveCamera(id); err != nil {
			t.Fatal(err)
		}
	}
	cycle("warm-up")
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	for i := range 100 {
		cycle("cam-" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
	}
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after 100 cycles, %d before", n, goroutines)
	}
	if n := openFDs(t); n > fds {
		t.Errorf("%d open files after 100 cycles, %d before", n, fds)
	}
	if n := testutil.CollectAndCount(reg, "vigil_frames_captured_total"); n != 1 {
		t.Errorf("%d captured-frame series after the cycles; want the steady camera's only", n)
	}
	if got := len(p.Cameras()); got != 1 {
		t.Errorf("%d cameras left", got)
	}
}

// TestEndedCameraStartsAgainOnANewSource: a file camera without loop that
// reached its end reads again when its source changes, its seq going on,
// while another camera keeps the run going.
func TestEndedCameraStartsAgainOnANewSource(t *testing.T) {
	rec := newSeqRecorder()
	short := capture.Config{ID: "short", URL: assets.Media("Megamind.avi")}
	p, err := New(Options{
		Cameras:  []*capture.Camera{camera(t, short), camera(t, capture.Config{ID: "live", URL: "testsrc", FPS: 5, Width: 160, Height: 120})},
		Detector: detectorThreads(t, 2), Tracker: track.DefaultConfig(), Sinks: []Sink{rec}, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	waitEnded := func() {
		rec.waitFor(t, "the file's end", func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.cams["short"].ended.Load()
		})
	}
	waitEnded()
	n := rec.count("short")
	short.URL = assets.Media("vtest.avi")
	short.Realtime = false
	if err := p.ReconfigureCamera("short", short); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "frames from the new source", func() bool { return rec.count("short") >= n+10 })
	stop()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	contiguous(t, "short", rec.seqs["short"])
}
