//go:build matprofile

package evidence

import (
	"bytes"
	"image"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/capture"
	"gocv.io/x/gocv"
)

// TestNoMatLeft runs every path that makes Mats — snapshots, a full
// encoder queue, the clip rings (kept, skipped, a camera dropped), clips,
// frames after Close — and counts the Mats still open. Run with -tags
// matprofile.
func TestNoMatLeft(t *testing.T) {
	before := gocv.MatProfile.Count()
	port := freePort(t)
	startServer(t, port, t.TempDir())
	nc := connect(t, port)
	eventsStream(t, nc)
	r, _ := newRecorder(t, nc, Options{QueueSize: 1, Clip: ClipOptions{MaxWidth: 320}})
	r.SetClipCameras(map[string]time.Duration{"cam": 4 * time.Second, "gone": time.Second})
	img := gocv.NewMatWithSize(240, 400, gocv.MatTypeCV8UC3) // wider than MaxWidth: scaled
	t0 := time.Now()
	for i := range 40 {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		r.Frame(&capture.Frame{Camera: "cam", Time: at, Image: img})
		r.Frame(&capture.Frame{Camera: "gone", Time: at, Image: img})
		if i%10 == 5 {
			m := event("cam", i)
			m.Time = at
			r.Capture(img, []Request{{Event: m, Shot: &Shot{Box: image.Rect(10, 10, 50, 90)}, Clip: &Window{Pre: time.Second, Post: time.Second}}})
		}
		if i == 20 {
			r.SetClipCameras(map[string]time.Duration{"cam": 4 * time.Second})
		}
	}
	r.Close(5 * time.Second)
	r.Frame(&capture.Frame{Camera: "cam", Time: t0, Image: img})
	r.Capture(img, []Request{{Event: event("cam", 99), Shot: &Shot{}}})
	img.Close()
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Errorf("%d Mats left open:\n%s", n, b.String())
	}
}
