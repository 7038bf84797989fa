package evidence

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/internal/mediatest"
	"gocv.io/x/gocv"
)

// feeder plays the sample video into a recorder's clip rings as a camera
// at 10 fps would, on a clock of its own.
type feeder struct {
	t   *testing.T
	r   *Recorder
	vc  *gocv.VideoCapture
	img gocv.Mat
	t0  time.Time
	n   int // frames fed
}

func newFeeder(t *testing.T, r *Recorder) *feeder {
	vc, err := gocv.VideoCaptureFile(assets.Media("vtest.avi"))
	if err != nil {
		t.Fatal(err)
	}
	f := &feeder{t: t, r: r, vc: vc, img: gocv.NewMat(), t0: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}
	t.Cleanup(func() { vc.Close(); f.img.Close() })
	return f
}

func (f *feeder) at(d time.Duration) time.Time { return f.t0.Add(d) }

// until feeds frames up to (not including) time d.
func (f *feeder) until(d time.Duration) {
	for f.at(time.Duration(f.n) * 100 * time.Millisecond).Before(f.at(d)) {
		if !f.vc.Read(&f.img) {
			f.t.Fatal("vtest.avi ended")
		}
		f.r.Frame(&capture.Frame{Camera: "cam", Seq: uint64(f.n), Time: f.at(time.Duration(f.n) * 100 * time.Millisecond), Image: f.img})
		f.n++
		// Wait for the ring to take it: a camera's frames come 100 ms
		// apart, never faster than the ring encodes them.
		waitFor(f.t, "the ring to take a frame", func() bool { return len(f.r.clips.in) == 0 })
	}
}

// event asks for a clip of an event at time at, and waits until the
// recorder has taken the request, as a camera's next frames come after
// its events: the test's frames come faster than the worker may take it.
func (f *feeder) event(n int, at time.Duration, w Window) alerts.Message {
	m := event("cam", n)
	m.Time = f.at(at)
	f.r.Capture(f.img, []Request{{Event: m, Clip: &w}})
	waitFor(f.t, "the clip request taken", func() bool { return f.r.clips.waiting(m.ID) })
	return m
}

