package detect

import (
	"image"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/internal/scenes"
	"gocv.io/x/gocv"
)

// checkPlan holds what every plan must: at most limit crops, each inside
// the frame, square of at least side (unless the frame is smaller), every
// box inside one crop; and the same crops for the boxes in another order.
func checkPlan(t *testing.T, frame image.Point, boxes []image.Rectangle, side, limit int, crops []image.Rectangle) {
	t.Helper()
	bounds := image.Rectangle{Max: frame}
	if len(crops) > max(limit, 1) {
		t.Errorf("%d crops, at most %d allowed", len(crops), limit)
	}
	for _, c := range crops {
		if !c.In(bounds) || c.Empty() {
			t.Errorf("crop %v not inside the %v frame", c, frame)
		}
		// Square, or cut to the frame where the square is larger.
		if w, h := c.Dx(), c.Dy(); w != h && !(w == frame.X && h > w) && !(h == frame.Y && w > h) {
			t.Errorf("crop %v is %dx%d, not square (frame %v)", c, w, h, frame)
		}
		if c.Dx() < min(side, frame.X) || c.Dy() < min(side, frame.Y) {
			t.Errorf("crop %v smaller than %d a side", c, side)
		}
	}
	for _, b := range boxes {
		b = b.Intersect(bounds)
		if b.Empty() {
			continue
		}
		if !slices.ContainsFunc(crops, b.In) {
			t.Errorf("box %v in no crop of %v", b, crops)
		}
	}
	shuffled := slices.Clone(boxes)
	slices.Reverse(shuffled)
	if again := PlanRegions(frame, shuffled, side, limit); !slices.Equal(crops, again) {
		t.Errorf("boxes reversed: crops %v, first %v", again, crops)
	}
}

func TestPlanRegions(t *testing.T) {
	hd := image.Pt(1920, 1080)
	cases := []struct {
		name  string
		frame image.Point
		boxes []image.Rectangle
		limit int
		crops int // how many crops, -1: nil
	}{
		{"frame no larger than the input", image.Pt(640, 480), []image.Rectangle{image.Rect(10, 10, 50, 90)}, 4, -1},
		{"no boxes", hd, nil, 4, -1},
		{"boxes outside the frame", hd, []image.Rectangle{image.Rect(-50, -50, -10, -10), image.Rect(2000, 10, 2100, 90)}, 4, -1},
		{"one person", hd, []image.Rectangle{image.Rect(900, 500, 940, 580)}, 4, 1},
		{"person at the corner", hd, []image.Rectangle{image.Rect(1890, 1040, 1920, 1080)}, 4, 1},
		{"two near each other", hd, []image.Rectangle{image.Rect(100, 100, 140, 180), image.Rect(400, 300, 440, 380)}, 4, 1},
		{"small box inside a large one's square", hd, []image.Rectangle{image.Rect(200, 100, 1000, 900), image.Rect(500, 150, 520, 190)}, 4, 1},
		{"three apart", hd, []image.Rectangle{image.Rect(0, 0, 40, 80), image.Rect(1800, 0, 1840, 80), image.Rect(900, 1000, 940, 1080)}, 4, 3},
		{"three apart, two allowed", hd, []image.Rectangle{image.Rect(0, 0, 40, 80), image.Rect(1800, 0, 1840, 80), image.Rect(900, 1000, 940, 1080)}, 2, 2},
		{"three apart, one allowed", hd, []image.Rectangle{image.Rect(0, 0, 40, 80), image.Rect(1800, 0, 1840, 80), image.Rect(900, 1000, 940, 1080)}, 1, 1},
		{"larger than the input", hd, []image.Rectangle{image.Rect(300, 100, 1300, 700)}, 4, 1},
		{"wider than the frame is tall", image.Pt(3000, 800), []image.Rectangle{image.Rect(100, 100, 1500, 700)}, 4, 1},
		{"a wide frame's strip", image.Pt(2400, 500), []image.Rectangle{image.Rect(100, 100, 140, 180)}, 4, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			crops := PlanRegions(c.frame, c.boxes, 640, c.limit)
			if c.crops < 0 {
				if crops != nil {
					t.Fatalf("crops %v, want none", crops)
				}
				return
			}
			if len(crops) != c.crops {
				t.Errorf("%d crops %v, want %d", len(crops), crops, c.crops)
			}
			checkPlan(t, c.frame, c.boxes, 640, c.limit, crops)
		})
	}
}

