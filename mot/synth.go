package mot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

// SynthOptions shape a synthetic sequence; zero fields take the defaults in
// brackets.
type SynthOptions struct {
	Frames        int     // sequence length [600]
	FPS           float64 // frame rate [30]
	Width, Height int     // image size in pixels [1920×1080]
	People        int     // people in view, on average [20]

	// The simulated detector.
	Jitter        float64 // box noise, standard deviation as a fraction of the box height [0.03]
	MissRate      float64 // chance a fully visible person is not detected [0.05]
	FalsePerFrame float64 // mean clutter detections per frame [1]
	Distractors   int     // standing figures annotated with flag 0, detected at times [2]
}

func (o SynthOptions) withDefaults() SynthOptions {
	def := func(x *float64, d float64) {
		if *x == 0 {
			*x = d
		}
	}
	defInt := func(x *int, d int) {
		if *x == 0 {
			*x = d
		}
	}
	defInt(&o.Frames, 600)
	def(&o.FPS, 30)
	defInt(&o.Width, 1920)
	defInt(&o.Height, 1080)
	defInt(&o.People, 20)
	def(&o.Jitter, 0.03)
	def(&o.MissRate, 0.05)
	def(&o.FalsePerFrame, 1)
	defInt(&o.Distractors, 2)
	return o
}

// SynthSpec names one synthetic sequence.
type SynthSpec struct {
	Name    string
	Seed    uint64
	Options SynthOptions
}

// Benchmark is the fixed set of synthetic sequences vigil's tracker is
// compared on (mot/README.md): ordinary and crowded scenes, a sharper and a
// noisier detector, and the frame rates of MOT17 (14, 25 and 30 fps) and
// lower.
var Benchmark = []SynthSpec{
	{"walk-1", 1, SynthOptions{}},
	{"walk-2", 2, SynthOptions{Jitter: 0.05}},
	{"crowd-3", 3, SynthOptions{People: 35}},
	{"crowd-4", 4, SynthOptions{People: 35, Jitter: 0.05}},
	{"14fps-5", 5, SynthOptions{FPS: 14, Frames: 280}},
	{"14fps-6", 6, SynthOptions{FPS: 14, Frames: 280, People: 30, Jitter: 0.05}},
	{"25fps-7", 7, SynthOptions{FPS: 25, Frames: 500, People: 25, FalsePerFrame: 2}},
	{"10fps-8", 8, SynthOptions{FPS: 10, Frames: 200, Jitter: 0.04}},
}

// Synthetic is a generated sequence: its ground truth (flag in Conf, 1 or 0;
// class 1 for people, 7 for distractors; visible fraction in Vis) and what a
// detector saw (ID -1).
type Synthetic struct {
	Info SeqInfo
	GT   []Row
	Det  []Row
}

// walker is one person on the ground plane, in metres: X across the view,
// Z the distance from the camera. Heading 0 walks right, π/2 away.
type walker struct {
	id              int
	x, z            float64
	heading, speed  float64
	target          float64 // speed the walker is easing towards
	turn, turnLeft  float64 // rad/s and seconds left of the current turn
	height, aspect  float64 // metres; box width / height
	phase           float64 // gait, for the swaying width
	static          bool    // a distractor: never moves, flag 0
	bias            [4]float64
	everSeen, alive bool
}

