package capture

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
)

func TestKindOf(t *testing.T) {
	cases := []struct {
		url  string
		want Kind
		err  string
	}{
		{"testsrc", KindTestsrc, ""},
		{"rtsp://127.0.0.1:8554/cam", KindRTSP, ""},
		{"rtsps://cam.local/live", KindRTSP, ""},
		{"http://10.0.0.5/mjpeg", KindHTTP, ""},
		{"https://cam/video.mjpg", KindHTTP, ""},
		{"/dev/video0", KindDevice, ""},
		{"/dev/videoX", "", "/dev/videoN"},
		{"deps/media/vtest.avi", KindFile, ""},
		{"rtmp://server/live", "", `unsupported scheme "rtmp"`},
		{"", "", "empty url"},
	}
	for _, c := range cases {
		k, err := KindOf(c.url)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.url, err, c.err)
			}
			continue
		}
		if err != nil || k != c.want {
			t.Errorf("%q: %v %v, want %v", c.url, k, err, c.want)
		}
	}
}

func TestRedact(t *testing.T) {
	got := Redact("rtsp://admin:hunter2@10.1.1.1:554/stream")
	if strings.Contains(got, "hunter2") || !strings.Contains(got, "admin") {
		t.Errorf("Redact = %q", got)
	}
	if Redact("deps/media/vtest.avi") != "deps/media/vtest.avi" {
		t.Error("Redact changed a path")
	}
}

func TestBackoff(t *testing.T) {
	for _, r := range []float64{0, 0.5, 0.999} {
		b := Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second, Rand: func() float64 { return r }}
		prev := time.Duration(0)
		for attempt := 0; attempt < 12; attempt++ {
			d := b.Delay(attempt)
			ceil := min(b.Min<<attempt, b.Max)
			if d < ceil/2 || d > ceil {
				t.Errorf("r=%v attempt %d: %v outside [%v, %v]", r, attempt, d, ceil/2, ceil)
			}
			if d < prev {
				t.Errorf("r=%v attempt %d: %v shorter than before (%v)", r, attempt, d, prev)
			}
			prev = d
		}
	}
}

// For the first Fast of an outage every retry waits about Min/2; then the
// pauses grow from Min to Max.
func TestBackoffFastStart(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second, Fast: 3 * time.Second, Rand: func() float64 { return 0.999 }}
	for _, outage := range []time.Duration{0, time.Second, 2900 * time.Millisecond} {
		if d := b.Next(outage, 0); d < b.Min/4 || d > b.Min/2 {
			t.Errorf("%v into an outage: %v, want about %v", outage, d, b.Min/2)
		}
	}
	prev := b.Min
	for slow := 0; slow < 8; slow++ {
		d := b.Next(4*time.Second, slow)
		if d <= prev && d < b.Max*999/1000 || d > b.Max {
			t.Errorf("slow failure %d: %v after %v (max %v)", slow, d, prev, b.Max)
		}
		prev = d
	}
	if d := b.Next(time.Hour, 100); d < b.Max/2 || d > b.Max {
		t.Errorf("a long outage: %v, want at most %v", d, b.Max)
	}
	// A camera down from the start retries fast, then slower: the
	// defaults as New sets them.
	if got := withDefaults(Config{}).Backoff; got.Fast != DefaultFast || got.Min != 500*time.Millisecond || got.Max != 10*time.Second {
		t.Errorf("defaults %+v", got)
	}
	if got := withDefaults(Config{Backoff: Backoff{Fast: -1}}).Backoff; got.Fast != 0 {
		t.Errorf("Fast -1 gives %v, want none", got.Fast)
	}
}

// collect runs a camera and keeps the frames' metadata, closing the images.
type collector struct {
	mu     sync.Mutex
	seqs   []uint64
	times  []time.Time // Frame.Time
	reads  []time.Time // Frame.Read
	sizes  map[[2]int]int
	closed int
}

func (c *collector) emit(f *Frame) {
	c.mu.Lock()
	c.seqs = append(c.seqs, f.Seq)
	c.times = append(c.times, f.Time)
	c.reads = append(c.reads, f.Read)
	if c.sizes == nil {
		c.sizes = map[[2]int]int{}
	}
	c.sizes[[2]int{f.Image.Cols(), f.Image.Rows()}]++
	c.mu.Unlock()
	f.Close()
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seqs)
}

// waitFor polls cond until it holds or a generous bound passes; the bound
// is a guard against hangs, not an assertion about speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFileToEndWithoutLoop(t *testing.T) {
	cam, err := New(Config{ID: "mm", URL: assets.Media("Megamind.avi")}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if !cam.Lossless() {
		t.Error("a file without real-time pacing must be lossless")
	}
	var c collector
	if err := cam.Run(context.Background(), c.emit); err != nil {
		t.Fatal(err)
	}
	if len(c.seqs) < 100 {
		t.Fatalf("read %d frames of Megamind.avi", len(c.seqs))
	}
	for i, s := range c.seqs {
		if s != uint64(i+1) {
			t.Fatalf("frame %d has seq %d", i, s)
		}
	}
	if len(c.sizes) != 1 {
		t.Errorf("frame sizes %v", c.sizes)
	}
	st := cam.Status()
	if st.State != StateStopped || st.Frames != uint64(len(c.seqs)) {
		t.Errorf("status %+v", st)
	}
}

