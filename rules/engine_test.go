package rules

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/track"
)

var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// obj is a track whose bottom-centre anchor is at (x, y).
type obj struct {
	id    uint64
	x, y  float64
	class int
	score float64
	from  []float64 // x, y of the anchor it was born at (track.Track.First); nil: none
}

func (o obj) track() track.Track {
	score := o.score
	if score == 0 {
		score = 0.9
	}
	tr := track.Track{ID: o.id, Class: o.class, Score: score, Box: track.Box{X1: o.x - 10, Y1: o.y - 40, X2: o.x + 10, Y2: o.y}}
	if o.from != nil {
		tr.First = track.Box{X1: o.from[0] - 10, Y1: o.from[1] - 40, X2: o.from[0] + 10, Y2: o.from[1]}
	}
	return tr
}

// frame is one scripted frame: its time after t0 and the tracks in it.
type frame struct {
	at   time.Duration
	objs []obj
}

// path is one track moving through ys (x fixed), one frame each 100 ms from start.
func path(id uint64, x float64, ys ...float64) []frame {
	fs := make([]frame, len(ys))
	for i, y := range ys {
		fs[i] = frame{at: time.Duration(i) * 100 * time.Millisecond, objs: []obj{{id: id, x: x, y: y}}}
	}
	return fs
}

// describe writes an event as one short line that tests compare.
func describe(ev Event, start time.Time) string {
	s := fmt.Sprintf("%s %s %s #%d", ev.Time.Sub(start), ev.Rule, ev.Type, ev.TrackID)
	if ev.Direction != "" {
		s += " " + ev.Direction
	}
	if ev.Kind == KindZone {
		s += fmt.Sprintf(" occ=%d", ev.Occupancy)
	}
	if ev.Dwell > 0 {
		s += " dwell=" + ev.Dwell.String()
	}
	return s
}

func run(t *testing.T, e *Engine, frames []frame) []string {
	t.Helper()
	var got []string
	for _, f := range frames {
		tracks := make([]track.Track, len(f.objs))
		for i, o := range f.objs {
			tracks[i] = o.track()
		}
		for _, ev := range e.Update(t0.Add(f.at), 640, 480, tracks) {
			got = append(got, describe(ev, t0))
		}
	}
	return got
}

