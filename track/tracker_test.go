package track

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

const (
	person = 0
	car    = 2
)

// at is a detection of a w×h box centred on (cx, cy).
func at(cx, cy, w, h, score float64, class int) Detection {
	return Detection{Box: Box{cx - w/2, cy - h/2, cx + w/2, cy + h/2}, Score: score, Class: class}
}

// byBox finds the reported track whose box is exactly b; Track.Box is the
// matched detection's box, so this tells which object a track followed.
func byBox(tracks []Track, b Box) (Track, bool) {
	for _, tr := range tracks {
		if tr.Box == b {
			return tr, true
		}
	}
	return Track{}, false
}

func checkSorted(t *testing.T, frame int, tracks []Track) {
	t.Helper()
	for i := 1; i < len(tracks); i++ {
		if tracks[i-1].ID >= tracks[i].ID {
			t.Fatalf("frame %d: tracks not sorted by ID: %+v", frame, tracks)
		}
	}
}

func TestCrossingObjectsKeepTheirIDs(t *testing.T) {
	tests := []struct {
		name   string
		speed  float64 // px per frame, each object
		yShift float64 // vertical offset of the right-to-left object
	}{
		{name: "same row", speed: 20},
		{name: "slightly offset rows", speed: 20, yShift: 10},
		{name: "slow", speed: 8},
		// A newborn track has no velocity yet: above about 21 px per frame, a
		// 40 px box no longer overlaps its birth box enough to be matched.
		{name: "fast", speed: 14},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(DefaultConfig())
			const frames = 30
			span := tc.speed * frames
			var idA, idB uint64
			for k := 1; k <= frames; k++ {
				// Starting 5 px apart from symmetric keeps the two boxes from
				// ever being identical, which no tracker could tell apart.
				a := at(20+tc.speed*float64(k), 300, 40, 80, 0.9, person)
				b := at(25+span-tc.speed*float64(k), 300+tc.yShift, 40, 80, 0.9, person)
				got := tr.Update([]Detection{a, b})
				checkSorted(t, k, got)
				if k < DefaultConfig().MinHits {
					continue
				}
				ta, okA := byBox(got, a.Box)
				tb, okB := byBox(got, b.Box)
				if !okA || !okB {
					t.Fatalf("frame %d: want both objects reported, got %+v", k, got)
				}
				if idA == 0 {
					idA, idB = ta.ID, tb.ID
				}
				if ta.ID != idA || tb.ID != idB {
					t.Fatalf("frame %d: IDs (%d, %d), want (%d, %d) kept through the crossing", k, ta.ID, tb.ID, idA, idB)
				}
			}
			if idA == idB {
				t.Fatalf("both objects got ID %d", idA)
			}
		})
	}
}

func TestOcclusion(t *testing.T) {
	tests := []struct {
		name     string
		buffer   int
		gap      int     // frames with no detection
		jump     float64 // px the object reappears away from its motion
		wantSame bool
	}{
		{name: "short gap", buffer: 30, gap: 5, wantSame: true},
		{name: "gap equal to buffer", buffer: 30, gap: 30, wantSame: true},
		{name: "gap one past buffer", buffer: 30, gap: 31},
		{name: "small buffer kept", buffer: 10, gap: 10, wantSame: true},
		{name: "small buffer expired", buffer: 10, gap: 11},
		{name: "no buffer", buffer: 0, gap: 1},
		{name: "reappears off its path", buffer: 30, gap: 5, jump: 300},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.BufferFrames = tc.buffer
			tr := New(cfg)
			const before, after = 20, 10
			obj := func(k int, jump float64) Detection {
				return at(100+4*float64(k)+jump, 300, 50, 100, 0.9, person)
			}
			var id uint64
			for k := 1; k <= before; k++ {
				got := tr.Update([]Detection{obj(k, 0)})
				if k >= cfg.MinHits {
					if len(got) != 1 {
						t.Fatalf("frame %d: got %+v, want the object reported", k, got)
					}
					id = got[0].ID
				}
			}
			for k := before + 1; k <= before+tc.gap; k++ {
				if got := tr.Update(nil); len(got) != 0 {
					t.Fatalf("frame %d: occluded, got %+v, want nothing reported", k, got)
				}
			}
			for i := 1; i <= after; i++ {
				k := before + tc.gap + i
				d := obj(k, tc.jump)
				got := tr.Update([]Detection{d})
				switch {
				case tc.wantSame:
					if len(got) != 1 || got[0].ID != id || got[0].Box != d.Box {
						t.Fatalf("reappearance frame %d: got %+v, want ID %d with box %v", i, got, id, d.Box)
					}
				case i < cfg.MinHits:
					if len(got) != 0 {
						t.Fatalf("reappearance frame %d: got %+v, want nothing until the new track is confirmed", i, got)
					}
				default:
					if len(got) != 1 || got[0].ID <= id {
						t.Fatalf("reappearance frame %d: got %+v, want one track with a new ID above %d", i, got, id)
					}
				}
			}
		})
	}
}