// TestPlanRegionsMargin: a box far from the frame's edges lies a margin
// inside its crop, so that a person cut by the crop is rare.
func TestPlanRegionsMargin(t *testing.T) {
	b := image.Rect(700, 400, 760, 520)
	crops := PlanRegions(image.Pt(1920, 1080), []image.Rectangle{b}, 640, 4)
	if len(crops) != 1 || !b.Inset(-640/8).In(crops[0]) {
		t.Fatalf("crops %v: want one holding %v with a %d margin", crops, b, 640/8)
	}
	if crops[0].Dx() != 640 || crops[0].Dy() != 640 {
		t.Errorf("crop %v: want 640x640 at native resolution", crops[0])
	}
}

// TestPlanRegionsRandom checks the plan's properties on random boxes.
func TestPlanRegionsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		frame := image.Pt(641+rng.IntN(3200), 300+rng.IntN(2000))
		var boxes []image.Rectangle
		for range rng.IntN(12) {
			x, y := rng.IntN(frame.X+100)-50, rng.IntN(frame.Y+100)-50
			boxes = append(boxes, image.Rect(x, y, x+1+rng.IntN(400), y+1+rng.IntN(600)))
		}
		limit := 1 + rng.IntN(5)
		crops := PlanRegions(frame, boxes, 640, limit)
		checkPlan(t, frame, boxes, 640, limit, crops)
		if t.Failed() {
			t.Fatalf("frame %v, boxes %v, limit %d", frame, boxes, limit)
		}
	}
}

