package motion

import (
	"image"
	"image/color"
	"sync"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/internal/scenes"
	"gocv.io/x/gocv"
)

// background is vtest.avi without its walkers, made once.
var background = sync.OnceValues(func() (gocv.Mat, error) {
	return scenes.Background(assets.Media("vtest.avi"), 25)
})

func still(t *testing.T, noise, drift float64) scenes.Still {
	t.Helper()
	bg, err := background()
	if err != nil {
		t.Fatal(err)
	}
	return scenes.Still{BG: bg, Noise: noise, Drift: drift, Seed: 7}
}

// run feeds frames [from, to) of s to d and returns their results.
func run(d *Detector, s scenes.Still, from, to int, edit func(i int, img *gocv.Mat)) []Result {
	var out []Result
	for i := from; i < to; i++ {
		img := s.Frame(i)
		if edit != nil {
			edit(i, &img)
		}
		out = append(out, d.Detect(img))
		img.Close()
	}
	return out
}

// TestStillSceneNoMotion: sensor noise and a slow brightness drift (20
// gray levels over 100 frames) are not motion.
func TestStillSceneNoMotion(t *testing.T) {
	d := New(Options{})
	defer d.Close()
	res := run(d, still(t, 4, 0.2), 0, 100, nil)
	for i, r := range res {
		if i <= 10 != r.Settling {
			t.Errorf("frame %d: settling %v", i, r.Settling)
		}
		if r.Moving() || r.Recalibrated {
			t.Errorf("frame %d of a still scene: %+v", i, r)
		}
	}
}

// TestLightsOnRecalibrates: a sudden brightness step of the whole picture
// restarts the background at once: no frame reports motion.
func TestLightsOnRecalibrates(t *testing.T) {
	d := New(Options{})
	defer d.Close()
	s := still(t, 3, 0)
	res := run(d, s, 0, 60, func(i int, img *gocv.Mat) {
		if i >= 30 {
			img.ConvertToWithParams(img, gocv.MatTypeCV8U, 1.6, 40) // lights on
		}
	})
	recal := 0
	for i, r := range res {
		if r.Recalibrated {
			recal++
			if i != 30 {
				t.Errorf("recalibrated at frame %d, the lights went on at 30", i)
			}
		}
		if r.Moving() {
			t.Errorf("frame %d: motion %v (fraction %.3f)", i, r.Boxes, r.Fraction)
		}
	}
	if recal != 1 || !res[40].Settling || res[45].Settling {
		t.Errorf("%d recalibrations; settling at 40: %v, at 45: %v", recal, res[40].Settling, res[45].Settling)
	}
}

// square draws a white square at x on frame i: something moving along.
func square(x0 int) func(i int, img *gocv.Mat) {
	return func(i int, img *gocv.Mat) {
		x := x0 + (i%10)*6
		gocv.Rectangle(img, image.Rect(x, 100, x+40, 140), color.RGBA{255, 255, 255, 0}, -1)
	}
}

// TestMaskIgnoresWhatAlwaysMoves: a square moving inside a masked polygon
// (given in frame pixels, or normalized) is not motion; the same square
// outside it is, boxed where it is.
func TestMaskIgnoresWhatAlwaysMoves(t *testing.T) {
	s := still(t, 3, 0)
	w, h := float64(s.BG.Cols()), float64(s.BG.Rows())
	pixels := [][2]float64{{80, 80}, {220, 80}, {220, 160}, {80, 160}}
	normalized := make([][2]float64, len(pixels))
	for i, p := range pixels {
		normalized[i] = [2]float64{p[0] / w, p[1] / h}
	}
	for _, mask := range []Mask{{Points: pixels}, {Points: normalized, Normalized: true}} {
		d := New(Options{Masks: []Mask{mask}})
		for i, r := range run(d, s, 0, 40, square(100)) {
			if r.Moving() {
				t.Errorf("normalized %v: frame %d: motion %v inside the mask", mask.Normalized, i, r.Boxes)
			}
		}
		d.Reset()
		res := run(d, s, 0, 40, square(400))
		last := res[len(res)-1]
		if !last.Moving() {
			t.Fatalf("normalized %v: no motion outside the mask: %+v", mask.Normalized, last)
		}
		for _, b := range last.Boxes {
			if !b.Overlaps(image.Rect(400, 100, 500, 140)) {
				t.Errorf("normalized %v: box %v away from the square", mask.Normalized, b)
			}
		}
		d.Close()
	}
}

