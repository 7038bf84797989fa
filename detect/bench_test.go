package detect

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// crowd makes n candidates around k objects, as a crowded frame gives
// before NMS: many near-duplicates of few boxes.
func crowd(n, k int) []Detection {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]Detection, n)
	for i := range out {
		o := i % k
		x, y := float32(o%10)*60, float32(o/10)*60
		j := func() float32 { return r.Float32()*6 - 3 }
		out[i] = Detection{Class: o % 3, Score: 0.25 + 0.7*r.Float32(), Box: Box{x + j(), y + j(), x + 50 + j(), y + 50 + j()}}
	}
	return out
}

func BenchmarkNMS(b *testing.B) {
	src := crowd(2000, 60)
	work := make([]Detection, len(src))
	var s Suppressor
	b.ReportAllocs()
	for b.Loop() {
		copy(work, src)
		if k := s.NMS(work, 0.45, false, 300); len(k) < 60 {
			b.Fatalf("kept %d", len(k))
		}
	}
}

// people makes n candidates around k people of one class spread over a
// 640×640 input, as a crowded frame gives before NMS: k objects kept, and
// a kept-list NMS compares each candidate with all of them.
func people(n, k int) []Detection {
	r := rand.New(rand.NewPCG(7, 8))
	cols := 1
	for cols*cols < k {
		cols++
	}
	step := float32(620) / float32(cols)
	out := make([]Detection, n)
	for i := range out {
		o := i % k
		x, y := float32(o%cols)*step, float32(o/cols)*step
		j := func() float32 { return (r.Float32() - 0.5) * step * 0.1 }
		out[i] = Detection{Score: 0.25 + 0.7*r.Float32(), Box: Box{x + j(), y + j(), x + 0.8*step + j(), y + 0.9*step + j()}}
	}
	return out
}

func BenchmarkNMSCrowd(b *testing.B) {
	for _, k := range []int{50, 300} {
		src := people(10*k, k)
		b.Run(strconv.Itoa(k)+"_people", func(b *testing.B) {
			work := make([]Detection, len(src))
			var s Suppressor
			b.ReportAllocs()
			for b.Loop() {
				copy(work, src)
				if kept := s.NMS(work, 0.45, false, 300); len(kept) != k {
					b.Fatalf("kept %d, want %d", len(kept), k)
				}
			}
		})
		b.Run(strconv.Itoa(k)+"_people_kept_list", func(b *testing.B) {
			// The plain kept-list NMS, for comparison: N×K.
			work := make([]Detection, len(src))
			b.ReportAllocs()
			for b.Loop() {
				copy(work, src)
				sortByScore(work)
				if kept := keptListNMS(work, 0.45, false, 300); len(kept) != k {
					b.Fatalf("kept %d, want %d", len(kept), k)
				}
			}
		})
	}
}

// BenchmarkDecode's scores are uniform in [0, 0.3): with 80 classes nearly
// every anchor's best passes 0.25, the worst case for the class lookup.
// BenchmarkDecodeSparse is closer to a real frame: small scores but for a
// few hundred anchors on a few objects.
//
// On the 2-core dev box (go test ./detect -run xxx -bench Decode -benchtime
// 500x -count 3, medians): Decode 0.48 ms, DecodeSparse 0.24 ms; the
// one-row-at-a-time argmax before took 0.64 and 0.58 ms.
func BenchmarkDecode(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	const classes, n = 80, 8400
	out := make([]float32, (4+classes)*n)
	for i := range out {
		out[i] = r.Float32() * 0.3 // mostly below threshold, as in real frames
	}
	benchDecode(b, out, classes, n)
}

func BenchmarkDecodeSparse(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	const classes, n = 80, 8400
	out := make([]float32, (4+classes)*n)
	for i := range out {
		v := r.Float32()
		out[i] = v * v * v * 0.05
	}
	for range 300 {
		out[(4+r.IntN(classes))*n+r.IntN(n)] = 0.2 + 0.7*r.Float32()
	}
	benchDecode(b, out, classes, n)
}

func benchDecode(b *testing.B, out []float32, classes, n int) {
	d := Decoder{Layout: LayoutYOLOv8, Shape: [3]int64{1, int64(4 + classes), int64(n)}, Default: 0.25}
	dst := make([]Detection, 0, n)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = d.Decode(out, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(dst)), "detections")
}

func TestNMSMatchesPlain(t *testing.T) {
	// The kept-list NMS gives what the textbook all-pairs version gives.
	src := crowd(800, 40)
	fast := NMS(append([]Detection(nil), src...), 0.45, false, 0)
	plain := plainNMS(append([]Detection(nil), src...), 0.45)
	if len(fast) != len(plain) {
		t.Fatalf("fast kept %d, plain %d", len(fast), len(plain))
	}
	for i := range fast {
		if fast[i] != plain[i] {
			t.Fatalf("[%d] fast %+v plain %+v", i, fast[i], plain[i])
		}
	}
}

func plainNMS(d []Detection, iou float32) []Detection {
	NMS(d, 2, true, 0) // sort only: IoU never exceeds 2
	removed := make([]bool, len(d))
	var out []Detection
	for i := range d {
		if removed[i] {
			continue
		}
		out = append(out, d[i])
		for j := i + 1; j < len(d); j++ {
			if d[j].Class == d[i].Class && IoU(d[i].Box, d[j].Box) > iou {
				removed[j] = true
			}
		}
	}
	return out
}

func TestDecodeV8MatchesPlain(t *testing.T) {
	// The row-major fast path picks the same class and score as the
	// anchor-by-anchor reading of the layout.
	r := rand.New(rand.NewPCG(5, 6))
	const classes, n = 80, 2000
	out := make([]float32, (4+classes)*n)
	for i := range out {
		out[i] = r.Float32()
	}
	d := Decoder{Layout: LayoutYOLOv8, Shape: [3]int64{1, 4 + classes, n}, Default: 0.9}
	got, err := d.Decode(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []Detection
	for i := 0; i < n; i++ {
		best, bestC := float32(-1), -1
		for c := 0; c < classes; c++ {
			if s := out[(4+c)*n+i]; s > best {
				best, bestC = s, c
			}
		}
		if best >= 0.9 {
			cx, cy, w, h := out[i], out[n+i], out[2*n+i], out[3*n+i]
			want = append(want, Detection{Class: bestC, Score: best, Box: Box{cx - w/2, cy - h/2, cx + w/2, cy + h/2}})
		}
	}
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("got %d, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("[%d] %+v, want %+v", i, got[i], want[i])
		}
	}
}