func TestLowScoreDetections(t *testing.T) {
	// A score of 0 means no detection in that frame. want has one character
	// per frame: '#' the object is reported, '.' nothing is.
	tests := []struct {
		name    string
		scores  []float64
		want    string
		wantIDs uint64 // IDs handed out in all
	}{
		{
			name:    "low scores extend a confirmed track",
			scores:  []float64{.9, .9, .9, .9, .3, .3, .3, .3, .3, .3},
			want:    "..########",
			wantIDs: 1,
		},
		{
			name:    "high scores below new_track_threshold extend a track",
			scores:  []float64{.9, .9, .9, .55, .55, .55, .55},
			want:    "..#####",
			wantIDs: 1,
		},
		{
			name:   "low scores never start a track",
			scores: []float64{.3, .3, .3, .3, .3, .3, .3, .3},
			want:   "........",
		},
		{
			name:   "high scores below new_track_threshold never start a track",
			scores: []float64{.55, .55, .55, .55, .55, .55},
			want:   "......",
		},
		{
			name:    "scores below low_threshold are dropped",
			scores:  []float64{.9, .9, .9, .05, .05, .9},
			want:    "..#..#",
			wantIDs: 1,
		},
		{
			name:    "low scores do not revive a lost track but high ones do",
			scores:  []float64{.9, .9, .9, 0, 0, .3, .3, .9, .9},
			want:    "..#....##",
			wantIDs: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(DefaultConfig())
			var id uint64
			for i, s := range tc.scores {
				var dets []Detection
				if s > 0 {
					dets = append(dets, at(200+3*float64(i), 200, 40, 90, s, person))
				}
				got := tr.Update(dets)
				if want := tc.want[i] == '#'; want != (len(got) == 1) || len(got) > 1 {
					t.Fatalf("frame %d (score %v): got %+v, want pattern %q", i+1, s, got, tc.want)
				}
				if len(got) == 0 {
					continue
				}
				if id == 0 {
					id = got[0].ID
				}
				if got[0].ID != id || got[0].Score != s || got[0].Box != dets[0].Box {
					t.Fatalf("frame %d: got %+v, want ID %d, score %v, box %v", i+1, got[0], id, s, dets[0].Box)
				}
			}
			if tr.lastID != tc.wantIDs {
				t.Fatalf("%d IDs handed out, want %d", tr.lastID, tc.wantIDs)
			}
		})
	}
}

func TestConfirmationAfterMinHits(t *testing.T) {
	for _, minHits := range []int{1, 2, 3, 5} {
		t.Run(strings.Repeat("#", minHits), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MinHits = minHits
			tr := New(cfg)
			for k := 1; k <= 8; k++ {
				d := at(100+5*float64(k), 100, 30, 60, 0.8, person)
				got := tr.Update([]Detection{d})
				if k < minHits {
					if len(got) != 0 {
						t.Fatalf("frame %d: got %+v, want nothing before %d hits", k, got, minHits)
					}
					continue
				}
				want := Track{ID: 1, Class: person, Score: 0.8, Box: d.Box, Hits: k, Age: k - 1}
				if k == minHits {
					// Where it was born comes with its first report only.
					want.First = at(105, 100, 30, 60, 0.8, person).Box
				}
				if len(got) == 1 {
					got[0].Velocity = Velocity{} // TestVelocity checks it
					got[0].Estimate = Box{}      // TestEstimateSmoothsJitter
				}
				if len(got) != 1 || got[0] != want {
					t.Fatalf("frame %d: got %+v, want [%+v]", k, got, want)
				}
			}
		})
	}
}

