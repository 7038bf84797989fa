package detect

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestChooseLayout(t *testing.T) {
	cases := []struct {
		shape   []int64
		forced  Layout
		want    Layout
		classes int
		err     string
	}{
		{[]int64{1, 84, 8400}, 0, LayoutYOLOv8, 80, ""},
		{[]int64{1, 25200, 85}, 0, LayoutYOLOv5, 80, ""},
		{[]int64{1, 300, 6}, 0, LayoutEnd2End, 0, ""},
		{[]int64{1, 300, 6}, LayoutYOLOv5, LayoutYOLOv5, 1, ""},
		{[]int64{1, 5, 8400}, 0, LayoutYOLOv8, 1, ""},
		{[]int64{1, 84, 8400}, LayoutEnd2End, 0, 0, "[1,N,6]"},
		{[]int64{1, 3, 640, 640}, 0, 0, 0, "not a detector output"},
		{[]int64{1, -1, 8400}, 0, 0, 0, "dynamic"},
		{[]int64{2, 84, 8400}, 0, 0, 0, "not a detector output"},
		// Sizes a damaged model may declare (FuzzModelShapes): vigil would
		// allocate the output, and name each class.
		{[]int64{1, 1 << 40, 1 << 41}, 0, 0, 0, "holds over 134217728 values"},
		{[]int64{1, 1 << 20, 1 << 20}, LayoutYOLOv5, 0, 0, "holds over 134217728 values"},
		{[]int64{1, 6, 100_006}, LayoutYOLOv5, 0, 0, "100001 classes; vigil decodes at most 100000"},
		{[]int64{1, 6, 100_005}, LayoutYOLOv5, LayoutYOLOv5, 100_000, ""},
	}
	for _, c := range cases {
		l, n, err := ChooseLayout(c.shape, c.forced)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: err %v, want %q", c.shape, err, c.err)
			}
			continue
		}
		if err != nil || l != c.want || n != c.classes {
			t.Errorf("%v forced %v: got %v, %d, %v; want %v, %d", c.shape, c.forced, l, n, err, c.want, c.classes)
		}
	}
}

// v8Tensor lays out anchors as YOLOv8 does: [1, 4+C, N], column-major per anchor.
func v8Tensor(classes int, anchors [][]float32) []float32 {
	n := len(anchors)
	out := make([]float32, (4+classes)*n)
	for i, a := range anchors {
		for r := range 4 + classes {
			out[r*n+i] = a[r]
		}
	}
	return out
}

