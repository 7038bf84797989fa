//go:build matprofile

package liveview

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// TestNoMatLeft runs the live view's every Mat path (tap clones, drawing,
// the encoder's conversion, MJPEG and snapshots, a viewer that joins and one
// that is still there at shutdown) and counts the Mats left open after the
// pipeline and the live view have stopped. Run with -tags matprofile.
func TestNoMatLeft(t *testing.T) {
	before := gocv.MatProfile.Count()
	e, err := startEnv(envOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			e.stop()
		}
	}()

	left, offer, err := newGoViewer()
	if err != nil {
		t.Fatal(err)
	}
	defer left.close()
	left.dial(t, e, "demo", offer)
	stays, offer2, err := newGoViewer()
	if err != nil {
		t.Fatal(err)
	}
	defer stays.close()
	stays.dial(t, e, "demo", offer2)
	waitFor(t, 30*time.Second, "video", func() bool { return left.keyframes.Load() > 0 && stays.keyframes.Load() > 0 })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/api/cameras/demo/mjpeg", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 64<<10))
	for _, q := range []string{"", "?raw=1"} {
		if code, _, _ := e.request(t, "GET", "/api/cameras/demo/snapshot.jpg"+q, "", "", false); code != 200 {
			t.Fatalf("snapshot%s: %d", q, code)
		}
	}
	if code, _, _ := e.request(t, "DELETE", left.location, "", "", false); code != 200 {
		t.Fatalf("DELETE: %d", code)
	}
	// Shut down with a viewer and an MJPEG stream still open.
	e.stop()
	stopped = true
	resp.Body.Close()
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats left open:\n%s", n, b.String())
	}
}

// TestNoMatLeftAfterRemove removes the pipeline's camera from the live view
// while a viewer and an MJPEG stream watch it, adds it back (the pipeline
// feeds it all along), watches it again and removes it again, then counts
// the Mats left open once everything has stopped.
func TestNoMatLeftAfterRemove(t *testing.T) {
	before := gocv.MatProfile.Count()
	e, err := startEnv(envOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			e.stop()
		}
	}()
	for round := range 2 {
		if round > 0 {
			if err := e.lv.AddCamera(e.cam); err != nil {
				t.Fatal(err)
			}
		}
		v, offer, err := newGoViewer()
		if err != nil {
			t.Fatal(err)
		}
		defer v.close()
		v.dial(t, e, "demo", offer)
		waitFor(t, 30*time.Second, "video", func() bool { return v.keyframes.Load() > 0 })
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/api/cameras/demo/mjpeg", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(resp.Body, make([]byte, 64<<10))
		e.lv.RemoveCamera("demo")
		resp.Body.Close()
	}
	e.stop()
	stopped = true
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats left open:\n%s", n, b.String())
	}
}

// TestNoMatLeftInChurn counts the Mats left by the race test's churn.
func TestNoMatLeftInChurn(t *testing.T) {
	before := gocv.MatProfile.Count()
	for _, processedOnly := range []bool{false, true} {
		churn(t, processedOnly)
	}
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats left open:\n%s", n, b.String())
	}
}
