//go:build matprofile

package pipeline

import (
	"bytes"
	"image"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/internal/scenes"
	"github.com/vigil-vision/vigil/motion"
	"github.com/vigil-vision/vigil/track"
	"gocv.io/x/gocv"
)

// TestNoMatLeft runs live, lossless and failing cameras through the
// pipeline, with drops and a shutdown mid-stream, and then counts the Mats
// still open. Run with -tags matprofile.
func TestNoMatLeft(t *testing.T) {
	before := gocv.MatProfile.Count()
	live := camera(t, capture.Config{ID: "live", URL: "testsrc", FPS: 50, Width: 320, Height: 240})
	file := camera(t, capture.Config{ID: "file", URL: assets.Media("vtest.avi")})
	bad := camera(t, capture.Config{ID: "bad", URL: "/nonexistent.mp4"})
	p, _, _ := run(t, Options{Cameras: []*capture.Camera{live, file, bad}, MaxFrames: 10})
	if p.Processed() != 10 {
		t.Fatalf("processed %d", p.Processed())
	}
	p.opts.Detector.(interface{ Close() error }).Close()
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats left open:\n%s", n, b.String())
	}
}

// TestReconfigureNoMatLeft adds, moves and removes cameras and swaps a
// detector on a running pipeline, then counts the Mats still open.
func TestReconfigureNoMatLeft(t *testing.T) {
	before := gocv.MatProfile.Count()
	rec := newSeqRecorder()
	a := detectorThreads(t, 1)
	p, err := New(Options{
		Cameras: []*capture.Camera{losslessFile(t, "file")}, Groups: []Group{{Name: "a", Detector: a, Cameras: []string{"file"}}},
		Tracker: track.DefaultConfig(), Sinks: []Sink{rec}, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	live := camera(t, capture.Config{ID: "live", URL: "testsrc", FPS: 50, Width: 320, Height: 240})
	if err := p.AddCamera(live, "a"); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "live results", func() bool { return rec.count("live") >= 3 })
	b := detectorThreads(t, 1)
	if err := p.AddGroup(Group{Name: "b", Detector: b}); err != nil {
		t.Fatal(err)
	}
	if err := p.MoveCamera("live", "b"); err != nil {
		t.Fatal(err)
	}
	c := detectorThreads(t, 1)
	if _, err := p.SwapDetector("a", c, nil, "c"); err != nil {
		t.Fatal(err)
	}
	n := rec.count("file")
	rec.waitFor(t, "file results after the swap", func() bool { return rec.count("file") >= n+3 })
	if err := p.RemoveCamera("live"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.RemoveGroup("b"); err != nil {
		t.Fatal(err)
	}
	stop()
	for _, d := range []interface{ Close() error }{a, b, c} {
		d.Close()
	}
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats left open:\n%s", n, b.String())
	}
}

// TestRegionsNoMatLeft runs a large frame looked at in crops (each a Region
// view of the frame) through the overlapped detector, then counts the Mats
// still open.
func TestRegionsNoMatLeft(t *testing.T) {
	video := assets.Media("vtest.avi")
	large, err := scenes.NewLarge(video, image.Pt(1920, 1080), 0.5, 3)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "large.avi")
	if err := large.Write(path, 10, video, 60, 20); err != nil {
		t.Fatal(err)
	}
	large.Close()
	before := gocv.MatProfile.Count()
	det := detectorThreads(t, 1)
	frames, p := runScene(t, det, path, &Gate{Motion: motion.Options{Settle: 2}, Regions: &Regions{}})
	if c, _ := p.Gating("scene"); len(frames) != 20 || c.Crops == 0 {
		t.Fatalf("%d results, %d crops; want 20 results, some in crops", len(frames), c.Crops)
	}
	det.Close()
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats left open:\n%s", n, b.String())
	}
}