func engine(t *testing.T, rules ...Rule) *Engine {
	t.Helper()
	e, err := New("cam", rules)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func counts(e *Engine, rule string) map[string]int64 {
	for _, s := range e.States() {
		if s.Rule == rule {
			return s.Counts
		}
	}
	return nil
}

// door is a line drawn left to right at y=100 from x=0 to x=200: side A
// above it (smaller y), side B below.
func door(mod ...func(*Rule)) Rule {
	r := Rule{Name: "door", Kind: KindLine, Points: pts(0, 100, 200, 100), Hysteresis: 10, AToB: "in", BToA: "out"}
	for _, m := range mod {
		m(&r)
	}
	return r
}

func TestLineCrossings(t *testing.T) {
	cases := []struct {
		name   string
		rule   Rule
		frames []frame
		want   []string
		counts map[string]int64
	}{
		{
			name:   "straight across A to B",
			rule:   door(),
			frames: path(1, 100, 40, 70, 95, 120, 160),
			want:   []string{"300ms door line_cross #1 in"},
			counts: map[string]int64{"in": 1, "out": 0},
		},
		{
			name: "flicker across the line counts once",
			rule: door(),
			// 95/105/98/108 stay within 10 px of y=100; 115 is past it;
			// back to 92 is not far enough to go back.
			frames: path(1, 100, 50, 95, 105, 98, 108, 95, 115, 105, 92, 98, 104, 130),
			want:   []string{"600ms door line_cross #1 in"},
			counts: map[string]int64{"in": 1, "out": 0},
		},
		{
			name:   "without hysteresis the same flicker counts every time",
			rule:   door(func(r *Rule) { r.Hysteresis = 0 }),
			frames: path(1, 100, 50, 95, 105, 98, 108),
			want:   []string{"200ms door line_cross #1 in", "300ms door line_cross #1 out", "400ms door line_cross #1 in"},
			counts: map[string]int64{"in": 2, "out": 1},
		},
		{
			name: "two directions, two tracks",
			rule: door(),
			frames: []frame{
				{0, []obj{{id: 1, x: 50, y: 50}, {id: 2, x: 150, y: 150}}},
				{100 * time.Millisecond, []obj{{id: 1, x: 50, y: 90}, {id: 2, x: 150, y: 110}}},
				{200 * time.Millisecond, []obj{{id: 1, x: 50, y: 130}, {id: 2, x: 150, y: 70}}},
				{300 * time.Millisecond, []obj{{id: 1, x: 50, y: 60}, {id: 2, x: 150, y: 40}}},
			},
			want: []string{
				"200ms door line_cross #1 in",
				"200ms door line_cross #2 out",
				"300ms door line_cross #1 out",
			},
			counts: map[string]int64{"in": 1, "out": 2},
		},
		{
			name: "lost and re-found on the same side does not count again",
			rule: door(),
			frames: []frame{
				{0, []obj{{id: 7, x: 100, y: 50}}},
				{100 * time.Millisecond, []obj{{id: 7, x: 100, y: 150}}}, // crosses
				{200 * time.Millisecond, nil},                            // lost
				{2 * time.Second, nil},
				{3 * time.Second, []obj{{id: 7, x: 100, y: 160}}}, // re-found, same side
				{3100 * time.Millisecond, []obj{{id: 7, x: 100, y: 170}}},
			},
			want:   []string{"100ms door line_cross #7 in"},
			counts: map[string]int64{"in": 1, "out": 0},
		},
		{
			name: "lost on one side and re-found on the other counts the crossing once",
			rule: door(),
			frames: []frame{
				{0, []obj{{id: 7, x: 100, y: 50}}},
				{100 * time.Millisecond, nil},
				{time.Second, []obj{{id: 7, x: 100, y: 150}}},
				{1100 * time.Millisecond, []obj{{id: 7, x: 100, y: 160}}},
			},
			want:   []string{"1s door line_cross #7 in"},
			counts: map[string]int64{"in": 1, "out": 0},
		},
		{
			name:   "walking round the end of the line is no crossing",
			rule:   door(),
			frames: []frame{{0, []obj{{id: 1, x: 190, y: 50}}}, {time.Second, []obj{{id: 1, x: 250, y: 50}}}, {2 * time.Second, []obj{{id: 1, x: 250, y: 150}}}, {3 * time.Second, []obj{{id: 1, x: 190, y: 150}}}},
			want:   nil,
			counts: map[string]int64{"in": 0, "out": 0},
		},
		{
			name: "a track first seen on the line waits for a side",
			rule: door(),
			// born at y=100 (in the hysteresis band): its first side is B at
			// 120, so nothing is counted.
			frames: path(1, 100, 100, 105, 120, 140),
			want:   nil,
			counts: map[string]int64{"in": 0, "out": 0},
		},
		{
			name: "a track first reported past the line counts the crossing it made while being confirmed",
			rule: door(),
			// born at y=60 (side A), confirmed at y=130: the detector saw
			// it cross before the tracker reported it.
			frames: []frame{
				{0, []obj{{id: 1, x: 100, y: 130, from: []float64{100, 60}}}},
				{100 * time.Millisecond, []obj{{id: 1, x: 100, y: 150}}},
			},
			want:   []string{"0s door line_cross #1 in"},
			counts: map[string]int64{"in": 1, "out": 0},
		},
		{
			name: "a track born on the line, or beside it, counts no crossing on its first report",
			rule: door(),
			// 97 is within half the hysteresis of y=100; x=250 is beyond
			// the line's end.
			frames: []frame{
				{0, []obj{{id: 1, x: 100, y: 130, from: []float64{100, 97}}, {id: 2, x: 150, y: 130, from: []float64{250, 60}}}},
				{100 * time.Millisecond, []obj{{id: 1, x: 100, y: 150}, {id: 2, x: 150, y: 150}}},
			},
			want:   nil,
			counts: map[string]int64{"in": 0, "out": 0},
		},
		{
			name: "a track born within the hysteresis but half of it from the line came from that side",
			rule: door(),
			// Born at 94, 6 px above the line: it counts once it is the
			// whole hysteresis past it, at 110, not in the band at 105.
			frames: []frame{
				{0, []obj{{id: 1, x: 100, y: 105, from: []float64{100, 94}}}},
				{100 * time.Millisecond, []obj{{id: 1, x: 100, y: 110}}},
				{200 * time.Millisecond, []obj{{id: 1, x: 100, y: 125}}},
			},
			want:   []string{"100ms door line_cross #1 in"},
			counts: map[string]int64{"in": 1, "out": 0},
		},
		{
			name: "where a track was born counts only while the rule does not know it",
			rule: door(),
			// A tracker gives First only on a track's first report; a
			// rule that knows the track already has its side.
			frames: []frame{
				{0, []obj{{id: 1, x: 100, y: 130}}},
				{100 * time.Millisecond, []obj{{id: 1, x: 100, y: 150, from: []float64{100, 60}}}},
			},
			want:   nil,
			counts: map[string]int64{"in": 0, "out": 0},
		},
		{
			name: "cooldown defers, and counts follow where the track ends up",
			rule: door(func(r *Rule) { r.Cooldown = time.Second }),
			// A→B at 100ms; B→A at 200ms and A→B at 300ms fall in the
			// cooldown and cancel out; B→A at 400ms is reported when the
			// cooldown ends at 1.1s, as the track is still on side A then.
			frames: append(path(1, 100, 50, 150, 50, 150, 50), frame{1100 * time.Millisecond, []obj{{id: 1, x: 100, y: 40}}}),
			want:   []string{"100ms door line_cross #1 in", "1.1s door line_cross #1 out"},
			counts: map[string]int64{"in": 1, "out": 1},
		},
		{
			name: "class filter and minimum score",
			rule: door(func(r *Rule) { r.Classes = []int{0}; r.MinScore = 0.5 }),
			frames: []frame{
				{0, []obj{{id: 1, x: 50, y: 50, class: 2}, {id: 2, x: 100, y: 50, score: 0.3}, {id: 3, x: 150, y: 50, score: 0.6}}},
				// 2 reaches the score here; 3 dips below it but has qualified.
				{100 * time.Millisecond, []obj{{id: 1, x: 50, y: 150, class: 2}, {id: 2, x: 100, y: 60, score: 0.7}, {id: 3, x: 150, y: 150, score: 0.2}}},
				{200 * time.Millisecond, []obj{{id: 1, x: 50, y: 160, class: 2}, {id: 2, x: 100, y: 150, score: 0.2}, {id: 3, x: 150, y: 160, score: 0.2}}},
			},
			want:   []string{"100ms door line_cross #3 in", "200ms door line_cross #2 in"},
			counts: map[string]int64{"in": 2, "out": 0},
		},
		{
			name:   "normalized points follow the frame size",
			rule:   Rule{Name: "door", Kind: KindLine, Normalized: true, Points: pts(0, 0.25, 1, 0.25), Hysteresis: 10}, // y = 120 at 640x480
			frames: path(1, 320, 100, 115, 125, 140),
			want:   []string{"300ms door line_cross #1 a_to_b"},
			counts: map[string]int64{"a_to_b": 1, "b_to_a": 0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := engine(t, tc.rule)
			got := run(t, e, tc.frames)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events:\n got  %q\n want %q", got, tc.want)
			}
			if c := counts(e, tc.rule.Name); !reflect.DeepEqual(c, tc.counts) {
				t.Errorf("counts %v, want %v", c, tc.counts)
			}
		})
	}
}