func TestClipsShowTheirWindowAndOverlappingEventsShareOne(t *testing.T) {
	port := freePort(t)
	startServer(t, port, t.TempDir())
	nc := connect(t, port)
	eventsStream(t, nc)
	r, _ := newRecorder(t, nc, Options{})
	r.SetClipCameras(map[string]time.Duration{"cam": 12 * time.Second})
	f := newFeeder(t, r)
	w := Window{Pre: 2 * time.Second, Post: 2 * time.Second}

	f.until(6 * time.Second)
	first := f.event(1, 6*time.Second, w) // 4 s to 8 s
	f.until(7 * time.Second)
	second := f.event(2, 7*time.Second, w) // overlaps: the clip goes on to 9 s
	f.until(15 * time.Second)
	third := f.event(3, 15*time.Second, w) // 13 s to 17 s, a clip of its own
	f.until(20 * time.Second)
	// A camera that stops: its clip is made, a few seconds late, of the
	// frames there are (to 20.9 s of 24 s).
	fourth := f.event(4, 21*time.Second, Window{Pre: time.Second, Post: 3 * time.Second})
	f.until(21 * time.Second)
	waitFor(t, "every clip stored", func() bool { return testutil.ToFloat64(r.stored.WithLabelValues("cam")) == 4 })

	recs := map[string]Record{}
	for _, rec := range records(t, nc) {
		recs[rec.Event.ID] = rec
	}
	if recs[first.ID].Clip == "" || recs[first.ID].Clip != recs[second.ID].Clip || recs[third.ID].Clip == recs[first.ID].Clip {
		t.Fatalf("clips: first %q, second %q, third %q", recs[first.ID].Clip, recs[second.ID].Clip, recs[third.ID].Clip)
	}
	b := r.Bucket()
	check := func(name string, frames int, seconds float64) {
		t.Helper()
		data, err := b.Get(context.Background(), name)
		if err != nil {
			t.Fatalf("clip %s: %v", name, err)
		}
		path := filepath.Join(t.TempDir(), "clip.webm")
		os.WriteFile(path, data, 0o644)
		p := mediatest.ProbeFile(t, path)
		// Within a frame: the ends of a window fall on frames or between.
		if p.Codec != "vp8" || p.Width != 768 || p.Frames < frames-1 || p.Frames > frames+1 || p.Duration < seconds-0.15 || p.Duration > seconds+0.15 {
			t.Errorf("clip %s: %+v, want about %d frames, %.1f s", name, p, frames, seconds)
		}
	}
	check(recs[first.ID].Clip, 51, 5.1)  // 4 s to 9 s, both ends in
	check(recs[third.ID].Clip, 41, 4.1)  // 13 s to 17 s: cut after a keyframe (12 s)
	check(recs[fourth.ID].Clip, 11, 1.1) // 20 s to 20.9 s: the camera stopped
	if got := testutil.ToFloat64(r.ringSkipped); got != 0 {
		t.Errorf("%v frames skipped by the ring", got)
	}
	// The third clip starts between keyframes: its first frame is the one
	// at 13 s, encoded again, and its second second is the ring's own.
	shown := decodeClip(t, b, recs[third.ID].Clip)
	if len(shown) != 41 {
		t.Fatalf("third clip decodes to %d frames, want 41", len(shown))
	}
	for _, k := range []int{0, 9, 10, 40} {
		if db := psnr(shown[k], sampleFrame(t, 130+k)); db < 32 { // the neighbouring frame is about 27 dB away
			t.Errorf("third clip's frame %d is %.1f dB from the video's frame %d; want ≥ 32", k, db, 130+k)
		}
	}
	// The ring keeps 12 s (and up to a keyframe interval) of VP8 at 1
	// Mbit/s, about 1.8 MB, not the whole video.
	if n := r.clips.ringBytes(); n <= 0 || n > 3_000_000 {
		t.Errorf("ring holds %d bytes", n)
	}
	// The camera taken out: its ring, encoder and series go.
	r.SetClipCameras(nil)
	r.RemoveCamera("cam")
	if r.clips.encoders.Load() != 1 {
		t.Errorf("%d ring encoders before, want 1", r.clips.encoders.Load())
	}
	waitFor(t, "the camera's ring encoder closed", func() bool { return r.clips.encoders.Load() == 0 })
	if n := r.clips.ringBytes(); n != 0 || testutil.CollectAndCount(r.stored) != 0 {
		t.Errorf("after removal: ring %d bytes, %d stored series", n, testutil.CollectAndCount(r.stored))
	}
}

// decodeClip decodes a stored clip with OpenCV.
func decodeClip(t *testing.T, b *Bucket, name string) []gocv.Mat {
	t.Helper()
	data, err := b.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("clip %s: %v", name, err)
	}
	path := filepath.Join(t.TempDir(), "clip.webm")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	var out []gocv.Mat
	for {
		m := gocv.NewMat()
		if !vc.Read(&m) || m.Empty() {
			m.Close()
			break
		}
		out = append(out, m)
	}
	t.Cleanup(func() {
		for _, m := range out {
			m.Close()
		}
	})
	return out
}

// sampleFrame is frame k of the sample video.
func sampleFrame(t testing.TB, k int) gocv.Mat { return mediatest.SampleFrames(t, k, 1)[0] }

// psnr of a against b, in dB.
func psnr(a, b gocv.Mat) float64 {
	d := gocv.NormWithMats(a, b, gocv.NormL2)
	return 10 * math.Log10(255*255*float64(a.Rows()*a.Cols()*a.Channels())/(d*d+1e-9))
}