func TestDecodeLayouts(t *testing.T) {
	type want struct {
		class int
		score float32
		box   Box
	}
	cases := []struct {
		name string
		dec  Decoder
		out  []float32
		want []want
	}{
		{
			name: "yolov8",
			dec:  Decoder{Layout: LayoutYOLOv8, Shape: [3]int64{1, 6, 3}, Default: 0.5},
			out: v8Tensor(2, [][]float32{
				{100, 100, 20, 40, 0.9, 0.1}, // class 0
				{200, 50, 10, 10, 0.2, 0.7},  // class 1
				{300, 300, 50, 50, 0.3, 0.4}, // below threshold
			}),
			want: []want{{0, 0.9, Box{90, 80, 110, 120}}, {1, 0.7, Box{195, 45, 205, 55}}},
		},
		{
			name: "yolov8 per-class threshold",
			dec:  Decoder{Layout: LayoutYOLOv8, Shape: [3]int64{1, 6, 2}, Default: 0.5, Thresholds: []float32{0.95, 0.5}},
			out: v8Tensor(2, [][]float32{
				{100, 100, 20, 40, 0.9, 0.1},
				{200, 50, 10, 10, 0.2, 0.7},
			}),
			want: []want{{1, 0.7, Box{195, 45, 205, 55}}},
		},
		{
			name: "yolov5 objectness times class",
			dec:  Decoder{Layout: LayoutYOLOv5, Shape: [3]int64{1, 3, 7}, Default: 0.5},
			out: []float32{
				50, 60, 10, 20, 0.9, 0.8, 0.1, // 0.72 class 0
				10, 10, 4, 4, 0.4, 0.1, 0.99, // objectness too low
				80, 80, 8, 8, 0.8, 0.2, 0.5, // 0.40 below
			},
			want: []want{{0, 0.72, Box{45, 50, 55, 70}}},
		},
		{
			name: "end2end",
			dec:  Decoder{Layout: LayoutEnd2End, Shape: [3]int64{1, 2, 6}, Default: 0.5},
			out: []float32{
				1, 2, 3, 4, 0.8, 7,
				5, 6, 7, 8, 0.3, 1,
			},
			want: []want{{7, 0.8, Box{1, 2, 3, 4}}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.dec.Decode(c.out, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d detections %+v, want %d", len(got), got, len(c.want))
			}
			for i, w := range c.want {
				g := got[i]
				if g.Class != w.class || math.Abs(float64(g.Score-w.score)) > 1e-6 || g.Box != w.box {
					t.Errorf("[%d] = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestDecodeSizeMismatch(t *testing.T) {
	d := Decoder{Layout: LayoutYOLOv8, Shape: [3]int64{1, 84, 8400}, Default: 0.25}
	if _, err := d.Decode(make([]float32, 10), nil); err == nil {
		t.Fatal("decoded a tensor of the wrong size")
	}
}

func TestNMS(t *testing.T) {
	a := Detection{Class: 0, Score: 0.9, Box: Box{0, 0, 10, 10}}
	aDup := Detection{Class: 0, Score: 0.8, Box: Box{1, 1, 11, 11}}      // IoU ≈ 0.68 with a
	aOther := Detection{Class: 1, Score: 0.85, Box: Box{0, 0, 10, 10}}   // same place, other class
	far := Detection{Class: 0, Score: 0.7, Box: Box{100, 100, 110, 110}} // no overlap
	cases := []struct {
		name     string
		in       []Detection
		agnostic bool
		max      int
		want     []Detection
	}{
		{"aware keeps other class", []Detection{far, aDup, aOther, a}, false, 0, []Detection{a, aOther, far}},
		{"agnostic suppresses other class", []Detection{far, aDup, aOther, a}, true, 0, []Detection{a, far}},
		{"max detections", []Detection{far, aDup, aOther, a}, false, 2, []Detection{a, aOther}},
		{"empty", nil, false, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := NMS(append([]Detection(nil), c.in...), 0.45, c.agnostic, c.max)
			if len(got) != len(c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("[%d] = %+v, want %+v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestLetterbox(t *testing.T) {
	cases := []struct {
		srcW, srcH int
		scale      float32
		newW, newH int
		padX, padY int
	}{
		{768, 576, 640.0 / 768, 640, 480, 0, 80},
		{576, 768, 640.0 / 768, 480, 640, 80, 0},
		{640, 640, 1, 640, 640, 0, 0},
		{320, 240, 2, 640, 480, 0, 80},
		{1920, 1080, 640.0 / 1920, 640, 360, 0, 140},
	}
	for _, c := range cases {
		lb := NewLetterbox(c.srcW, c.srcH, 640, 640)
		if math.Abs(float64(lb.Scale-c.scale)) > 1e-6 || lb.NewW != c.newW || lb.NewH != c.newH || lb.PadX != c.padX || lb.PadY != c.padY {
			t.Errorf("%dx%d: %+v", c.srcW, c.srcH, lb)
		}
		// Round trip: frame → input → frame is the identity for boxes inside.
		in := Box{10, 20, float32(c.srcW) - 30, float32(c.srcH) - 5}
		back := lb.ToFrame(lb.ToInput(in))
		for _, d := range []float32{back.X1 - in.X1, back.Y1 - in.Y1, back.X2 - in.X2, back.Y2 - in.Y2} {
			if math.Abs(float64(d)) > 1e-3 {
				t.Errorf("%dx%d: round trip %+v → %+v", c.srcW, c.srcH, in, back)
				break
			}
		}
	}
	// Boxes reaching into the padding are clipped to the frame.
	lb := NewLetterbox(768, 576, 640, 640)
	got := lb.ToFrame(Box{-5, 0, 700, 640})
	if got != (Box{0, 0, 768, 576}) {
		t.Errorf("clip: %+v", got)
	}
}

func TestParseNames(t *testing.T) {
	got := parseNames(`{0: 'person', 1: "bicycle", 3: 'traffic light'}`)
	want := []string{"person", "bicycle", "2", "traffic light"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	if parseNames("garbage") != nil {
		t.Error("names from garbage")
	}
}

// plainDecodeV8 reads the [1,4+C,N] layout anchor by anchor: the best
// score is the first one strictly greater than all before it.
func plainDecodeV8(d *Decoder, out []float32) []Detection {
	n, classes := int(d.Shape[2]), int(d.Shape[1])-4
	floor := d.minThreshold()
	var dets []Detection
	for i := range n {
		best, bestC := out[4*n+i], 0
		for c := 1; c < classes; c++ {
			if s := out[(4+c)*n+i]; s > best {
				best, bestC = s, c
			}
		}
		if best < floor || best < d.threshold(bestC) {
			continue
		}
		cx, cy, w, h := out[i], out[n+i], out[2*n+i], out[3*n+i]
		dets = append(dets, Detection{Class: bestC, Score: best, Box: Box{cx - w/2, cy - h/2, cx + w/2, cy + h/2}})
	}
	return dets
}

func TestDecodeV8MatchesPlainCases(t *testing.T) {
	// Each case draws scores from its own source; boxes are always finite.
	cases := []struct {
		name       string
		classes    int
		def        float32
		thresholds []float32
		score      func(r *rand.Rand) float32
	}{
		{"uniform", 80, 0.9, nil, func(r *rand.Rand) float32 { return r.Float32() }},
		// Few levels: ties within and across blocks of eight rows; the
		// first class with the best score must win.
		{"ties", 80, 0.5, nil, func(r *rand.Rand) float32 { return float32(r.IntN(5)) / 4 }},
		{"ties, per-class thresholds", 80, 0.5, []float32{0.75, 0.25, 1, 0.5, 0.3},
			func(r *rand.Rand) float32 { return float32(r.IntN(5)) / 4 }},
		{"ties, three classes", 3, 0.5, nil, func(r *rand.Rand) float32 { return float32(r.IntN(3)) / 2 }},
		{"ties, thirteen classes", 13, 0.5, nil, func(r *rand.Rand) float32 { return float32(r.IntN(3)) / 2 }},
		{"per-class thresholds below default", 13, 0.6, []float32{0.95, 0.2, 0.6, 0.4},
			func(r *rand.Rand) float32 { return r.Float32() }},
		{"one class", 1, 0.5, nil, func(r *rand.Rand) float32 { return r.Float32() }},
		{"three classes", 3, 0.5, nil, func(r *rand.Rand) float32 { return r.Float32() }},
		{"eight classes", 8, 0.5, []float32{0.9}, func(r *rand.Rand) float32 { return r.Float32() }},
		{"seventeen classes", 17, 0.7, nil, func(r *rand.Rand) float32 { return r.Float32() }},
		{"zero threshold", 80, 0, nil, func(r *rand.Rand) float32 { return float32(r.IntN(3)) / 2 }},
		{"negative threshold", 9, -0.5, nil, func(r *rand.Rand) float32 { return -r.Float32() }},
		// A few anchors with scores outside [+0, +Inf] take the column walk,
		// many make the whole decode take the plain row pass.
		{"few odd scores", 80, 0.5, []float32{0.3}, oddScores(8000)},
		{"many odd scores", 80, 0.5, []float32{0.3}, oddScores(400)},
		{"logits", 80, 0.25, nil, func(r *rand.Rand) float32 { return r.Float32()*8 - 7 }},
		{"zeros of both signs", 16, 0, nil, func(r *rand.Rand) float32 {
			if r.IntN(2) == 0 {
				return negZero
			}
			return 0
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(9, uint64(c.classes)))
			const n = 1003
			out := make([]float32, (4+c.classes)*n)
			for i := range out {
				if i < 4*n {
					out[i] = r.Float32() * 640
				} else {
					out[i] = c.score(r)
				}
			}
			d := Decoder{Layout: LayoutYOLOv8, Shape: [3]int64{1, int64(4 + c.classes), n}, Default: c.def, Thresholds: c.thresholds}
			want := plainDecodeV8(&d, out)
			for range 2 { // the second run reuses the scratch
				got, err := d.Decode(out, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("got %d detections, want %d", len(got), len(want))
				}
				for i := range got {
					g, w := got[i], want[i]
					if g.Class != w.Class || math.Float32bits(g.Score) != math.Float32bits(w.Score) || g.Box != w.Box {
						t.Fatalf("[%d] %+v, want %+v", i, g, w)
					}
				}
			}
		})
	}
}

var (
	nan     = float32(math.NaN())
	inf     = float32(math.Inf(1))
	negZero = float32(math.Copysign(0, -1))
)

// oddScores draws scores in [0, 1), with one in every n about a NaN, a
// negative, a negative zero or an infinity.
func oddScores(n int) func(r *rand.Rand) float32 {
	return func(r *rand.Rand) float32 {
		switch r.IntN(n) {
		case 0:
			return nan
		case 1:
			return -r.Float32()
		case 2:
			return negZero
		case 3:
			return inf
		}
		return r.Float32()
	}
}