// cell is a zone from (100,100) to (300,300).
func cell(mod ...func(*Rule)) Rule {
	r := Rule{Name: "cell", Kind: KindZone, Points: square, Hysteresis: 5, OccupancyThreshold: 1}
	for _, m := range mod {
		m(&r)
	}
	return r
}

func TestZoneEvents(t *testing.T) {
	s := time.Second
	cases := []struct {
		name   string
		rule   Rule
		frames []frame
		want   []string
		counts map[string]int64
		occ    int
	}{
		{
			name: "enter, dwell, exit",
			rule: cell(func(r *Rule) { r.Dwell = 5 * s }),
			frames: []frame{
				{0, []obj{{id: 1, x: 50, y: 200}}},
				{1 * s, []obj{{id: 1, x: 150, y: 200}}},
				{5 * s, []obj{{id: 1, x: 160, y: 200}}},
				{6 * s, []obj{{id: 1, x: 170, y: 200}}}, // 5 s inside
				{7 * s, []obj{{id: 1, x: 180, y: 200}}}, // dwell only once
				{8 * s, []obj{{id: 1, x: 350, y: 200}}},
			},
			want: []string{
				"1s cell zone_enter #1 occ=1",
				"1s cell occupancy_reached #1 occ=1",
				"6s cell dwell #1 occ=1 dwell=5s",
				"8s cell zone_exit #1 occ=0",
				"8s cell occupancy_cleared #1 occ=0",
			},
			counts: map[string]int64{"entered": 1, "exited": 1, "dwell": 1},
		},
		{
			name: "dwell timer restarts on a new visit",
			rule: cell(func(r *Rule) { r.Dwell = 2 * s; r.OccupancyThreshold = 0 }),
			frames: []frame{
				{0, []obj{{id: 1, x: 150, y: 200}}},
				{1 * s, []obj{{id: 1, x: 50, y: 200}}},
				{2 * s, []obj{{id: 1, x: 150, y: 200}}},
				{3 * s, []obj{{id: 1, x: 150, y: 200}}},
				{4 * s, []obj{{id: 1, x: 150, y: 200}}},
			},
			want: []string{
				"0s cell zone_enter #1 occ=1",
				"1s cell zone_exit #1 occ=0",
				"2s cell zone_enter #1 occ=1",
				"4s cell dwell #1 occ=1 dwell=2s",
			},
			counts: map[string]int64{"entered": 2, "exited": 1, "dwell": 1},
			occ:    1,
		},
		{
			name: "edge jitter within hysteresis changes nothing",
			rule: cell(),
			frames: []frame{
				{0, []obj{{id: 1, x: 90, y: 200}}},
				{1 * s, []obj{{id: 1, x: 103, y: 200}}}, // inside by 3 < 5
				{2 * s, []obj{{id: 1, x: 98, y: 200}}},
				{3 * s, []obj{{id: 1, x: 110, y: 200}}}, // inside by 10
				{4 * s, []obj{{id: 1, x: 97, y: 200}}},  // outside by 3
				{5 * s, []obj{{id: 1, x: 104, y: 200}}},
			},
			want:   []string{"3s cell zone_enter #1 occ=1", "3s cell occupancy_reached #1 occ=1"},
			counts: map[string]int64{"entered": 1, "exited": 0, "dwell": 0},
			occ:    1,
		},
		{
			name: "occupancy comes from the tracks, threshold 2",
			rule: cell(func(r *Rule) { r.OccupancyThreshold = 2 }),
			frames: []frame{
				{0, []obj{{id: 1, x: 150, y: 200}}},
				{1 * s, []obj{{id: 1, x: 150, y: 200}, {id: 2, x: 200, y: 200}}},
				{2 * s, []obj{{id: 1, x: 150, y: 200}, {id: 2, x: 200, y: 200}, {id: 3, x: 250, y: 200}}},
				{3 * s, []obj{{id: 1, x: 350, y: 200}, {id: 2, x: 200, y: 200}, {id: 3, x: 250, y: 200}}},
				{4 * s, []obj{{id: 1, x: 350, y: 200}, {id: 2, x: 350, y: 210}, {id: 3, x: 250, y: 200}}},
			},
			want: []string{
				"0s cell zone_enter #1 occ=1",
				"1s cell zone_enter #2 occ=2",
				"1s cell occupancy_reached #2 occ=2",
				"2s cell zone_enter #3 occ=3",
				"3s cell zone_exit #1 occ=2",
				"4s cell zone_exit #2 occ=1",
				"4s cell occupancy_cleared #2 occ=1",
			},
			counts: map[string]int64{"entered": 3, "exited": 2, "dwell": 0},
			occ:    1,
		},
		{
			name: "lost inside and re-found: no exit, no second enter",
			rule: cell(func(r *Rule) { r.ExitAfter = 3 * s }),
			frames: []frame{
				{0, []obj{{id: 4, x: 150, y: 200}}},
				{1 * s, nil},
				{3 * s, nil},
				{3500 * time.Millisecond, []obj{{id: 4, x: 160, y: 200}}},
			},
			want:   []string{"0s cell zone_enter #4 occ=1", "0s cell occupancy_reached #4 occ=1"},
			counts: map[string]int64{"entered": 1, "exited": 0, "dwell": 0},
			occ:    1,
		},
		{
			name: "lost inside for longer than exit_after: it has left",
			rule: cell(func(r *Rule) { r.ExitAfter = 3 * s }),
			frames: []frame{
				{0, []obj{{id: 4, x: 150, y: 200}}},
				{1 * s, nil},
				{3 * s, nil}, // occupancy holds while the tracker may still find it
				{4 * s, nil},
			},
			want: []string{
				"0s cell zone_enter #4 occ=1",
				"0s cell occupancy_reached #4 occ=1",
				"4s cell zone_exit #4 occ=0",
				"4s cell occupancy_cleared #4 occ=0",
			},
			counts: map[string]int64{"entered": 1, "exited": 1, "dwell": 0},
		},
		{
			name: "cooldown: a quick step out and back is one visit; clearing waits",
			rule: cell(func(r *Rule) { r.Cooldown = 2 * s }),
			frames: []frame{
				{0, []obj{{id: 1, x: 150, y: 200}}},
				{1 * s, []obj{{id: 1, x: 50, y: 200}}}, // out within the cooldown
				{1500 * time.Millisecond, []obj{{id: 1, x: 150, y: 200}}},
				{5 * s, []obj{{id: 1, x: 50, y: 200}}}, // out for good
				{6 * s, []obj{{id: 1, x: 40, y: 200}}},
				{7 * s, []obj{{id: 1, x: 40, y: 200}}},
			},
			want: []string{
				"0s cell zone_enter #1 occ=1",
				"0s cell occupancy_reached #1 occ=1",
				"5s cell zone_exit #1 occ=0",
				"7s cell occupancy_cleared #0 occ=0",
			},
			counts: map[string]int64{"entered": 1, "exited": 1, "dwell": 0},
		},
		{
			name: "occupancy_reached is never delayed by the cooldown",
			rule: cell(func(r *Rule) { r.Cooldown = 10 * s }),
			frames: []frame{
				{0, []obj{{id: 1, x: 150, y: 200}}},
				{1 * s, nil},
				{5 * s, nil},                             // 1 left (exit_after 3s); its exit and the clearing wait 10s
				{20 * s, nil},                            // both reported
				{21 * s, []obj{{id: 2, x: 150, y: 200}}}, // someone else: reached at once
			},
			want: []string{
				"0s cell zone_enter #1 occ=1",
				"0s cell occupancy_reached #1 occ=1",
				"20s cell zone_exit #1 occ=0",
				"20s cell occupancy_cleared #1 occ=0",
				"21s cell zone_enter #2 occ=1",
				"21s cell occupancy_reached #2 occ=1",
			},
			counts: map[string]int64{"entered": 2, "exited": 1, "dwell": 0},
			occ:    1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := engine(t, tc.rule)
			got := run(t, e, tc.frames)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events:\n got  %q\n want %q", got, tc.want)
			}
			st := e.States()[0]
			if !reflect.DeepEqual(st.Counts, tc.counts) || st.Occupancy != tc.occ {
				t.Errorf("counts %v occupancy %d, want %v and %d", st.Counts, st.Occupancy, tc.counts, tc.occ)
			}
		})
	}
}