func TestConfirmationNeedsConsecutiveHits(t *testing.T) {
	tr := New(DefaultConfig()) // MinHits 3
	seen := "##.####"
	want := ".....##"
	for i := range seen {
		var dets []Detection
		if seen[i] == '#' {
			dets = []Detection{at(300, 300, 40, 80, 0.9, person)}
		}
		got := tr.Update(dets)
		if (want[i] == '#') != (len(got) == 1) {
			t.Fatalf("frame %d: got %+v, want pattern %q for detections %q", i+1, got, want, seen)
		}
	}
}

func TestIDsIncreaseAndAreNeverReused(t *testing.T) {
	tr := New(DefaultConfig())
	var ids []uint64
	last := make(map[uint64]bool)
	record := func(k int, got []Track) {
		checkSorted(t, k, got)
		for _, g := range got {
			if !last[g.ID] {
				last[g.ID] = true
				ids = append(ids, g.ID)
			}
		}
	}
	k := 0
	// Objects come and go one after another at the same place, two at once,
	// and across a Reset; each must get a fresh ID.
	for round := 0; round < 3; round++ {
		for i := 0; i < 6; i++ {
			k++
			record(k, tr.Update([]Detection{at(200, 200, 40, 80, 0.9, person)}))
		}
		for i := 0; i < DefaultConfig().BufferFrames+1; i++ {
			k++
			record(k, tr.Update(nil))
		}
	}
	for i := 0; i < 5; i++ {
		k++
		record(k, tr.Update([]Detection{at(100, 100, 40, 80, 0.9, person), at(500, 100, 40, 80, 0.9, car)}))
	}
	tr.Reset()
	for i := 0; i < 5; i++ {
		k++
		record(k, tr.Update([]Detection{at(100, 100, 40, 80, 0.9, person)}))
	}
	want := []uint64{1, 2, 3, 4, 5, 6}
	if len(ids) != len(want) {
		t.Fatalf("IDs seen %v, want %v", ids, want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("IDs seen %v, want %v", ids, want)
		}
	}
}

func TestClassAware(t *testing.T) {
	tests := []struct {
		name       string
		classAware bool
		wantSameID bool
	}{
		{name: "class aware: a car is not the person's track", classAware: true},
		{name: "class blind: the box carries the ID", classAware: false, wantSameID: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ClassAware = tc.classAware
			tr := New(cfg)
			var personID uint64
			for k := 1; k <= 5; k++ {
				got := tr.Update([]Detection{at(300, 300, 60, 120, 0.9, person)})
				if k >= cfg.MinHits {
					personID = got[0].ID
				}
			}
			for i := 1; i <= 5; i++ {
				got := tr.Update([]Detection{at(300, 300, 60, 120, 0.9, car)})
				switch {
				case tc.wantSameID:
					if len(got) != 1 || got[0].ID != personID || got[0].Class != car {
						t.Fatalf("car frame %d: got %+v, want track %d now of class %d", i, got, personID, car)
					}
				case i < cfg.MinHits:
					if len(got) != 0 {
						t.Fatalf("car frame %d: got %+v, want nothing: the person is gone, the car not yet confirmed", i, got)
					}
				default:
					if len(got) != 1 || got[0].ID == personID || got[0].Class != car {
						t.Fatalf("car frame %d: got %+v, want a new car track", i, got)
					}
				}
			}
		})
	}
}

