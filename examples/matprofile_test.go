//go:build matprofile

package examples

import (
	"bytes"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gocv.io/x/gocv"
)

// TestNoMatLeft offers frames on every path (taken, duplicate, queue
// full, closed) and counts the Mats still open. Run with -tags matprofile.
func TestNoMatLeft(t *testing.T) {
	before := gocv.MatProfile.Count()
	img := gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8UC3)
	c := &Capture{Store: &Folder{Dir: t.TempDir()}, Sampler: &Sampler{MaxDistance: -1}, QueueSize: 1, Registerer: prometheus.NewRegistry()}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	s := Strategies{CountMin: 0, CountMax: 5, Random: 1}
	for i := range 20 {
		c.Offer(s, &Frame{Camera: "a", Time: t0, Width: 64, Height: 48}, img)
		if i == 10 {
			c.Sampler.MaxDistance = 64
		}
	}
	c.Close()
	c.Offer(s, &Frame{Camera: "a", Time: t0}, img)
	img.Close()
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Errorf("%d Mats left open:\n%s", n, b.String())
	}
}
