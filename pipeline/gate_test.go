package pipeline

import (
	"context"
	"fmt"
	"image"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/scenes"
	"github.com/vigil-vision/vigil/motion"
	"github.com/vigil-vision/vigil/rules"
	"github.com/vigil-vision/vigil/track"
	"gocv.io/x/gocv"
)

// frameLog is a sink that keeps, per frame, what gating decided and the
// tracks published.
type frameLog struct {
	mu     sync.Mutex
	frames []loggedFrame
}

type loggedFrame struct {
	seq     uint64
	skipped bool
	gate    string
	tracks  []track.Track
	dets    []detect.Detection
	regions []image.Rectangle
}

func (l *frameLog) Consume(r *Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.frames = append(l.frames, loggedFrame{seq: r.Frame.Seq, skipped: r.Skipped, gate: r.Gate, tracks: slices.Clone(r.Tracks),
		dets: slices.Clone(r.Detections), regions: slices.Clone(r.Regions)})
}

// ids are a frame's track ids, sorted.
func (f loggedFrame) ids() []uint64 {
	out := make([]uint64, len(f.tracks))
	for i, t := range f.tracks {
		out[i] = t.ID
	}
	slices.Sort(out)
	return out
}

// runScene runs the file at path losslessly, with gate (nil: none), and
// returns every frame's record.
func runScene(t *testing.T, det *detect.Detector, path string, gate *Gate, opts ...func(*Options)) ([]loggedFrame, *Pipeline) {
	t.Helper()
	cam := camera(t, capture.Config{ID: "scene", URL: path, Realtime: false, Loop: false})
	log := &frameLog{}
	o := Options{Cameras: []*capture.Camera{cam}, Detector: det, Tracker: track.DefaultConfig(), Sinks: []Sink{log},
		Registry: prometheus.NewRegistry(), Logger: zerolog.Nop()}
	if gate != nil {
		o.Gates = map[string]*Gate{"scene": gate}
	}
	for _, f := range opts {
		f(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang guard
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	for i, f := range log.frames {
		if f.seq != uint64(i+1) {
			t.Fatalf("result %d is seq %d: a lossless camera lost or reordered frames (gate %v)", i, f.seq, gate != nil)
		}
	}
	return log.frames, p
}

// stillScene is vtest.avi's background with sensor noise and a slow drift.
func stillScene(t *testing.T) scenes.Still {
	t.Helper()
	bg, err := scenes.Background(assets.Media("vtest.avi"), 9)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bg.Close() })
	return scenes.Still{BG: bg, Noise: 2, Drift: 0.05, Seed: 7}
}

// TestGateHoldsStillFramesLossless: on a scene that is still, then shows
// vtest.avi's walkers, then is still again, read losslessly: every frame
// gives a result in order; the detector sees every frame of the walkers
// and few of the still ones; a held frame publishes the tracks of the
// last detected one; the person counts are those of the ungated run; and
// two gated runs decide and track the same, frame for frame.
func TestGateHoldsStillFramesLossless(t *testing.T) {
	plan := []scenes.Segment{{Frames: 25}, {Active: true, Frames: 30, From: 200}, {Frames: 50}}
	path := filepath.Join(t.TempDir(), "scene.avi")
	if err := scenes.Write(path, 10, stillScene(t), assets.Media("vtest.avi"), plan); err != nil {
		t.Fatal(err)
	}
	det := detector(t)
	ref, _ := runScene(t, det, path, nil)
	gated, p := runScene(t, det, path, &Gate{})
	again, _ := runScene(t, det, path, &Gate{})
	if len(ref) != 105 || len(gated) != 105 || len(again) != 105 {
		t.Fatalf("results: %d ungated, %d and %d gated; the scene has 105 frames", len(ref), len(gated), len(again))
	}

	held := map[bool]int{}
	for i, f := range gated {
		active := i >= 25 && i < 55
		if f.skipped {
			held[active]++
		}
		if f.skipped && i > 0 && !slices.Equal(f.ids(), gated[i-1].ids()) {
			t.Errorf("frame %d held: tracks %v, the frame before had %v", i+1, f.ids(), gated[i-1].ids())
		}
	}
	reasons := map[string]int{}
	for _, f := range gated {
		reasons[f.gate]++
	}
	t.Logf("held frames: %d of 30 with walkers, %d of 75 still; by reason %v", held[true], held[false], reasons)
	if held[true] > 1 {
		t.Errorf("%d of the 30 frames with walkers were held from the detector", held[true])
	}
	// Not held: the 10 frames the background settles in, those until it
	// has forgotten the walkers (about 2 s), and a recheck.
	if held[false] < 40 {
		t.Errorf("only %d of the 75 still frames were held: gating saves little", held[false])
	}
	same := 0
	for i := range ref {
		if len(ref[i].tracks) == len(gated[i].tracks) {
			same++
		}
	}
	if same < 100 {
		t.Errorf("person counts equal the ungated run's on %d of 105 frames", same)
	}
	for i := range gated {
		a, b := gated[i], again[i]
		if a.skipped != b.skipped || a.gate != b.gate || fmt.Sprint(a.tracks) != fmt.Sprint(b.tracks) {
			t.Fatalf("frame %d differs between two gated runs: %+v vs %+v", i+1, a, b)
		}
	}
	c, ok := p.Gating("scene")
	if !ok || !c.Gated || c.Frames[GateStill] != uint64(held[true]+held[false]) || c.Frames[GateMotion] == 0 {
		t.Errorf("Gating = %+v, %v; held %d", c, ok, held[true]+held[false])
	}
	if v := testutil.ToFloat64(p.m.gated.WithLabelValues("scene", GateStill)); v != float64(c.Frames[GateStill]) {
		t.Errorf("vigil_gate_frames_total{reason=still} %v, Gating says %d", v, c.Frames[GateStill])
	}
}

