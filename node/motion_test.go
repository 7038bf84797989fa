package node

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/internal/scenes"
)

// stillVideo writes frames of vtest.avi's background, with sensor noise, as
// a video: a scene where nothing moves.
func stillVideo(t *testing.T, frames int) string {
	t.Helper()
	bg, err := scenes.Background(assets.Media("vtest.avi"), 9)
	if err != nil {
		t.Fatal(err)
	}
	defer bg.Close()
	path := filepath.Join(t.TempDir(), "still.avi")
	if err := scenes.Write(path, 10, scenes.Still{BG: bg, Noise: 2, Seed: 1}, assets.Media("vtest.avi"), []scenes.Segment{{Frames: frames}}); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMotionGatingFollowsTheConfig: by default a camera on a still scene
// has its frames held from the detector once the motion background has
// formed, published with detected false, and /api/cameras shows the
// saving; "motion: off" for the camera, reloaded while it runs, sends
// every frame to the detector again.
func TestMotionGatingFollowsTheConfig(t *testing.T) {
	path := stillVideo(t, 40)
	cam := func(motion string) string {
		return fmt.Sprintf("cameras:\n  - {id: still, url: %s, realtime: false, loop: true%s}\n", path, motion)
	}
	head := header(t)
	tn := startNode(t, head+cam(""))
	held := func() int {
		tn.mu.Lock()
		defer tn.mu.Unlock()
		n := 0
		for _, m := range tn.tracks["still"] {
			if !m.Detected && m.Gate == "still" {
				n++
			}
		}
		return n
	}
	waitUntil(t, "frames held from the detector", func() bool { return held() >= 20 })
	var cams []struct {
		Camera string
		Motion *struct {
			Frames map[string]uint64
			Saving float64
		}
	}
	tn.call("GET", "/api/cameras", "", &cams)
	if len(cams) != 1 || cams[0].Motion == nil || cams[0].Motion.Frames["still"] == 0 || cams[0].Motion.Saving <= 0 {
		t.Fatalf("/api/cameras = %+v, want the motion gating's counts", cams)
	}

	tn.write(head + cam(", motion: off"))
	if _, err := tn.Reload("file"); err != nil {
		t.Fatal(err)
	}
	before := tn.count("still")
	waitUntil(t, "frames after motion: off", func() bool { return tn.count("still") >= before+10 })
	tn.mu.Lock()
	defer tn.mu.Unlock()
	msgs := tn.tracks["still"]
	for _, m := range msgs[len(msgs)-5:] {
		if !m.Detected || m.Gate != "off" {
			t.Errorf("seq %d after motion: off: detected %v, gate %q", m.Seq, m.Detected, m.Gate)
		}
	}
	if !strings.Contains(tn.metrics(), `vigil_gate_frames_total{camera="still",reason="off"}`) {
		t.Error("no vigil_gate_frames_total series for reason off")
	}
}