// Synth generates a sequence from seed: people walking on a ground plane
// seen by a camera 3 m up, projected with perspective so that near people
// are large and fast and far ones small and slow. They walk at 0.8–1.8 m/s,
// change speed, stop, turn, cross each other's paths, hide behind nearer
// people, enter at the sides and the back and leave. The same seed and
// options always give the same sequence.
//
// The ground truth holds every person whose box is at least a quarter inside
// the image, occluded or not (as MOTChallenge annotates them), clipped to the
// image. The detector misses people more the more they are hidden and the
// smaller they are, scores hidden people low, often boxes only their visible
// part, jitters boxes with errors correlated over frames, sometimes
// duplicates a box, and adds clutter: random false positives (mostly low
// scores) and a few fixed spots that fire repeatedly.
func Synth(seed uint64, opts SynthOptions) Synthetic {
	o := opts.withDefaults()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	g := &synth{o: o, rng: rng, f: 0.6 * float64(o.Width), horizon: 0.3 * float64(o.Height), camH: 3}
	g.zNear = g.f * g.camH / (float64(o.Height) - g.horizon)
	out := Synthetic{Info: SeqInfo{Name: "synth", FrameRate: o.FPS, Length: o.Frames, Width: o.Width, Height: o.Height}}

	for range o.People {
		g.spawn(true)
	}
	for range o.Distractors {
		w := g.newWalker()
		w.static, w.speed, w.target = true, 0, 0
		w.z = 6 + rng.Float64()*14
		w.x = g.randomX(w.z, 0.8)
		g.walkers = append(g.walkers, w)
	}
	type spot struct{ b Box }
	var spots []spot
	for range 3 {
		z := 8 + rng.Float64()*20
		spots = append(spots, spot{g.project(&walker{x: g.randomX(z, 0.9), z: z, height: 1.7, aspect: 0.4})})
	}

	dt := 1 / o.FPS
	var dets []Row
	for frame := 1; frame <= o.Frames; frame++ {
		if frame > 1 {
			for _, w := range g.walkers {
				g.move(w, dt)
			}
			g.walkers = slices.DeleteFunc(g.walkers, func(w *walker) bool { return !w.alive })
			if g.moving() < o.People && rng.Float64() < 2*dt {
				g.spawn(false)
			}
		}
		// Nearest first, so each person's occluders come before it.
		slices.SortStableFunc(g.walkers, func(a, b *walker) int { return cmpFloat(a.z, b.z) })
		var shown []Box
		dets = dets[:0]
		for _, w := range g.walkers {
			full := g.project(w)
			box, inside := g.clip(full)
			if inside < 0.25 {
				shown = append(shown, box)
				continue
			}
			vis, visBox := visibility(box, shown)
			shown = append(shown, box)
			w.everSeen = true
			flag, class := 1.0, 1
			if w.static {
				flag, class = 0, 7
			}
			out.GT = append(out.GT, Row{Frame: frame, ID: w.id, Box: roundBox(box), Conf: flag, Class: class, Vis: round3(vis)})
			dets = g.detect(w, box, visBox, vis, frame, dets)
		}
		for n := poisson(rng, o.FalsePerFrame); n > 0; n-- {
			z := 5 + rng.Float64()*25
			fake := &walker{x: g.randomX(z, 1), z: z, height: 1.1 + 0.8*rng.Float64(), aspect: 0.3 + 0.3*rng.Float64()}
			score := 0.1 + 0.35*rng.Float64()
			if rng.Float64() < 0.2 {
				score = 0.45 + 0.3*rng.Float64()
			}
			if b, in := g.clip(g.project(fake)); in > 0.5 {
				dets = append(dets, Row{Frame: frame, ID: -1, Box: b, Conf: round3(score), Class: -1, Vis: -1})
			}
		}
		for _, s := range spots {
			if rng.Float64() < 0.25 {
				b := g.jitter(s.b, 0.03)
				dets = append(dets, Row{Frame: frame, ID: -1, Box: b, Conf: round3(0.3 + 0.35*rng.Float64()), Class: -1, Vis: -1})
			}
		}
		rng.Shuffle(len(dets), func(i, j int) { dets[i], dets[j] = dets[j], dets[i] })
		out.Det = append(out.Det, dets...)
	}
	return out
}

type synth struct {
	o       SynthOptions
	rng     *rand.Rand
	f       float64 // focal length, pixels
	horizon float64 // image row of the horizon
	camH    float64 // camera height, metres
	zNear   float64 // nearest distance whose feet are in the image
	walkers []*walker
	nextID  int
}

func (g *synth) newWalker() *walker {
	g.nextID++
	r := g.rng
	speed := 0.8 + r.Float64()
	return &walker{
		id: g.nextID, speed: speed, target: speed,
		height: 1.55 + 0.35*r.Float64(), aspect: 0.36 + 0.1*r.Float64(),
		phase: r.Float64() * 2 * math.Pi, alive: true,
	}
}

// moving counts the walkers that are people, not distractors.
func (g *synth) moving() int {
	n := 0
	for _, w := range g.walkers {
		if !w.static {
			n++
		}
	}
	return n
}

