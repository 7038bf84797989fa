package examples

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/dataset"
)

func box(label string, class int, score, x, y float64) dataset.Box {
	return dataset.Box{Class: class, Label: label, Score: score, X: x, Y: y, W: 40, H: 80}
}

func threshold(class int, label string) float64 {
	if label == "person" {
		return 0.5
	}
	return 0.25
}

// reasonNames are the strategies (the first word of each reason).
func reasonNames(why []string) string {
	var names []string
	for _, w := range why {
		n, _, _ := strings.Cut(w, ":")
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

func TestStrategiesOnScriptedDetections(t *testing.T) {
	person := func(score float64) dataset.Box { return box("person", 0, score, 100, 100) }
	car := func(score float64) dataset.Box { return box("car", 2, score, 300, 200) }
	cases := []struct {
		name string
		s    Strategies
		dets []dataset.Box
		draw float64
		want string // reason names, in order; "" none
	}{
		{"close above", Strategies{CloseToThreshold: 0.05}, []dataset.Box{person(0.54)}, 1, "close_to_threshold"},
		{"close below, class threshold", Strategies{CloseToThreshold: 0.05}, []dataset.Box{car(0.21)}, 1, "close_to_threshold"},
		{"far from threshold", Strategies{CloseToThreshold: 0.05}, []dataset.Box{person(0.9), car(0.6)}, 1, ""},
		{"just outside epsilon", Strategies{CloseToThreshold: 0.05}, []dataset.Box{person(0.56)}, 1, ""},
		{"random drawn", Strategies{Random: 0.01}, nil, 0.005, "random"},
		{"random not drawn", Strategies{Random: 0.01}, nil, 0.5, ""},
		{"classes by label", Strategies{Classes: []string{"car"}}, []dataset.Box{person(0.9), car(0.9)}, 1, "classes"},
		{"classes by id", Strategies{Classes: []string{"2"}}, []dataset.Box{car(0.9)}, 1, "classes"},
		{"classes absent", Strategies{Classes: []string{"dog"}}, []dataset.Box{person(0.9), car(0.9)}, 1, ""},
		{"count in range", Strategies{CountMin: 2, CountMax: 3}, []dataset.Box{person(0.9), car(0.9)}, 1, "count"},
		{"count above range", Strategies{CountMin: 0, CountMax: 1}, []dataset.Box{person(0.9), car(0.9)}, 1, ""},
		{"count below range", Strategies{CountMin: 3}, []dataset.Box{person(0.9), car(0.9)}, 1, ""},
		{"count at least, no upper bound", Strategies{CountMin: 1}, []dataset.Box{person(0.9), car(0.9)}, 1, "count"},
		{"classes: below its threshold is no person", Strategies{Classes: []string{"person"}}, []dataset.Box{person(0.3)}, 1, ""},
		{"count: below threshold not counted", Strategies{CountMin: 2}, []dataset.Box{person(0.9), car(0.1)}, 1, ""},
		{"all off", Strategies{}, []dataset.Box{person(0.5), car(0.25)}, 0, ""},
		{"combined", Strategies{CloseToThreshold: 0.05, Random: 0.5, Classes: []string{"person"}, CountMin: 1},
			[]dataset.Box{person(0.5)}, 0.1, "close_to_threshold,random,classes,count"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sm := &Sampler{Rand: func() float64 { return c.draw }}
			why := sm.Decide(c.s, &Frame{Camera: "a", Width: 640, Height: 480, Detections: c.dets, Threshold: threshold})
			if got := reasonNames(why); got != c.want {
				t.Errorf("reasons %q (%q), want %q", got, why, c.want)
			}
		})
	}
}

func TestCloseToThresholdSaysWhy(t *testing.T) {
	sm := &Sampler{}
	why := sm.Decide(Strategies{CloseToThreshold: 0.05}, &Frame{Camera: "a", Detections: []dataset.Box{box("car", 2, 0.27, 10, 10)}, Threshold: threshold})
	if len(why) != 1 || why[0] != "close_to_threshold: car 0.27 (threshold 0.25 ± 0.05)" {
		t.Errorf("reasons %q", why)
	}
}

// TestTrackerStrategies scripts a scene frame by frame: a person tracked,
// then missed by the detector (a false negative), a car tracked until it
// leaves at the edge (not missed), and a ghost detection no track takes
// (a false positive) for UnmatchedFrames frames.
func TestTrackerStrategies(t *testing.T) {
	person := box("person", 0, 0.9, 200, 200)
	atEdge := box("car", 2, 0.9, 600, 100) // its right side at 640
	ghost := box("dog", 16, 0.4, 50, 300)
	tr := func(id uint64, b dataset.Box) Track { return Track{ID: id, Box: b} }
	frames := []struct {
		dets   []dataset.Box
		tracks []Track
		want   string
	}{
		{[]dataset.Box{person, atEdge}, []Track{tr(1, person), tr(2, atEdge)}, ""},
		{[]dataset.Box{person, atEdge, ghost}, []Track{tr(1, person), tr(2, atEdge)}, ""},
		{[]dataset.Box{ghost}, nil, "tracker_missed"}, // person missed; the car left at the edge
		{[]dataset.Box{ghost}, nil, ""},               // missed once, said once
		{[]dataset.Box{person, ghost}, []Track{tr(1, person)}, "tracker_unmatched"},
		{[]dataset.Box{person, ghost}, []Track{tr(1, person)}, ""}, // flagged once, at UnmatchedFrames
	}
	sm := &Sampler{}
	s := Strategies{TrackerMissed: true, TrackerUnmatched: true}
	for i, f := range frames {
		why := sm.Decide(s, &Frame{Camera: "a", Width: 640, Height: 480, Detections: f.dets, Tracks: f.tracks})
		if got := reasonNames(why); got != f.want {
			t.Errorf("frame %d: reasons %q, want %q", i, why, f.want)
		}
	}
	// The same scene with the strategies off takes nothing.
	sm = &Sampler{}
	for i, f := range frames {
		if why := sm.Decide(Strategies{}, &Frame{Camera: "a", Width: 640, Height: 480, Detections: f.dets, Tracks: f.tracks}); why != nil {
			t.Errorf("off, frame %d: reasons %q", i, why)
		}
	}
}

func TestLimitsHold(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	sm := &Sampler{Limits: Limits{PerMinute: 2, PerHour: 5, PerDay: 7}, MaxDistance: -1, Now: func() time.Time { return now }}
	take := func() bool {
		if sm.Allowed("a") != "" {
			return false
		}
		sm.Took("a", 0, nil)
		return true
	}
	count := func(n int, step time.Duration) (taken int) {
		for range n {
			if take() {
				taken++
			}
			now = now.Add(step)
		}
		return taken
	}
	if got := count(10, time.Second); got != 2 {
		t.Errorf("in a minute: took %d, want 2 (per_minute)", got)
	}
	if sm.Allowed("b") != "" {
		t.Error("camera b limited by camera a's examples")
	}
	if got := count(60, 10*time.Second); got != 3 { // ten minutes: the hour's other 3
		t.Errorf("in the hour: took %d more, want 3 (per_hour 5)", got)
	}
	now = now.Add(time.Hour)
	if got := count(60, 10*time.Second); got != 2 { // the day's last 2
		t.Errorf("next hour: took %d, want 2 (per_day 7)", got)
	}
	now = now.Add(23 * time.Hour)
	if got := count(10, time.Second); got != 2 {
		t.Errorf("next day: took %d, want 2", got)
	}
}

func TestDuplicateSkip(t *testing.T) {
	car := []dataset.Box{box("car", 2, 0.3, 100, 100)}
	carMoved := []dataset.Box{box("car", 2, 0.3, 102, 101)}
	sm := &Sampler{MaxDistance: 4}
	if sm.Duplicate("a", 0xff, car) {
		t.Error("duplicate of nothing")
	}
	sm.Took("a", 0xff, car)
	cases := []struct {
		name  string
		h     Hash
		boxes []dataset.Box
		dup   bool
	}{
		{"same", 0xff, car, true},
		{"a bit of noise, the box a little moved", 0xfe, carMoved, true},
		{"a different picture", 0xff00ff00, car, false},
		{"the car gone", 0xff, nil, false},
		{"a person more", 0xff, append([]dataset.Box{box("person", 0, 0.9, 300, 100)}, car...), false},
		{"the car elsewhere", 0xff, []dataset.Box{box("car", 2, 0.3, 300, 300)}, false},
	}
	for _, c := range cases {
		if got := sm.Duplicate("a", c.h, c.boxes); got != c.dup {
			t.Errorf("%s: duplicate %v, want %v", c.name, got, c.dup)
		}
	}
	if sm.Duplicate("b", 0xff, car) {
		t.Error("camera b compared with camera a's example")
	}
}