// TestDetectRegionsViewIsCopy: a region is a view into the frame's rows,
// not continuous; what is found in it is what is found in a copy of it,
// both when the letterbox resizes the crop and when it does not.
func TestDetectRegionsViewIsCopy(t *testing.T) {
	d := newDefault(t)
	img := readFrame(t, 0)
	var plain []Detection
	for _, r := range []image.Rectangle{
		image.Rect(64, 0, 704, 576),    // as it is: split into planes
		image.Rect(30, 10, 730, 570),   // shrunk
		image.Rect(200, 100, 520, 420), // enlarged
		image.Rect(0, 0, 768, 576),     // the whole frame, continuous
	} {
		view, _, err := d.DetectRegions(img, []image.Rectangle{r}, nil)
		if err != nil {
			t.Fatal(err)
		}
		crop := img.Region(r)
		copied := crop.Clone()
		crop.Close()
		plain, _, err = d.Detect(copied, plain[:0])
		copied.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(plain) == 0 {
			t.Fatalf("region %v: nothing found in the copy", r)
		}
		if len(view) != len(plain) {
			t.Fatalf("region %v: %d detections in the view, %d in a copy", r, len(view), len(plain))
		}
		for i, p := range plain {
			p.Box = Box{p.Box.X1 + float32(r.Min.X), p.Box.Y1 + float32(r.Min.Y), p.Box.X2 + float32(r.Min.X), p.Box.Y2 + float32(r.Min.Y)}
			if p != view[i] {
				t.Errorf("region %v: detection %d in the view %+v, in a copy %+v (offset)", r, i, view[i], p)
			}
		}
	}
	whole, _, err := d.DetectRegions(img, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, _, _ := d.Detect(img, nil)
	if !slices.Equal(whole, again) {
		t.Errorf("no regions: %v, Detect %v", whole, again)
	}
	if _, _, err := d.DetectRegions(img, []image.Rectangle{image.Rect(700, 0, 900, 200)}, nil); err == nil {
		t.Error("a region outside the frame: no error")
	}
}

// readFrame is frame i of vtest.avi (768×576).
func readFrame(t testing.TB, i int) gocv.Mat {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(assets.Media("vtest.avi"))
	if err != nil {
		t.Fatalf("%v; run `make deps`", err)
	}
	defer vc.Close()
	vc.Set(gocv.VideoCapturePosFrames, float64(i))
	img := gocv.NewMat()
	t.Cleanup(func() { img.Close() })
	if !vc.Read(&img) || img.Empty() {
		t.Fatalf("cannot read frame %d of %s", i, assets.Media("vtest.avi"))
	}
	return img
}

// persons are the person boxes among dets scoring at least min.
func persons(dets []Detection, least float32) []Box {
	var out []Box
	for _, d := range dets {
		if d.Class == 0 && d.Score >= least {
			out = append(out, d.Box)
		}
	}
	return out
}

// found counts the boxes of want that a box of got overlaps with IoU ≥
// 0.5, each box of got matching one at most.
func found(want, got []Box) int {
	used := make([]bool, len(got))
	n := 0
	for _, w := range want {
		best, at := float32(0.5), -1
		for j, g := range got {
			if iou := IoU(w, g); !used[j] && iou >= best {
				best, at = iou, j
			}
		}
		if at >= 0 {
			used[at] = true
			n++
		}
	}
	return n
}

// TestDetectRegionsFindsSmallPersons: in a 1920×1080 frame holding the
// sample video at 0.55 its size, the whole frame letterboxed misses
// persons that crops at native resolution around the video's part of the
// frame find, measured against the persons found on the original frames.
func TestDetectRegionsFindsSmallPersons(t *testing.T) {
	d := newDefault(t)
	scene, err := scenes.NewLarge(assets.Media("vtest.avi"), image.Pt(1920, 1080), 0.55, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer scene.Close()
	side, _ := d.InputSize()
	crops := PlanRegions(scene.Size, []image.Rectangle{scene.Placed()}, side, 4)
	if len(crops) == 0 {
		t.Fatalf("no crops around %v", scene.Placed())
	}
	canvas := gocv.NewMat()
	defer canvas.Close()
	var ref, whole, regions int
	var dets []Detection
	for _, i := range []int{0, 250, 500} {
		img := readFrame(t, i)
		if dets, _, err = d.Detect(img, dets[:0]); err != nil {
			t.Fatal(err)
		}
		var want []Box
		for _, b := range persons(dets, 0.5) {
			x1, y1 := scene.ToCanvas(b.X1, b.Y1)
			x2, y2 := scene.ToCanvas(b.X2, b.Y2)
			want = append(want, Box{x1, y1, x2, y2})
		}
		ref += len(want)
		if err := scene.Render(img, &canvas); err != nil {
			t.Fatal(err)
		}
		if dets, _, err = d.Detect(canvas, dets[:0]); err != nil {
			t.Fatal(err)
		}
		whole += found(want, persons(dets, 0))
		if dets, _, err = d.DetectRegions(canvas, crops, dets[:0]); err != nil {
			t.Fatal(err)
		}
		regions += found(want, persons(dets, 0))
	}
	t.Logf("persons on the original frames %d; found on the large frame: whole %d, crops %v %d", ref, whole, crops, regions)
	if ref < 5 {
		t.Fatalf("only %d persons on the original frames", ref)
	}
	if whole >= ref {
		t.Fatalf("the whole frame letterboxed found all %d persons: the scene's persons are not small enough to test regions", ref)
	}
	if regions <= whole || float64(regions) < 0.9*float64(ref) {
		t.Errorf("crops found %d of %d persons, the whole frame %d; want more than the whole frame and at least 90%%", regions, ref, whole)
	}
}

// TestDetectRegionsMergesCut: where two crops overlap over a person, one
// whole and one cutting it, the person is found once, whole; plain NMS
// would keep the cut one too, as it overlaps the whole one too little.
func TestDetectRegionsMergesCut(t *testing.T) {
	d := newDefault(t)
	// The sample video at twice its size: people some 200 pixels tall.
	small := readFrame(t, 100)
	img := gocv.NewMat()
	defer img.Close()
	gocv.Resize(small, &img, image.Pt(2*small.Cols(), 2*small.Rows()), 0, 0, gocv.InterpolationLinear)
	frame := image.Pt(img.Cols(), img.Rows())
	side, _ := d.InputSize()

	all, _, err := d.Detect(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	bounds := image.Rectangle{Max: frame}
	tried := 0
	for _, p := range persons(all, 0.6) {
		if p.H() < 120 {
			continue
		}
		pr := image.Rect(int(p.X1), int(p.Y1), int(p.X2)+1, int(p.Y2)+1)
		whole := PlanRegions(frame, []image.Rectangle{pr}, side, 1)
		if len(whole) != 1 {
			t.Fatalf("person %v: crops %v, want one", p, whole)
		}
		w0 := whole[0]
		// A crop whose border cuts the person, keeping 35 or 40% of it;
		// the rest of the person lies outside.
		for _, keep := range []float32{0.35, 0.4} {
			by, bx := int(p.Y1+keep*p.H()), int(p.X1+keep*p.W())
			ty, tx := int(p.Y2-keep*p.H()), int(p.X2-keep*p.W())
			for _, cut := range []image.Rectangle{
				image.Rect(w0.Min.X, by-side, w0.Max.X, by), // bottom border
				image.Rect(w0.Min.X, ty, w0.Max.X, ty+side), // top border
				image.Rect(bx-side, w0.Min.Y, bx, w0.Max.Y), // right border
				image.Rect(tx, w0.Min.Y, tx+side, w0.Max.Y), // left border
			} {
				if !cut.In(bounds) {
					continue
				}
				tried++
				wholeDets, _, err := d.DetectRegions(img, whole, nil)
				if err != nil {
					t.Fatal(err)
				}
				cutDets, _, err := d.DetectRegions(img, []image.Rectangle{cut}, nil)
				if err != nil {
					t.Fatal(err)
				}
				w, c := match(p, persons(wholeDets, 0), 0.8), matchCut(p, persons(cutDets, 0), cut, bounds, side)
				if w == nil || c == nil || IoU(*w, *c) > d.opts.IoU {
					t.Logf("person %v, crop %v: whole %v, cut %v: not a case NMS misses", p, cut, w, c)
					continue
				}
				merged, _, err := d.DetectRegions(img, []image.Rectangle{cut, w0}, nil)
				if err != nil {
					t.Fatal(err)
				}
				got := persons(merged, 0)
				if match(*w, got, 0.9) == nil {
					t.Errorf("person %v: the whole one %v lost; found %v", p, *w, got)
				}
				if m := match(*c, got, 0.9); m != nil {
					t.Errorf("person %v: the cut one %v (crop %v) kept as %v beside the whole one %v", p, *c, cut, *m, *w)
				}
				return
			}
		}
	}
	t.Fatalf("tried %d cuts, none that the model found both whole and cut with an overlap NMS keeps", tried)
}

// match is the box of got that overlaps b most, if by IoU ≥ least.
func match(b Box, got []Box, least float32) *Box {
	var best *Box
	for i := range got {
		if iou := IoU(b, got[i]); iou >= least {
			best, least = &got[i], iou
		}
	}
	return best
}

// matchCut is a box of got that lies mostly inside b and reaches an
// inner border of its crop.
func matchCut(b Box, got []Box, crop, frame image.Rectangle, side int) *Box {
	for i, g := range got {
		in := clip(g, image.Rect(int(b.X1)-5, int(b.Y1)-5, int(b.X2)+5, int(b.Y2)+5))
		if in.Area() >= 0.8*g.Area() && touchesInnerBorder(g, crop, frame, side) {
			return &got[i]
		}
	}
	return nil
}
