package liveview

import (
	"image"
	"image/color"
	"io"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/vigil-vision/vigil/annotate"
	"github.com/vigil-vision/vigil/track"
	"gocv.io/x/gocv"
)

func TestStampRoundTrip(t *testing.T) {
	for _, size := range []image.Point{{768, 576}, {320, 240}, {1920, 1080}} {
		img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 120, 200, 0), size.Y, size.X, gocv.MatTypeCV8UC3)
		for _, ms := range []uint32{0, 1, 0xA5A5A5A5, 0xFFFFFFFF, uint32(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC).UnixMilli())} {
			drawStamp(&img, ms)
			got, ok := readStamp(img)
			if !ok || got != ms {
				t.Errorf("%v: wrote %d, read %d (ok %v)", size, ms, got, ok)
			}
		}
		img.Close()
	}
	// Nothing written: no stamp, whatever the picture.
	for _, v := range []float64{0, 255} {
		img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(v, v, v, 0), 576, 768, gocv.MatTypeCV8UC3)
		if ms, ok := readStamp(img); ok {
			t.Errorf("plain %v frame read as stamp %d", v, ms)
		}
		img.Close()
	}
}

// TestStampSurvivesVP8 encodes stamped frames of the sample video at the
// default bitrate and reads the stamps back from the decoded pictures, as
// the browser does.
func TestStampSurvivesVP8(t *testing.T) {
	frames := videoFrames(t, 30)
	defer closeAll(frames)
	w, h := frames[0].Cols(), frames[0].Rows()
	enc, err := NewFrameEncoder("vp8", 1_500_000, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var stream [][]byte
	for i, f := range frames {
		drawStamp(&f, uint32(1_000_000+i*100))
		out, key, err := enc.Encode(f, false)
		if err != nil {
			t.Fatal(err)
		}
		if key != (i == 0) {
			t.Errorf("frame %d: keyframe %v", i, key)
		}
		stream = append(stream, out)
	}
	dec, err := vpx.NewDecoder(&frameReader{frames: stream}, prop.Media{Video: prop.Video{Width: w, Height: h}})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	bgr := gocv.NewMat()
	defer bgr.Close()
	for i := range stream {
		img, release, err := dec.Read()
		if err != nil {
			t.Fatalf("decode frame %d: %v", i, err)
		}
		y := img.(*image.YCbCr)
		planes := append(append(append([]byte(nil), y.Y...), y.Cb...), y.Cr...)
		m, err := gocv.NewMatFromBytes(h*3/2, w, gocv.MatTypeCV8U, planes)
		if err != nil {
			t.Fatal(err)
		}
		gocv.CvtColor(m, &bgr, gocv.ColorYUVToBGRIYUV)
		m.Close()
		release()
		if ms, ok := readStamp(bgr); !ok || ms != uint32(1_000_000+i*100) {
			t.Errorf("frame %d: read %d ok=%v after VP8, want %d", i, ms, ok, 1_000_000+i*100)
		}
	}
}

type frameReader struct{ frames [][]byte }

func (r *frameReader) Read(p []byte) (int, error) {
	if len(r.frames) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.frames[0])
	r.frames = r.frames[1:]
	return n, nil
}

func TestAdmitPacesToMaxFPS(t *testing.T) {
	cases := []struct {
		name        string
		cameraFPS   float64
		maxFPS      float64
		wantPerSec  int
		jitterEvery int // every n-th frame comes 20% late
	}{
		{"slower camera passes whole", 10, 30, 10, 0},
		{"25 under 30", 25, 30, 25, 3},
		{"60 halved", 60, 30, 30, 0},
		{"35 thinned", 35, 30, 30, 0},
		{"30 with jitter", 30, 30, 30, 2},
		{"100 to 15", 100, 15, 15, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &camera{s: &Server{opts: Options{MaxFPS: tc.maxFPS}}}
			t0 := time.Unix(1000, 0)
			interval := time.Duration(float64(time.Second) / tc.cameraFPS)
			n := 0
			frames := int(10 * tc.cameraFPS) // 10 s
			for i := 0; i < frames; i++ {
				at := t0.Add(time.Duration(i) * interval)
				if tc.jitterEvery > 0 && i%tc.jitterEvery == 0 {
					at = at.Add(interval / 5)
				}
				if c.admit(at) {
					n++
				}
			}
			if got := float64(n) / 10; got < float64(tc.wantPerSec)*0.97 || got > float64(tc.wantPerSec)*1.03 {
				t.Errorf("%.1f frames/s passed, want %d", got, tc.wantPerSec)
			}
		})
	}
}

// TestPlaceMovesTracksToFrameTime: between detections a box moves with its
// track's velocity, in tracker steps of the measured detection interval.
func TestPlaceMovesTracksToFrameTime(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := track.Track{ID: 7, Box: track.Box{X1: 100, Y1: 100, X2: 140, Y2: 200}, Velocity: track.Velocity{CX: 12}}
	res := &result{at: t0, tracks: []track.Track{tr}, step: 200 * time.Millisecond}
	cases := []struct {
		name  string
		at    time.Time
		exact bool
		dx    float64
		none  bool
	}{
		{"same frame", t0, false, 0, false},
		{"half a step later", t0.Add(100 * time.Millisecond), false, 6, false},
		{"two steps later", t0.Add(400 * time.Millisecond), false, 24, false},
		{"capped at one second", t0.Add(1500 * time.Millisecond), false, 60, false},
		{"processed-only draws as detected", t0.Add(100 * time.Millisecond), true, 0, false},
		{"stale tracks are not drawn", t0.Add(3 * time.Second), false, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := place(res, tc.at, tc.exact)
			if tc.none {
				if len(got) != 0 {
					t.Fatalf("drew %d tracks", len(got))
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("drew %d tracks", len(got))
			}
			if dx := got[0].box.X1 - tr.Box.X1; dx < tc.dx-0.01 || dx > tc.dx+0.01 {
				t.Errorf("moved %.2f px, want %.2f", dx, tc.dx)
			}
		})
	}
	if got := place(&result{at: t0, tracks: []track.Track{tr}}, t0.Add(time.Second), false); got[0].box != tr.Box {
		t.Errorf("without a measured step, a box moved to %+v", got[0].box)
	}
}