// TestAClipWaitsOutAnOutage: a clip made while NATS is away waits in the
// spool with its event's snapshot, and both arrive once it is back, once.
func TestAClipWaitsOutAnOutage(t *testing.T) {
	port, store := freePort(t), t.TempDir()
	srv := startServer(t, port, store)
	nc := connect(t, port)
	eventsStream(t, nc)
	r, _ := newRecorder(t, nc, Options{})
	r.SetClipCameras(map[string]time.Duration{"cam": 6 * time.Second})
	f := newFeeder(t, r)
	f.until(3 * time.Second)
	srv.Shutdown() // NATS goes away as the event happens
	srv.WaitForShutdown()
	m := event("cam", 1)
	m.Time = f.at(3 * time.Second)
	r.Capture(f.img, []Request{{Event: m, Shot: &Shot{}, Clip: &Window{Pre: time.Second, Post: time.Second}}})
	f.until(5 * time.Second)
	waitFor(t, "the snapshot and the clip spooled", func() bool { return r.Spool().Len() == 2 })

	startServer(t, port, store)
	waitFor(t, "both stored", func() bool { return r.Spool().Len() == 0 })
	recs := records(t, nc)
	if len(recs) != 2 || recs[0].Clip != "" || recs[1].Clip != ClipName("cam", m.ID) || recs[1].Snapshot != SnapshotName("cam", m.ID) {
		t.Fatalf("records %+v", recs)
	}
	data, err := r.Bucket().Get(context.Background(), recs[1].Clip)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "clip.webm")
	os.WriteFile(path, data, 0o644)
	if p := mediatest.ProbeFile(t, path); p.Frames < 20 || p.Frames > 22 {
		t.Errorf("clip %+v, want 2 s", p)
	}
}

// TestACameraWithoutClipsKeepsNoRing: frames of a camera no rule wants
// clips of are not kept, nor encoded.
func TestACameraWithoutClipsKeepsNoRing(t *testing.T) {
	port := freePort(t)
	startServer(t, port, t.TempDir())
	nc := connect(t, port)
	r, _ := newRecorder(t, nc, Options{})
	r.SetClipCameras(map[string]time.Duration{"other": 5 * time.Second})
	f := newFeeder(t, r) // plays camera "cam"
	f.until(3 * time.Second)
	if n, e := r.clips.ringBytes(), r.clips.encoders.Load(); n != 0 || e != 0 {
		t.Errorf("a camera without clips: %d bytes kept, %d encoders", n, e)
	}
}

// TestAClipLongerThanTheRingKeepsItsStart: events that keep extending a
// clip make it longer than the ring's seconds; the ring keeps what the
// clip shows until it is made.
func TestAClipLongerThanTheRingKeepsItsStart(t *testing.T) {
	port := freePort(t)
	startServer(t, port, t.TempDir())
	nc := connect(t, port)
	eventsStream(t, nc)
	r, _ := newRecorder(t, nc, Options{})
	r.SetClipCameras(map[string]time.Duration{"cam": 6 * time.Second}) // 2 s + 2 s + 2 s
	f := newFeeder(t, r)
	w := Window{Pre: 2 * time.Second, Post: 2 * time.Second}
	var first alerts.Message
	for i, at := range []time.Duration{3, 5, 7, 9} { // each comes before the clip ends: one clip, 1 s to 11 s
		f.until(at * time.Second)
		m := f.event(i+1, at*time.Second, w)
		if i == 0 {
			first = m
		}
	}
	f.until(12 * time.Second)
	waitFor(t, "the clip stored", func() bool { return testutil.ToFloat64(r.stored.WithLabelValues("cam")) == 4 })
	data, err := r.Bucket().Get(context.Background(), ClipName("cam", first.ID))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "clip.webm")
	os.WriteFile(path, data, 0o644)
	if p := mediatest.ProbeFile(t, path); p.Frames < 100 || p.Frames > 102 || p.Duration < 10 || p.Duration > 10.3 {
		t.Errorf("clip %+v, want 101 frames, 10.1 s (1 s to 11 s, longer than the ring's 6 s)", p)
	}
}