func TestClassAwareOverlappingObjects(t *testing.T) {
	tr := New(DefaultConfig())
	for k := 1; k <= 10; k++ {
		// A person standing in front of a car: the same box, two classes.
		p := at(300+2*float64(k), 300, 60, 120, 0.9, person)
		c := at(300+2*float64(k), 300, 60, 120, 0.8, car)
		got := tr.Update([]Detection{p, c})
		if k < 3 {
			continue
		}
		if len(got) != 2 || got[0].Class != person || got[1].Class != car || got[0].ID != 1 || got[1].ID != 2 {
			t.Fatalf("frame %d: got %+v, want person 1 and car 2", k, got)
		}
	}
}

func TestInvalidDetectionsAreIgnored(t *testing.T) {
	nan := math.NaN()
	tr := New(DefaultConfig())
	bad := []Detection{
		{Box: Box{10, 10, 10, 50}, Score: 0.9},  // no width
		{Box: Box{10, 50, 40, 10}, Score: 0.9},  // upside down
		{Box: Box{nan, 10, 40, 50}, Score: 0.9}, // NaN corner
		{Box: Box{10, 10, 40, math.Inf(1)}, Score: 0.9},
		{Box: Box{10, 10, 40, 50}, Score: nan},
	}
	for k := 1; k <= 5; k++ {
		if got := tr.Update(bad); len(got) != 0 {
			t.Fatalf("frame %d: got %+v from invalid detections", k, got)
		}
	}
	if len(tr.tracks) != 0 {
		t.Fatalf("%d tracks started from invalid detections", len(tr.tracks))
	}
}

// scene moves n objects, each bouncing diagonally inside its own cell of a
// 1920×1080 frame, so identities are unambiguous yet every object keeps
// turning around.
type scene struct{ n, cols, rows int }

func newScene(n int) scene {
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	return scene{n: n, cols: cols, rows: (n + cols - 1) / cols}
}

func bounce(start, speed, span float64, k int) float64 {
	q := math.Mod(start+speed*float64(k), 2*span)
	if q > span {
		q = 2*span - q
	}
	return q
}

func (s scene) frame(k int, dst []Detection) []Detection {
	cw, ch := 1920/float64(s.cols), 1080/float64(s.rows)
	h := ch * 0.6
	w := h / 2
	for i := 0; i < s.n; i++ {
		x0, y0 := float64(i%s.cols)*cw, float64(i/s.cols)*ch
		x := x0 + bounce(float64(i*13), float64(2+i%5), cw-w, k)
		y := y0 + bounce(float64(i*7), float64(1+i%3), ch-h, k)
		dst = append(dst, Detection{Box: Box{x, y, x + w, y + h}, Score: 0.6 + 0.3*float64(i%4)/3, Class: i % 2})
	}
	return dst
}

func TestSceneKeepsEveryIdentity(t *testing.T) {
	for _, n := range []int{20, 100} {
		s := newScene(n)
		// The scene's reversals are instant: at one, the prediction
		// overlaps the box by as little as IoU 0.22, which weighted by a
		// score of 0.6 (TestScoreWeighsOverlap) is 0.13. This test is about
		// identities in a crowd, so it matches at ByteTrack's MOT17
		// evaluation setting, IoU × score >= 0.1.
		cfg := DefaultConfig()
		cfg.MatchThreshold = 0.1
		tr := New(cfg)
		owner := make(map[uint64]int) // track ID → object index
		var dets []Detection
		for k := 1; k <= 300; k++ {
			dets = s.frame(k, dets[:0])
			got := tr.Update(dets)
			if k < 3 {
				continue
			}
			if len(got) != n {
				t.Fatalf("%d objects, frame %d: %d tracks reported", n, k, len(got))
			}
			for i, d := range dets {
				g, ok := byBox(got, d.Box)
				if !ok {
					t.Fatalf("%d objects, frame %d: object %d not reported", n, k, i)
				}
				if o, seen := owner[g.ID]; seen && o != i {
					t.Fatalf("%d objects, frame %d: track %d moved from object %d to %d", n, k, g.ID, o, i)
				}
				owner[g.ID] = i
			}
		}
		if len(owner) != n {
			t.Fatalf("%d objects got %d IDs over the run", n, len(owner))
		}
	}
}