// TestWalkerCaughtAtOnce: after the still scene, the first frame of the
// real video (people walking) shows motion where they are.
func TestWalkerCaughtAtOnce(t *testing.T) {
	d := New(Options{})
	defer d.Close()
	run(d, still(t, 3, 0), 0, 20, nil)
	vc, err := gocv.VideoCaptureFile(assets.Media("vtest.avi"))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	img := gocv.NewMat()
	defer img.Close()
	if !vc.Read(&img) {
		t.Fatal("cannot read vtest.avi")
	}
	r := d.Detect(img)
	if !r.Moving() || r.Recalibrated || r.Fraction > 0.3 {
		t.Fatalf("the walkers' first frame: %+v", r)
	}
}

// TestGhostAndStopAbsorbed: a box that stood long enough to enter the
// background leaves a ghost where it stood when taken away; the ghost, and
// a box that stops, stop being motion within Absorb frames (the background
// alone would take about 20 frames), while a box that keeps moving stays
// motion.
func TestGhostAndStopAbsorbed(t *testing.T) {
	for _, absorb := range []int{2, 4} {
		d := New(Options{Absorb: absorb})
		s := still(t, 3, 0)
		box := func(at image.Point) func(int, *gocv.Mat) {
			return func(_ int, img *gocv.Mat) {
				gocv.Rectangle(img, image.Rectangle{Min: at, Max: at.Add(image.Pt(60, 120))}, color.RGBA{R: 20, G: 240, B: 20}, -1)
			}
		}
		run(d, s, 0, 150, box(image.Pt(300, 200))) // long enough to be learnt
		res := run(d, s, 150, 170, nil)            // taken away: the ghost
		if !res[0].Moving() {
			t.Fatalf("absorb %d: the ghost's first frame shows no motion: %+v", absorb, res[0])
		}
		for i, r := range res[absorb+1:] {
			if r.Moving() {
				t.Errorf("absorb %d: ghost frame %d still moving: %+v", absorb, absorb+1+i, r)
			}
		}
		// A box walking right 8 px a frame is motion on every frame; when
		// it stops it is absorbed like the ghost.
		walk := func(i int, img *gocv.Mat) { box(image.Pt(100+8*min(i-170, 30), 300))(i, img) }
		res = run(d, s, 170, 220, walk)
		for i, r := range res[:30] {
			if !r.Moving() {
				t.Errorf("absorb %d: walking frame %d shows no motion", absorb, i)
			}
		}
		for i, r := range res[31+absorb:] {
			if r.Moving() {
				t.Errorf("absorb %d: stopped frame %d still moving: %+v", absorb, 31+absorb+i, r)
			}
		}
		d.Close()
	}
}

// BenchmarkDetect is the cost of one 768×576 frame (compare with the
// detector's tens of milliseconds).
func BenchmarkDetect(b *testing.B) {
	bg, err := background()
	if err != nil {
		b.Fatal(err)
	}
	s := scenes.Still{BG: bg, Noise: 3, Seed: 1}
	frames := []gocv.Mat{s.Frame(0), s.Frame(1)}
	defer frames[0].Close()
	defer frames[1].Close()
	d := New(Options{})
	defer d.Close()
	b.ResetTimer()
	for i := range b.N {
		d.Detect(frames[i%2])
	}
}
