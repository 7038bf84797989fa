//go:build matprofile

package infer

import (
	"testing"

	"github.com/rs/zerolog"
	"gocv.io/x/gocv"
)

// TestNoMatLeft runs every path of the frame a Remote keeps for its Watch
// — kept and measured by a check, kept and let go by Close, offered after
// Close — and counts the Mats still open. Run with -tags matprofile.
func TestNoMatLeft(t *testing.T) {
	before := gocv.MatProfile.Count()
	here, server := profiles(t)
	r := &Remote{}
	w, err := newWatch(WatchOptions{Goal: "latency", Local: here, Server: server, Logger: zerolog.Nop()}, nil, Uint8, 90)
	if err != nil {
		t.Fatal(err)
	}
	w.o.Remote = r
	img := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	r.keepSample(img)
	r.keepSample(img) // one is kept at a time
	if st := w.Check(); st.Waiting == "" || len(w.costs) != 1 {
		t.Errorf("the check measured %d frames: %+v", len(w.costs), st)
	}
	r.keepSample(img)
	r.Close()
	r.keepSample(img)
	if m := r.takeSample(); m != nil {
		t.Errorf("a frame kept after Close")
	}
	img.Close()
	if n := gocv.MatProfile.Count() - before; n != 0 {
		t.Errorf("%d Mats left open", n)
	}
}
