package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/mot"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/track"
)

// vigil runs the binary under test and returns its standard output, its
// standard error and its exit status.
func vigil(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(vigilBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	}
	t.Fatal(err)
	return "", "", -1
}

// scriptedBox is one detection of a scripted scene, in MOTChallenge terms.
type scriptedBox struct {
	x, y, w, h, score float64
}

// scriptedScene: A walks right and B walks left across A's path; B is
// hidden for 5 frames as they cross and comes back with two low-score
// frames; C stands still scoring below new_track_threshold, so it never
// becomes a track; one-frame clutter appears now and then.
func scriptedScene() [][]scriptedBox {
	frames := make([][]scriptedBox, 41) // frames 1..40
	for k := 1; k <= 40; k++ {
		fk := float64(k)
		frames[k] = append(frames[k], scriptedBox{100 + 6*fk, 200, 40, 100, 0.9})
		switch {
		case k >= 20 && k <= 24:
		case k == 25 || k == 26:
			frames[k] = append(frames[k], scriptedBox{400 - 6*fk, 205, 40, 100, 0.3})
		default:
			frames[k] = append(frames[k], scriptedBox{400 - 6*fk, 205, 40, 100, 0.85})
		}
		if k >= 10 {
			frames[k] = append(frames[k], scriptedBox{700, 300, 30, 70, 0.55})
		}
		if k%7 == 0 {
			frames[k] = append(frames[k], scriptedBox{50 + 20*fk, 500, 35, 80, 0.7})
		}
	}
	return frames
}

func writeDet(t *testing.T, frames [][]scriptedBox) string {
	t.Helper()
	var b strings.Builder
	for f, boxes := range frames {
		for _, d := range boxes {
			fmt.Fprintf(&b, "%d,-1,%g,%g,%g,%g,%g,-1,-1,-1\n", f, d.x, d.y, d.w, d.h, d.score)
		}
	}
	return writeFile(t, "det.txt", b.String())
}

// pipelineTracks runs the same boxes through pipeline.Tracking directly, as
// the live pipeline's tracking stage does when frame f reaches it at
// (f−1)/fps seconds.
func pipelineTracks(frames [][]scriptedBox, cfg track.Config, fps float64) []mot.Row {
	tracking := pipeline.NewTracking(cfg)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []mot.Row
	for f := 1; f < len(frames); f++ {
		var dets []detect.Detection
		for _, d := range frames[f] {
			dets = append(dets, detect.Detection{Label: "person", Score: float32(d.score), Box: detect.Box{
				X1: float32(d.x), Y1: float32(d.y), X2: float32(d.x + d.w), Y2: float32(d.y + d.h),
			}})
		}
		at := start.Add(time.Duration(float64(f-1) / fps * float64(time.Second)))
		for _, tr := range tracking.UpdateAt("cam1", dets, at) {
			e := tr.Estimate // what vigil track writes
			out = append(out, mot.Row{Frame: f, ID: int(tr.ID),
				Box: mot.Box{X: e.X1, Y: e.Y1, W: e.X2 - e.X1, H: e.Y2 - e.Y1}})
		}
	}
	return out
}

func sameTracks(t *testing.T, got, want []mot.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d result rows, pipeline gives %d:\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		near := func(a, b float64) bool { return math.Abs(a-b) < 0.006 }
		if g.Frame != w.Frame || g.ID != w.ID || !near(g.Box.X, w.Box.X) || !near(g.Box.Y, w.Box.Y) ||
			!near(g.Box.W, w.Box.W) || !near(g.Box.H, w.Box.H) {
			t.Fatalf("row %d: vigil track %+v, pipeline %+v", i, g, w)
		}
	}
}

func TestTrackReproducesPipelineIDs(t *testing.T) {
	frames := scriptedScene()
	det := writeDet(t, frames)
	out := filepath.Join(t.TempDir(), "res.txt")
	if _, stderr, code := vigil(t, "track", "--det", det, "-o", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := mot.ReadFile(out, mot.Results)
	if err != nil {
		t.Fatal(err)
	}
	want := pipelineTracks(frames, config.Default().Tracker.TrackConfig(), track.BaseFPS)
	sameTracks(t, got, want)

	// The scene exercises what it should: A and B keep their IDs through
	// the crossing and B's absence, C and the clutter never get one.
	ids := map[int]int{}
	for _, r := range want {
		ids[r.ID]++
	}
	if len(ids) != 2 {
		t.Fatalf("pipeline gave IDs %v, want two (A and B)", ids)
	}
}

// TestTrackFrameRateScalesBuffer: an object hidden for 15 frames keeps its
// ID with the 30-frame (one second) buffer, but not at 10 fps, where 15
// frames are 1.5 s; tracker flags reach the tracker too.
func TestTrackFrameRateScalesBuffer(t *testing.T) {
	frames := make([][]scriptedBox, 36)
	for k := 1; k <= 35; k++ {
		if k <= 10 || k > 25 {
			frames[k] = []scriptedBox{{300, 200, 50, 120, 0.9}}
		}
	}
	det := writeDet(t, frames)
	tests := []struct {
		name       string
		flags      []string
		fps        float64
		buffer     int    // buffer_frames
		wantBuffer string // as vigil track reports it
		wantIDs    int
	}{
		{"no frame rate", nil, 30, 30, "1s: 30 frames at 30 fps", 1},
		{"30 fps", []string{"--fps", "30"}, 30, 30, "1s: 30 frames at 30 fps", 1},
		{"10 fps", []string{"--fps", "10"}, 10, 30, "1s: 10 frames at 10 fps", 2},
		{"10 fps, longer buffer", []string{"--fps", "10", "--buffer-frames", "60"}, 10, 60, "2s: 20 frames at 10 fps", 1},
		{"min hits 5", []string{"--min-hits", "5"}, 30, 30, "1s: 30 frames at 30 fps", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "res.txt")
			stdout, stderr, code := vigil(t, append([]string{"track", "--det", det, "-o", out}, tc.flags...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s%s", code, stdout, stderr)
			}
			if want := "(buffer " + tc.wantBuffer + ")"; !strings.Contains(stderr, want) {
				t.Errorf("stderr %q lacks %q", stderr, want)
			}
			got, err := mot.ReadFile(out, mot.Results)
			if err != nil {
				t.Fatal(err)
			}
			ids := map[int]bool{}
			for _, r := range got {
				ids[r.ID] = true
			}
			if len(ids) != tc.wantIDs {
				t.Errorf("IDs %v, want %d", ids, tc.wantIDs)
			}
			cfg := config.Default().Tracker.TrackConfig()
			cfg.BufferFrames = tc.buffer
			if tc.name == "min hits 5" {
				cfg.MinHits = 5
			}
			sameTracks(t, got, pipelineTracks(frames, cfg, tc.fps))
		})
	}
}