func TestAppendUpdateSteadyStateDoesNotAllocate(t *testing.T) {
	s := newScene(20)
	tr := New(DefaultConfig())
	var dets []Detection
	var out []Track
	k := 0
	step := func() {
		k++
		dets = s.frame(k, dets[:0])
		out = tr.AppendUpdate(out[:0], dets)
	}
	for range 10 {
		step()
	}
	if allocs := testing.AllocsPerRun(100, step); allocs != 0 {
		t.Fatalf("AppendUpdate allocated %v times per frame in a steady scene, want 0", allocs)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // fields named in the error, none for a valid config
	}{
		{name: "default", change: func(*Config) {}},
		{name: "thresholds at the edges", change: func(c *Config) {
			c.LowThreshold, c.HighThreshold, c.NewTrackThreshold = 0, 1, 1
			c.BufferFrames, c.MinHits = 0, 1
		}},
		{name: "negative high", change: func(c *Config) { c.HighThreshold = -0.1 }, want: []string{"tracker.high_threshold"}},
		{name: "high above 1", change: func(c *Config) { c.HighThreshold, c.NewTrackThreshold = 1.5, 1 }, want: []string{"tracker.high_threshold"}},
		{name: "NaN low", change: func(c *Config) { c.LowThreshold = math.NaN() }, want: []string{"tracker.low_threshold"}},
		{name: "low above high", change: func(c *Config) { c.LowThreshold = 0.7 }, want: []string{"tracker.low_threshold"}},
		{name: "new track below high", change: func(c *Config) { c.NewTrackThreshold = 0.4 }, want: []string{"tracker.new_track_threshold"}},
		{name: "zero match", change: func(c *Config) { c.MatchThreshold = 0 }, want: []string{"tracker.match_threshold"}},
		{name: "second match above 1", change: func(c *Config) { c.SecondMatchThreshold = 1.1 }, want: []string{"tracker.second_match_threshold"}},
		{name: "negative unconfirmed match", change: func(c *Config) { c.UnconfirmedMatchThreshold = -1 }, want: []string{"tracker.unconfirmed_match_threshold"}},
		{name: "negative buffer", change: func(c *Config) { c.BufferFrames = -1 }, want: []string{"tracker.buffer_frames"}},
		{name: "zero min hits", change: func(c *Config) { c.MinHits = 0 }, want: []string{"tracker.min_hits"}},
		{name: "zero value config", change: func(c *Config) { *c = Config{} }, want: []string{
			"tracker.match_threshold", "tracker.second_match_threshold", "tracker.unconfirmed_match_threshold", "tracker.min_hits",
		}},
		{name: "several at once", change: func(c *Config) { c.BufferFrames, c.MinHits = -5, -1 }, want: []string{
			"tracker.buffer_frames", "tracker.min_hits",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			var got []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var ce *ConfigError
					if !errors.As(e, &ce) {
						t.Fatalf("error %q is not a *ConfigError", e)
					}
					if !strings.HasPrefix(e.Error(), ce.Field+": ") {
						t.Fatalf("error %q does not start with its field %q", e, ce.Field)
					}
					got = append(got, ce.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("Validate() = %v, want errors for %v", err, tc.want)
			}
		})
	}
}

func TestNewPanicsOnInvalidConfig(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "tracker.min_hits") {
			t.Fatalf("recovered %v, want a panic naming tracker.min_hits", r)
		}
	}()
	cfg := DefaultConfig()
	cfg.MinHits = 0
	New(cfg)
}

func BenchmarkTrackerUpdate(b *testing.B) {
	for _, n := range []int{20, 100} {
		s := newScene(n)
		b.Run(strconv.Itoa(n)+"_objects", func(b *testing.B) {
			tr := New(DefaultConfig())
			var dets []Detection
			k := 0
			b.ReportAllocs()
			for b.Loop() {
				k++
				dets = s.frame(k, dets[:0])
				tr.Update(dets)
			}
		})
	}
}
