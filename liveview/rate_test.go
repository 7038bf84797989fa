package liveview

import (
	"testing"
	"time"

	"github.com/vigil-vision/vigil/capture"
)

// TestVideoRunsAtCameraRate: a camera faster than the detector is still
// drawn and encoded frame by frame, not only on the frames the detector
// processed.
func TestVideoRunsAtCameraRate(t *testing.T) {
	e, err := startEnv(envOptions{camera: &capture.Config{ID: "demo", URL: "testsrc", FPS: 30, Width: 320, Height: 240}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop()
	v, offer, err := newGoViewer()
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	v.dial(t, e, "demo", offer)
	waitFor(t, 30*time.Second, "video", func() bool { return v.keyframes.Load() > 0 })
	p0, f0 := e.metric(t, `vigil_frames_processed_total{camera="demo"}`), e.metric(t, `vigil_liveview_frames_encoded_total{camera="demo"}`)
	waitFor(t, 60*time.Second, "20 processed frames", func() bool {
		return e.metric(t, `vigil_frames_processed_total{camera="demo"}`)-p0 >= 20
	})
	processed := e.metric(t, `vigil_frames_processed_total{camera="demo"}`) - p0
	encoded := e.metric(t, `vigil_liveview_frames_encoded_total{camera="demo"}`) - f0
	dropped := e.metric(t, `vigil_frames_dropped_total{camera="demo",reason="detector_busy",stage="detect"}`)
	t.Logf("processed %v, encoded %v, detector dropped %v so far", processed, encoded, dropped)
	if dropped <= 0 {
		t.Skip("the detector kept up with 30 fps on this machine; nothing to show")
	}
	if encoded <= processed {
		t.Errorf("encoded %v frames while the detector processed %v: the video follows the detector, not the camera", encoded, processed)
	}
}

// TestProcessedOnly draws and sends only processed frames: never more
// frames encoded than processed.
func TestProcessedOnly(t *testing.T) {
	e, err := startEnv(envOptions{processedOnly: true, camera: &capture.Config{ID: "demo", URL: "testsrc", FPS: 30, Width: 320, Height: 240}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop()
	v, offer, err := newGoViewer()
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	v.dial(t, e, "demo", offer)
	waitFor(t, 30*time.Second, "video", func() bool { return v.keyframes.Load() > 0 && v.packets.Load() > 20 })
	processed := e.metric(t, `vigil_frames_processed_total{camera="demo"}`)
	encoded := e.metric(t, `vigil_liveview_frames_encoded_total{camera="demo"}`)
	if encoded <= 0 || encoded > processed {
		t.Errorf("encoded %v frames, processed %v: processed_only sends processed frames only", encoded, processed)
	}
}