func TestEventsCarryCountSnapshots(t *testing.T) {
	e := engine(t, door())
	var evs []Event
	for i, y := range []float64{50, 150, 50, 150} {
		evs = append(evs, e.Update(t0.Add(time.Duration(i)*time.Second), 640, 480, []track.Track{obj{id: 1, x: 100, y: y}.track()})...)
	}
	want := []map[string]int64{{"in": 1, "out": 0}, {"in": 1, "out": 1}, {"in": 2, "out": 1}}
	if len(evs) != len(want) {
		t.Fatalf("%d events", len(evs))
	}
	for i, ev := range evs {
		if !reflect.DeepEqual(ev.Counts, want[i]) {
			t.Errorf("event %d counts %v, want %v", i, ev.Counts, want[i])
		}
		if ev.Class != 0 || ev.Score != 0.9 || ev.Kind != KindLine {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
}

func TestArmDisarmReset(t *testing.T) {
	e := engine(t, door(), cell(func(r *Rule) { r.Disarmed = true }))
	step := func(at time.Duration, objs ...obj) []string {
		var out []string
		tracks := make([]track.Track, len(objs))
		for i, o := range objs {
			tracks[i] = o.track()
		}
		for _, ev := range e.Update(t0.Add(at), 640, 480, tracks) {
			out = append(out, describe(ev, t0))
		}
		return out
	}
	// The cell starts disarmed: a track inside says nothing.
	if got := step(0, obj{id: 1, x: 150, y: 200}); got != nil {
		t.Fatalf("disarmed rule reported %q", got)
	}
	if st := e.States()[1]; st.Armed || st.Occupancy != 1 || st.Occupied {
		t.Fatalf("disarmed state %+v", st)
	}
	v := e.Version()
	st, err := e.Arm("cell", true)
	if err != nil || !st.Armed || e.Version() == v {
		t.Fatalf("arm: %+v %v (version %d→%d)", st, err, v, e.Version())
	}
	// Armed with someone inside: the stop goes out on the next frame, but
	// the enter that happened while disarmed is not replayed.
	if got := step(time.Second, obj{id: 1, x: 150, y: 200}); !reflect.DeepEqual(got, []string{"1s cell occupancy_reached #1 occ=1"}) {
		t.Fatalf("after arming: %q", got)
	}
	// Disarm the door: a crossing is followed but neither reported nor counted.
	if _, err := e.Arm("door", false); err != nil {
		t.Fatal(err)
	}
	step(2*time.Second, obj{id: 2, x: 100, y: 50})
	if got := step(3*time.Second, obj{id: 2, x: 100, y: 150}); got != nil {
		t.Fatalf("disarmed door reported %q", got)
	}
	e.Arm("door", true)
	if got := step(4*time.Second, obj{id: 2, x: 100, y: 50}); !reflect.DeepEqual(got, []string{"4s door line_cross #2 out"}) {
		t.Fatalf("re-armed door: %q", got)
	}
	states, err := e.Reset("door")
	if err != nil || len(states) != 1 || states[0].Counts["out"] != 0 {
		t.Fatalf("reset: %+v %v", states, err)
	}
	if all, _ := e.Reset(""); len(all) != 2 {
		t.Fatalf("reset all: %+v", all)
	}
	if e.States()[1].Occupancy != 1 {
		t.Error("reset changed occupancy, which comes from the tracks")
	}
	for _, f := range []func() error{
		func() error { _, err := e.Arm("nope", true); return err },
		func() error { _, err := e.Reset("nope"); return err },
		func() error { return e.Restore("nope", nil) },
	} {
		err := f()
		if !errors.Is(err, ErrUnknownRule) || !strings.Contains(err.Error(), `unknown rule "nope" on camera "cam"; its rules: cell, door`) {
			t.Errorf("unknown rule: %v", err)
		}
	}
	if err := e.Restore("door", map[string]int64{"in": 41, "out": 2, "other": 5}); err != nil {
		t.Fatal(err)
	}
	if c := counts(e, "door"); !reflect.DeepEqual(c, map[string]int64{"in": 41, "out": 2}) {
		t.Errorf("restored %v", c)
	}
}

func TestForgetsTracksLongGone(t *testing.T) {
	e, err := New("cam", []Rule{door()}, WithForgetAfter(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	e.Update(t0, 640, 480, []track.Track{obj{id: 1, x: 100, y: 50}.track()})
	e.Update(t0.Add(2*time.Minute), 640, 480, nil)
	if n := len(e.rules[0].tracks); n != 0 {
		t.Errorf("%d tracks remembered after the forget time", n)
	}
}

func TestNewRejects(t *testing.T) {
	cases := []struct {
		rules []Rule
		want  string
	}{
		{[]Rule{door(), door()}, `rule "door" twice`},
		{[]Rule{door(func(r *Rule) { r.Name = "a.b" })}, `name "a.b": use 1-64 letters`},
		{[]Rule{door(func(r *Rule) { r.Points = pts(5, 5, 5, 5) })}, "points: the line has zero length"},
		{[]Rule{door(func(r *Rule) { r.AToB, r.BToA = "x", "x" })}, `directions: both are "x"`},
		{[]Rule{cell(func(r *Rule) { r.Points = pts(0, 0, 10, 10, 10, 0, 0, 10) })}, "self-intersects"},
		{[]Rule{cell(func(r *Rule) { r.Anchor = "feet" })}, `anchor "feet"`},
		{[]Rule{{Name: "x", Kind: "circle"}}, `kind "circle"`},
	}
	for _, tc := range cases {
		_, err := New("cam", tc.rules)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