func TestFileLoops(t *testing.T) {
	cam, _ := New(Config{ID: "mm", URL: assets.Media("Megamind.avi"), Loop: true}, zerolog.Nop())
	var ended collector
	// Megamind.avi has 270 frames; looping must run past the end.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cam.Run(ctx, ended.emit); close(done) }()
	waitFor(t, "frames past the end of the file", func() bool { return ended.count() > 400 })
	cancel()
	<-done
	if st := cam.Status(); st.State != StateStopped || st.Reconnects != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestTestsrc(t *testing.T) {
	cam, _ := New(Config{ID: "t", URL: "testsrc", Width: 320, Height: 240, FPS: 200}, zerolog.Nop())
	var c collector
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cam.Run(ctx, c.emit); close(done) }()
	waitFor(t, "20 testsrc frames", func() bool { return c.count() >= 20 })
	if st := cam.Status(); st.State != StateStreaming || st.FPS <= 0 {
		t.Errorf("status while running %+v", st)
	}
	cancel()
	<-done
	if _, ok := c.sizes[[2]int{320, 240}]; !ok || len(c.sizes) != 1 {
		t.Errorf("sizes %v", c.sizes)
	}
	// Its clock is the media's: frame n at the first's time plus n/fps,
	// however late the reads.
	for i := range c.times {
		if d := c.times[i].Sub(c.times[0]); d != mediaOffset(i, 200) {
			t.Fatalf("frame %d is %v after the first, want %v", i+1, d, mediaOffset(i, 200))
		}
	}
}

func TestMissingFileGoesDownAndRetries(t *testing.T) {
	cam, _ := New(Config{ID: "gone", URL: "/nonexistent/video.mp4",
		Backoff: Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond}}, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var c collector
	go func() { cam.Run(ctx, c.emit); close(done) }()
	waitFor(t, "three reconnect attempts", func() bool { return cam.Status().Reconnects >= 3 })
	st := cam.Status()
	cancel()
	<-done
	if st.State != StateDown && st.State != StateConnecting {
		t.Errorf("state %q, want down", st.State)
	}
	for _, w := range []string{`camera "gone"`, "/nonexistent/video.mp4", "no such file"} {
		if !strings.Contains(st.LastError, w) {
			t.Errorf("last error %q lacks %q", st.LastError, w)
		}
	}
	if c.count() != 0 {
		t.Errorf("%d frames from a missing file", c.count())
	}
}

func TestNotAVideo(t *testing.T) {
	cam, _ := New(Config{ID: "txt", URL: "capture_test.go", Backoff: Backoff{Min: time.Millisecond, Max: time.Millisecond}}, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cam.Run(ctx, func(f *Frame) { f.Close() })
	waitFor(t, "the camera to go down", func() bool { return cam.Status().Reconnects >= 1 })
	if e := cam.Status().LastError; !strings.Contains(e, "capture_test.go") {
		t.Errorf("last error %q", e)
	}
}

// TestReconfigureSwitchesSource: a running camera given a new source moves
// to it at once, with its sequence numbers going on; a camera that is down
// (a missing file, a long backoff) is tried again at once with the new one.
func TestReconfigureSwitchesSource(t *testing.T) {
	cam, _ := New(Config{ID: "cam", URL: "/nonexistent/video.mp4",
		Backoff: Backoff{Min: time.Hour, Max: time.Hour}}, zerolog.Nop())
	var c collector
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cam.Run(ctx, c.emit); close(done) }()
	waitFor(t, "the camera down", func() bool { return cam.Status().State == StateDown })

	if err := cam.Reconfigure(Config{ID: "cam", URL: "testsrc", Width: 320, Height: 240, FPS: 100}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "testsrc frames despite the hour-long backoff", func() bool { return c.count() >= 10 })
	if err := cam.Reconfigure(Config{ID: "cam", URL: assets.Media("Megamind.avi"), Loop: true}); err != nil {
		t.Fatal(err)
	}
	if !cam.Lossless() {
		t.Error("the camera reads a file without pacing now: it must say lossless")
	}
	n := c.count()
	waitFor(t, "file frames", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.sizes) == 2 && len(c.seqs) > n+10
	})
	if err := cam.Reconfigure(Config{ID: "other", URL: "testsrc"}); err == nil {
		t.Error("a camera changed its id")
	}
	if err := cam.Reconfigure(Config{ID: "cam", URL: "rtmp://x"}); err == nil || cam.Config().URL != assets.Media("Megamind.avi") {
		t.Errorf("a bad URL: err %v, config %+v", err, cam.Config())
	}
	st := cam.Status()
	cancel()
	<-done
	if st.Kind != KindFile || st.URL != assets.Media("Megamind.avi") {
		t.Errorf("status %+v", st)
	}
	for i, s := range c.seqs {
		if s != uint64(i+1) {
			t.Fatalf("frame %d has seq %d across the source changes", i, s)
		}
	}
	for i := 1; i < len(c.times); i++ {
		if !c.times[i].After(c.times[i-1]) {
			t.Fatalf("frame %d's time %v is not after frame %d's %v across the source changes", i+1, c.times[i], i, c.times[i-1])
		}
	}
}