func TestH264KeyDetection(t *testing.T) {
	cases := []struct {
		name string
		au   []byte
		want bool
	}{
		{"sps pps idr", []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 9, 9}, true},
		{"non-idr slice", []byte{0, 0, 0, 1, 0x41, 9, 9, 9}, false},
		{"empty", nil, false},
		{"three-byte start", []byte{0, 0, 1, 0x25, 1}, true},
	}
	for _, tc := range cases {
		if got := isH264Key(tc.au); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestDrawOnVideo draws a processed frame of vtest.avi with the detector's
// people on it and checks the box outlines are there, in the person colour,
// where the detector saw people; and that the HUD and stamp are drawn.
func TestDrawOnVideo(t *testing.T) {
	frames := videoFrames(t, 1)
	defer closeAll(frames)
	det := detector(t)
	dets, _, err := det.Detect(frames[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	var tracks []track.Track
	for i, d := range dets {
		if d.Class == 0 && d.Score > 0.5 {
			tracks = append(tracks, track.Track{ID: uint64(i + 1), Class: 0, Score: float64(d.Score),
				Box: track.Box{X1: float64(d.Box.X1), Y1: float64(d.Box.Y1), X2: float64(d.Box.X2), Y2: float64(d.Box.Y2)}})
		}
	}
	if len(tracks) < 2 {
		t.Fatalf("%d people detected in the first frame of vtest.avi; want several", len(tracks))
	}
	src := testCamera(t, "demo")
	s := &Server{opts: Options{MaxFPS: 30, Overlay: func(string, int, int) Overlay {
		return Overlay{Zones: []Zone{{Name: "cell", Points: []image.Point{{10, 300}, {300, 300}, {300, 500}, {10, 500}}}},
			Lines: []Line{{Name: "door", A: image.Pt(400, 100), B: image.Pt(400, 400)}}}
	}}}
	c := &camera{id: "demo", src: src, s: s}
	at := time.Unix(1700000000, 123e6)
	img := frames[0].Clone()
	defer img.Close()
	n := c.draw(&img, at, 1, &result{at: at, tracks: tracks, labels: det.Labels()}, true)
	if n != len(tracks) {
		t.Errorf("drew %d objects, want %d", n, len(tracks))
	}
	person := annotate.Color(0)
	for _, tr := range tracks {
		r := Rect(tr.Box)
		// The left edge's middle pixel is on the 2 px outline.
		if !near(img.GetVecbAt((r.Min.Y+r.Max.Y)/2, r.Min.X), person, 1) {
			t.Errorf("track %d: no person-coloured outline at %v", tr.ID, image.Pt(r.Min.X, (r.Min.Y+r.Max.Y)/2))
		}
	}
	if !near(img.GetVecbAt(400, 10), zoneColor, 1) {
		t.Error("zone outline missing")
	}
	if ms, ok := readStamp(img); !ok || ms != uint32(at.UnixMilli()) {
		t.Errorf("stamp %d ok=%v, want %d", ms, ok, uint32(at.UnixMilli()))
	}
	if near(frames[0].GetVecbAt((Rect(tracks[0].Box).Min.Y+Rect(tracks[0].Box).Max.Y)/2, Rect(tracks[0].Box).Min.X), person, 1) {
		t.Error("the source frame was drawn on")
	}
}

// near compares a BGR pixel with an RGB colour.
func near(v []uint8, c color.RGBA, tol int) bool {
	d := func(a uint8, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }
	return d(v[0], c.B) <= tol && d(v[1], c.G) <= tol && d(v[2], c.R) <= tol
}

func closeAll(ms []gocv.Mat) {
	for i := range ms {
		ms[i].Close()
	}
}

// TestVP8SpeedControl: the speed setting reaches libvpx through
// mediadevices (it is set by reflection, so a mediadevices upgrade could
// break it silently).
func TestVP8SpeedControl(t *testing.T) {
	if err := checkVP8Speed(); err != nil {
		t.Fatal(err)
	}
}

// TestDrawMotionOverlay: with the camera's motion overlay on, the moving
// blobs and the detector's crops of the latest result are drawn, and the
// HUD names the gate's decision; with it off, neither.
func TestDrawMotionOverlay(t *testing.T) {
	src := testCamera(t, "demo")
	c := &camera{id: "demo", src: src, s: &Server{opts: Options{MaxFPS: 30}}}
	at := time.Unix(1700000000, 0)
	res := &result{at: at, gate: "motion", motion: []image.Rectangle{image.Rect(100, 100, 160, 220)},
		regions: []image.Rectangle{image.Rect(50, 60, 450, 460)}}
	for _, on := range []bool{false, true} {
		c.overlay.Store(on)
		img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 90, 90, 0), 576, 768, gocv.MatTypeCV8UC3)
		c.draw(&img, at, 1, res, true)
		blob := near(img.GetVecbAt(160, 100), motionColor, 20) // the blob's left edge (1 px, anti-aliased)
		crop := near(img.GetVecbAt(300, 50), cropColor, 1)     // the crop's left edge
		img.Close()
		if blob != on || crop != on {
			t.Errorf("overlay %v: blob outline %v, crop outline %v", on, blob, crop)
		}
	}
}