// randomX is a position across the view at distance z, within frac of the
// half-width of the image.
func (g *synth) randomX(z, frac float64) float64 {
	half := float64(g.o.Width) / 2 * z / g.f
	return (g.rng.Float64()*2 - 1) * half * frac
}

// spawn adds a person: anywhere in view at the start, else entering from a
// side or from the back.
func (g *synth) spawn(initial bool) {
	r := g.rng
	w := g.newWalker()
	switch {
	case initial:
		w.z = g.zNear + 1 + r.Float64()*22
		w.x = g.randomX(w.z, 0.95)
		w.heading = r.Float64() * 2 * math.Pi
	case r.Float64() < 0.8: // a side
		w.z = g.zNear + 1 + r.Float64()*22
		half := float64(g.o.Width) / 2 * w.z / g.f
		side := 1.0
		if r.IntN(2) == 0 {
			side = -1
		}
		w.x = side * (half + 0.3)
		w.heading = math.Pi/2 - side*math.Pi/2 + (r.Float64()-0.5)*1.2 // inward
	default: // the back, walking towards the camera
		w.z = 30 + r.Float64()*4
		w.x = g.randomX(w.z, 0.7)
		w.heading = -math.Pi/2 + (r.Float64()-0.5)*1.0
	}
	g.walkers = append(g.walkers, w)
}

func (g *synth) move(w *walker, dt float64) {
	if w.static {
		return
	}
	r := g.rng
	if r.Float64() < 0.12*dt { // a new pace about every 8 s
		w.target = 0.8 + r.Float64()
		if r.Float64() < 0.2 {
			w.target = 0 // stop for a while
		}
	}
	w.speed += (w.target - w.speed) * min(1, 1.5*dt)
	if w.turnLeft <= 0 && r.Float64() < 0.15*dt { // a turn about every 7 s
		w.turn = (0.5 + r.Float64()) * float64(1-2*r.IntN(2))
		w.turnLeft = 0.5 + 1.5*r.Float64()
	}
	if w.turnLeft > 0 {
		w.heading += w.turn * dt
		w.turnLeft -= dt
	}
	w.heading += r.NormFloat64() * 0.05 * math.Sqrt(dt)
	w.x += w.speed * math.Cos(w.heading) * dt
	w.z += w.speed * math.Sin(w.heading) * dt
	w.phase += 2 * math.Pi * 1.8 * dt * w.speed
	// Too close to see whole, too far to matter, or out at a side once seen.
	half := float64(g.o.Width)/2*w.z/g.f + 1
	if w.z < g.zNear-1 || w.z > 40 || (w.everSeen && math.Abs(w.x) > half) || math.Abs(w.x) > half+3 {
		w.alive = false
	}
}

// project is the walker's box in the image, unclipped.
func (g *synth) project(w *walker) Box {
	foot := g.horizon + g.f*g.camH/w.z
	h := g.f * w.height / w.z
	width := h * w.aspect * (1 + 0.06*math.Sin(w.phase))
	cx := float64(g.o.Width)/2 + g.f*w.x/w.z
	return Box{X: cx - width/2, Y: foot - h, W: width, H: h}
}

// clip clips b to the image and says what fraction of it was inside.
func (g *synth) clip(b Box) (Box, float64) {
	x1, y1 := max(b.X, 0), max(b.Y, 0)
	x2, y2 := min(b.X+b.W, float64(g.o.Width)), min(b.Y+b.H, float64(g.o.Height))
	if x2 <= x1 || y2 <= y1 || b.W <= 0 || b.H <= 0 {
		return Box{}, 0
	}
	c := Box{X: x1, Y: y1, W: x2 - x1, H: y2 - y1}
	return c, c.W * c.H / (b.W * b.H)
}

// visibility is the fraction of b not covered by any of the nearer boxes,
// sampled on a grid, and the bounding box of the visible samples.
func visibility(b Box, nearer []Box) (float64, Box) {
	const nx, ny = 6, 12
	seen := 0
	x1, y1, x2, y2 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for i := 0; i < nx; i++ {
		for j := 0; j < ny; j++ {
			px := b.X + (float64(i)+0.5)/nx*b.W
			py := b.Y + (float64(j)+0.5)/ny*b.H
			covered := false
			for _, n := range nearer {
				if px >= n.X && px <= n.X+n.W && py >= n.Y && py <= n.Y+n.H {
					covered = true
					break
				}
			}
			if !covered {
				seen++
				x1, y1 = min(x1, px-b.W/nx/2), min(y1, py-b.H/ny/2)
				x2, y2 = max(x2, px+b.W/nx/2), max(y2, py+b.H/ny/2)
			}
		}
	}
	if seen == 0 {
		return 0, Box{}
	}
	return float64(seen) / (nx * ny), Box{X: x1, Y: y1, W: x2 - x1, H: y2 - y1}
}

