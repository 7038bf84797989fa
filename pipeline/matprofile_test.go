//go:build matprofile

package pipeline

import (
	"bytes"
	"testing"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
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