// personPatch is the picture of the best person the detector finds in
// vtest.avi's frame n, with a margin.
func personPatch(t *testing.T, det *detect.Detector, n int) gocv.Mat {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(assets.Media("vtest.avi"))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	vc.Set(gocv.VideoCapturePosFrames, float64(n))
	img := gocv.NewMat()
	defer img.Close()
	if !vc.Read(&img) {
		t.Fatal("cannot read vtest.avi")
	}
	dets, _, err := det.Detect(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	best := -1
	for i, d := range dets {
		if d.Class == 0 && (best < 0 || d.Score > dets[best].Score) {
			best = i
		}
	}
	if best < 0 {
		t.Fatalf("no person in vtest.avi frame %d", n)
	}
	b := dets[best].Box
	r := image.Rect(int(b.X1)-4, int(b.Y1)-4, int(b.X2)+4, int(b.Y2)+4).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	region := img.Region(r)
	defer region.Close()
	return region.Clone()
}

// TestGateKeepsAStoppedPersonsTrack: a person walks in and stops for ten
// seconds. The detector follows them while they move, then looks only at
// the stationary interval; their track keeps its id from the walk to the
// end, on every frame, held or detected.
func TestGateKeepsAStoppedPersonsTrack(t *testing.T) {
	det := detector(t)
	patch := personPatch(t, det, 120)
	defer patch.Close()
	still := stillScene(t)
	path := filepath.Join(t.TempDir(), "stop.avi")
	vw, err := gocv.VideoWriterFile(path, "MJPG", 10, still.BG.Cols(), still.BG.Rows(), true)
	if err != nil {
		t.Fatal(err)
	}
	const walkFrom, stopAt, frames = 12, 42, 142 // 3 s walking, 10 s standing, at 10 fps
	for i := range frames {
		f := still.Frame(i)
		if i >= walkFrom {
			x := 60 + 8*(min(i, stopAt)-walkFrom)
			dst := f.Region(image.Rect(x, 200, x+patch.Cols(), 200+patch.Rows()))
			patch.CopyTo(&dst)
			dst.Close()
		}
		if err := vw.Write(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	vw.Close()

	got, _ := runScene(t, det, path, &Gate{StationaryInterval: 2 * time.Second})
	var id uint64
	rechecks, held := 0, 0
	for i, f := range got {
		if i < stopAt-5 {
			continue
		}
		// vtest.avi's background has parked things the detector sees too:
		// the person is the one person track.
		var persons []track.Track
		for _, tr := range f.tracks {
			if tr.Class == 0 {
				persons = append(persons, tr)
			}
		}
		if len(persons) != 1 {
			t.Fatalf("frame %d (gate %s): %d person tracks %+v, want the one person", i+1, f.gate, len(persons), persons)
		}
		if id == 0 {
			id = persons[0].ID
		}
		if persons[0].ID != id {
			t.Fatalf("frame %d (gate %s): track %d, it was %d: the person who stopped lost their track", i+1, f.gate, persons[0].ID, id)
		}
		if i >= frames-50 { // the last 5 s: the motion background has taken the person in
			switch {
			case f.skipped:
				held++
			case f.gate == GateRecheck:
				rechecks++
			}
		}
	}
	t.Logf("last 5 s standing: %d frames held, %d rechecks, track %d throughout", held, rechecks, id)
	// The person stands for 10 s; motion detection takes them into its
	// background within about 4 s (alpha 0.05 a frame), and from then on
	// the detector looks once every 2 s: 2 or 3 times in the last 5 s,
	// every other frame held.
	if rechecks < 2 || rechecks > 3 || held+rechecks != 50 {
		t.Errorf("last 5 s standing: %d rechecks and %d frames held of 50, want a recheck every 2 s and the rest held", rechecks, held)
	}
}

// TestGateWatchMarksCamerasNearALine: on vtest.avi's first seconds, a
// gated camera watching a counting line is near it on exactly the detected
// frames with a person detection whose box, grown by half its height,
// touches the line (confirmed as a track or not), and a camera without
// Watch is never near.
func TestGateWatchMarksCamerasNearALine(t *testing.T) {
	det := detector(t)
	// A short line at the bottom right, where walkers come and go.
	line := rules.Rule{Name: "corner", Kind: rules.KindLine, Points: []rules.Point{{X: 700, Y: 450}, {X: 768, Y: 450}}, Classes: []int{0}}
	watch := rules.NewWatch([]rules.Rule{line})
	for _, w := range []*rules.Watch{watch, nil} {
		var p *Pipeline
		near, far, wrong := 0, 0, 0
		sink := SinkFunc(func(r *Result) {
			if r.Skipped {
				return
			}
			g, _ := p.Gating("scene")
			want := false
			for _, d := range r.Detections {
				want = want || watch.Near(trackBox(d.Box), d.Class, r.Frame.Image.Cols(), r.Frame.Image.Rows())
			}
			want = want && w != nil
			if g.Near != want {
				wrong++
			}
			if g.Near {
				near++
			} else {
				far++
			}
		})
		cam := camera(t, capture.Config{ID: "scene", URL: assets.Media("vtest.avi"), Realtime: false, Loop: false})
		var err error
		p, err = New(Options{Cameras: []*capture.Camera{cam}, Detector: det, Tracker: track.DefaultConfig(), Sinks: []Sink{sink},
			Registry: prometheus.NewRegistry(), Logger: zerolog.Nop(), MaxFrames: 60, Gates: map[string]*Gate{"scene": {Watch: w}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang guard
		err = p.Run(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("watch %v: %d detected frames near the line, %d not", w != nil, near, far)
		if wrong > 0 {
			t.Errorf("watch %v: %d detected frames of %d marked near the line wrongly", w != nil, wrong, near+far)
		}
		if w != nil && (near == 0 || far == 0) {
			t.Errorf("watch: %d frames near the line, %d not: the scene should have both", near, far)
		}
		if w == nil && near > 0 {
			t.Errorf("no watch: %d frames near a line", near)
		}
	}
}

// A new Gate with the same motion options (other rules to watch, other
// intervals) keeps the camera's motion detector and its background, and
// sends no frame to the detector for it; other motion options make a new
// one, whose background forms again.
func TestGateChangeKeepsTheMotionBackground(t *testing.T) {
	e := &camEntry{}
	g := &gater{e: e}
	defer g.close()
	set := func(gate Gate) {
		d := gate.withDefaults()
		e.gate.Store(&d)
		g.follow()
	}
	set(Gate{})
	first := g.det
	if first == nil || !g.check {
		t.Fatal("the first Gate made no motion detector, or asked for no look")
	}
	g.check = false
	line := rules.Rule{Name: "door", Kind: rules.KindLine, Points: []rules.Point{{X: 0, Y: 100}, {X: 200, Y: 100}}}
	set(Gate{Watch: rules.NewWatch([]rules.Rule{line}), IdleInterval: time.Minute})
	if g.det != first || g.check || g.cfg.Watch == nil || g.cfg.IdleInterval != time.Minute {
		t.Errorf("rules and interval changed: new detector %v, look asked %v, watch %v, interval %v; want the same detector and the new settings",
			g.det != first, g.check, g.cfg.Watch != nil, g.cfg.IdleInterval)
	}
	set(Gate{Motion: motion.Options{Threshold: 40}})
	if g.det == first || !g.check {
		t.Errorf("motion threshold changed: new detector %v, look asked %v; want both", g.det != first, g.check)
	}
}