// detect appends what the simulated detector reports for one person.
func (g *synth) detect(w *walker, box, visBox Box, vis float64, frame int, dets []Row) []Row {
	r, o := g.rng, g.o
	size := clamp01((box.H - 25) / 40) // people under ~40 px are hard
	sigma := o.Jitter * (1 + 2*(1-vis))
	for i := range w.bias { // detector errors persist over frames
		w.bias[i] = 0.6*w.bias[i] + r.NormFloat64()*sigma*0.8
	}
	p := (1 - o.MissRate) * clamp01((vis-0.15)/0.45) * size
	if w.static {
		p = 0.5 * vis
	}
	if r.Float64() >= p {
		return dets
	}
	score := 0.35 + 0.55*clamp01((vis-0.2)/0.6)*size + r.NormFloat64()*0.12
	score = min(max(score, 0.01), 0.99)
	src := box
	if vis < 1 && r.Float64() < 1-vis {
		src = visBox // the detector boxes what it sees
	}
	h := box.H
	b := Box{
		X: src.X + (w.bias[0]+r.NormFloat64()*sigma*0.5)*h,
		Y: src.Y + (w.bias[1]+r.NormFloat64()*sigma*0.5)*h,
		W: src.W * (1 + w.bias[2] + r.NormFloat64()*sigma*0.5),
		H: src.H * (1 + w.bias[3] + r.NormFloat64()*sigma*0.5),
	}
	if b, in := g.clip(b); in > 0 {
		dets = append(dets, Row{Frame: frame, ID: -1, Box: roundBox(b), Conf: round3(score), Class: -1, Vis: -1})
	}
	if r.Float64() < 0.03 { // a duplicate that NMS let through
		d, _ := g.clip(g.jitter(box, sigma*3))
		if d.W > 0 {
			dets = append(dets, Row{Frame: frame, ID: -1, Box: roundBox(d), Conf: round3(score * (0.3 + 0.4*r.Float64())), Class: -1, Vis: -1})
		}
	}
	return dets
}

func (g *synth) jitter(b Box, sigma float64) Box {
	r := g.rng
	return Box{
		X: b.X + r.NormFloat64()*sigma*b.H, Y: b.Y + r.NormFloat64()*sigma*b.H,
		W: b.W * (1 + r.NormFloat64()*sigma), H: b.H * (1 + r.NormFloat64()*sigma),
	}
}

func poisson(r *rand.Rand, mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func clamp01(x float64) float64 { return min(max(x, 0), 1) }

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// roundBox keeps two decimals, as detection files do.
func roundBox(b Box) Box {
	r := func(x float64) float64 { return math.Round(x*100) / 100 }
	return Box{X: r(b.X), Y: r(b.Y), W: r(b.W), H: r(b.H)}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// WriteSequence writes s as a MOTChallenge sequence directory:
// dir/det/det.txt, dir/gt/gt.txt and dir/seqinfo.ini named after dir.
func WriteSequence(dir string, s Synthetic) error {
	info := s.Info
	info.Name = filepath.Base(dir)
	for _, f := range []struct {
		path  string
		write func(*os.File) error
	}{
		{filepath.Join(dir, "det", "det.txt"), func(f *os.File) error { return Write(f, s.Det) }},
		{filepath.Join(dir, "gt", "gt.txt"), func(f *os.File) error { return WriteGroundTruth(f, s.GT) }},
	} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return err
		}
		out, err := os.Create(f.path)
		if err != nil {
			return err
		}
		if err := f.write(out); err != nil {
			out.Close()
			return fmt.Errorf("write %s: %w", f.path, err)
		}
		if err := out.Close(); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return WriteSeqInfo(filepath.Join(dir, "seqinfo.ini"), info)
}
