//go:build matprofile

package pipeline

import (
	"bytes"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
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