func TestTrackBadInput(t *testing.T) {
	good := writeFile(t, "det.txt", "1,-1,10,10,20,40,0.9,-1,-1,-1\n")
	cfg := writeFile(t, "vigil.yaml", "tracker:\n  min_hits: 0\n")
	tests := []struct {
		name     string
		det      string // file body; "" for none
		args     []string
		wantCode int
		want     []string
	}{
		{name: "wrong column count", det: "1,-1,10,10,20,40,0.9\n2,-1,10,10\n", wantCode: 1,
			want: []string{"det.txt:2: 4 fields, want 7 to 10"}},
		{name: "not a number", det: "1,-1,10,10,20,40,0.9\n1,-1,10,ten,20,40,0.9\n", wantCode: 1,
			want: []string{"det.txt:2: field 4 (y): \"ten\" is not a number"}},
		{name: "negative height", det: "1,-1,10,10,20,-40,0.9\n", wantCode: 1,
			want: []string{"det.txt:1: field 6 (h): -40 is negative"}},
		{name: "missing file", args: []string{"--det", "/nonexistent/det.txt", "-o", "-"}, wantCode: 1,
			want: []string{"/nonexistent/det.txt"}},
		{name: "no sequences in a directory", args: []string{"--det", "EMPTY", "-o", "-"}, wantCode: 1,
			want: []string{"no sequences", "<seq>/det/det.txt"}},
		{name: "no -o", args: []string{"--det", good}, wantCode: 2, want: []string{"-o are required"}},
		{name: "invalid threshold flag", args: []string{"--det", good, "-o", "-", "--low-threshold", "0.7"}, wantCode: 2,
			want: []string{"--low-threshold (tracker.low_threshold)", "must be below tracker.high_threshold"}},
		{name: "invalid config tracker section", args: []string{"--det", good, "-o", "-", "--config", cfg}, wantCode: 1,
			want: []string{"vigil.yaml", "tracker.min_hits"}},
		{name: "negative fps", args: []string{"--det", good, "-o", "-", "--fps", "-1"}, wantCode: 2, want: []string{"--fps"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			for i, a := range args {
				if a == "EMPTY" {
					args[i] = t.TempDir()
				}
			}
			if tc.det != "" {
				args = []string{"--det", writeFile(t, "det.txt", tc.det), "-o", filepath.Join(t.TempDir(), "out.txt")}
			}
			_, stderr, code := vigil(t, append([]string{"track"}, args...)...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestTrackThenEvalDirectories runs both tools over a MOTChallenge layout of
// synthetic sequences, one with a seqinfo.ini frame rate of 14.
func TestTrackThenEvalDirectories(t *testing.T) {
	root, res := t.TempDir(), t.TempDir()
	for _, s := range []struct {
		name string
		seed uint64
		opts mot.SynthOptions
	}{
		{"SYN-01", 1, mot.SynthOptions{Frames: 120}},
		{"SYN-02", 2, mot.SynthOptions{Frames: 60, FPS: 14}},
	} {
		if err := mot.WriteSequence(filepath.Join(root, s.name), mot.Synth(s.seed, s.opts)); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(root, "not-a-sequence"), 0o755)
	_, stderr, code := vigil(t, "track", "--det", root, "-o", res)
	if code != 0 {
		t.Fatalf("track: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "SYN-02.txt") || !strings.Contains(stderr, "(buffer 1s: 14 frames at 14 fps)") {
		t.Errorf("track stderr lacks SYN-02 at 14 fps:\n%s", stderr)
	}

	stdout, stderr, code := vigil(t, "eval", "mot", "--gt", root, "--res", res)
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(strings.TrimSpace(lines[1]), "SYN-01") ||
		!strings.HasPrefix(strings.TrimSpace(lines[3]), "OVERALL") || !strings.Contains(lines[0], "IDF1") {
		t.Fatalf("table:\n%s", stdout)
	}
	for _, l := range lines[1:] {
		if len(l) != len(lines[0]) {
			t.Errorf("columns not aligned:\n%s", stdout)
			break
		}
	}
}