// mediaOffset is the presentation time of a file's frame n (from 0) at fps.
func mediaOffset(n int, fps float64) time.Duration {
	return time.Duration(float64(n) * float64(time.Second) / fps)
}

// TestFileMediaClock: a file's frames are stamped with its media clock:
// the first with the time it was read, each next one frame interval
// (1/fps of the container) later, however fast they are read, and on
// across a loop. A new connection to the file (here a reconfigure, while
// the lossless read is far ahead of the wall clock) goes on from one frame
// after the last, never back.
func TestFileMediaClock(t *testing.T) {
	const fps = 23.976 // Megamind.avi's header says so; 270 frames
	cfg := Config{ID: "mm", URL: assets.Media("Megamind.avi"), Loop: true}
	cam, _ := New(cfg, zerolog.Nop())
	var c collector
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { cam.Run(ctx, c.emit); close(done) }()
	waitFor(t, "frames past the first loop", func() bool { return c.count() > 300 })
	c.mu.Lock()
	first := len(c.times)
	c.mu.Unlock()
	if err := cam.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "frames after the reconfigure", func() bool { return c.count() > first+30 })
	cancel()
	<-done

	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.times[0].Equal(c.reads[0]) || c.times[0].Before(start) {
		t.Errorf("first frame: time %v, read %v, run started %v; want the read time", c.times[0], c.reads[0], start)
	}
	for i := 1; i < first; i++ {
		if d := c.times[i].Sub(c.times[0]) - mediaOffset(i, fps); d < -time.Microsecond || d > time.Microsecond {
			t.Fatalf("frame %d is %v from the first, want %v", i+1, c.times[i].Sub(c.times[0]), mediaOffset(i, fps))
		}
	}
	// From the new connection's first frame on, which the reconfigure
	// makes at the first read after it.
	for i := first; i < len(c.times); i++ {
		if d := c.times[i].Sub(c.times[i-1]); d < mediaOffset(1, fps)-time.Microsecond {
			t.Fatalf("frame %d is %v after frame %d, want at least one frame (%v)", i+1, d, i, mediaOffset(1, fps))
		}
	}
	for i := 1; i < len(c.reads); i++ {
		if c.reads[i].Before(c.reads[i-1]) {
			t.Fatalf("frame %d read at %v, before frame %d (%v)", i+1, c.reads[i], i, c.reads[i-1])
		}
	}
}

// TestFrameClock: the stamps of one connection, given the camera's last
// time before it and the read times of its frames.
func TestFrameClock(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	cases := []struct {
		name  string
		fps   float64
		after time.Time
		reads []time.Time
		want  []time.Time
	}{
		{"media: a first connection starts at its first read", 10, time.Time{},
			[]time.Time{ms(0), ms(3), ms(500)}, []time.Time{ms(0), ms(100), ms(200)}},
		{"media: after an earlier last time, from the first read", 10, ms(-1000),
			[]time.Time{ms(0), ms(1)}, []time.Time{ms(0), ms(100)}},
		{"media: the last time is ahead of the wall clock: one frame after it", 10, ms(5000),
			[]time.Time{ms(0), ms(1)}, []time.Time{ms(5100), ms(5200)}},
		{"media: the last time just before the read: one frame after it", 4, ms(-100),
			[]time.Time{ms(0), ms(1)}, []time.Time{ms(150), ms(400)}},
		{"live: the read time", 0, ms(-1000),
			[]time.Time{ms(0), ms(40), ms(1000)}, []time.Time{ms(0), ms(40), ms(1000)}},
		{"live: after a file ahead of the wall clock, moved on by as much", 0, ms(5000),
			[]time.Time{ms(0), ms(40)}, []time.Time{ms(5001), ms(5041)}},
	}
	for _, c := range cases {
		k := frameClock{fps: c.fps, after: c.after}
		for i, r := range c.reads {
			if got := k.stamp(r); !got.Equal(c.want[i]) {
				t.Errorf("%s: frame %d read at %v: %v, want %v", c.name, i, r.Sub(t0), got.Sub(t0), c.want[i].Sub(t0))
			}
		}
	}
}
