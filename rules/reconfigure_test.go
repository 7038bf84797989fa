package rules

import (
	"reflect"
	"testing"
	"time"
)

// line counts of a door: in and out.
func line(name string, in, out int64) map[string]int64 { return map[string]int64{"in": in, "out": out} }

func zone(entered, exited, dwell int64) map[string]int64 {
	return map[string]int64{CountEntered: entered, CountExited: exited, CountDwell: dwell}
}

// crossIn takes track 1 across the door, A to B, by 200ms: in 1.
var crossIn = path(1, 100, 50, 150, 160)

func TestReconfigure(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	cases := []struct {
		name   string
		before []Rule
		frames []frame // before the change
		setup  func(*Engine)
		after  []Rule
		mid    []State // right after the change; nil: not checked
		then   []frame // after the change
		want   []string
		states []State
	}{
		{
			name:   "a parameter change keeps counts and where the tracks are, and applies from the next frame",
			before: []Rule{door()},
			frames: crossIn, // track 1 on side B
			after:  []Rule{door(func(r *Rule) { r.Hysteresis = 30 })},
			mid:    []State{{Rule: "door", Kind: KindLine, Armed: true, Counts: line("in", 1, 0)}},
			// 20 px above the line: a crossing at hysteresis 10, not at 30.
			// At 40 px it is one, and counted at once because the track is
			// still known to be on side B.
			then:   []frame{{300 * ms, []obj{{id: 1, x: 100, y: 80}}}, {400 * ms, []obj{{id: 1, x: 100, y: 60}}}},
			want:   []string{"400ms door line_cross #1 out"},
			states: []State{{Rule: "door", Kind: KindLine, Armed: true, Counts: line("in", 1, 1)}},
		},
		{
			name:   "a moved line keeps counts, forgets the sides and counts by the new line",
			before: []Rule{door()},
			frames: crossIn, // at y=160: side B of the old line, side A of the new one
			after:  []Rule{door(func(r *Rule) { r.Points = pts(0, 200, 200, 200) })},
			mid:    []State{{Rule: "door", Kind: KindLine, Armed: true, Counts: line("in", 1, 0)}},
			// Kept sides would make y=160 a crossing back out; it is a first
			// sighting on side A of the new line, and 240 crosses it.
			then:   []frame{{300 * ms, []obj{{id: 1, x: 100, y: 160}}}, {400 * ms, []obj{{id: 1, x: 100, y: 240}}}},
			want:   []string{"400ms door line_cross #1 in"},
			states: []State{{Rule: "door", Kind: KindLine, Armed: true, Counts: line("in", 2, 0)}},
		},
		{
			name:   "a kind change starts from zero",
			before: []Rule{door()},
			frames: crossIn,
			after:  []Rule{cell(func(r *Rule) { r.Name = "door" })},
			mid:    []State{{Rule: "door", Kind: KindZone, Armed: true, Counts: zone(0, 0, 0)}},
			then:   []frame{{300 * ms, []obj{{id: 1, x: 150, y: 200}}}},
			want:   []string{"300ms door zone_enter #1 occ=1", "300ms door occupancy_reached #1 occ=1"},
			states: []State{{Rule: "door", Kind: KindZone, Armed: true, Occupancy: 1, Occupied: true, Counts: zone(1, 0, 0)}},
		},
		{
			name:   "a renamed rule starts from zero, tracks included",
			before: []Rule{door()},
			frames: crossIn,
			after:  []Rule{door(func(r *Rule) { r.Name = "gate" })},
			mid:    []State{{Rule: "gate", Kind: KindLine, Armed: true, Counts: line("in", 0, 0)}},
			// Back to side A: first seen there by the new rule, no crossing.
			then:   []frame{{300 * ms, []obj{{id: 1, x: 100, y: 50}}}},
			want:   nil,
			states: []State{{Rule: "gate", Kind: KindLine, Armed: true, Counts: line("in", 0, 0)}},
		},
		{
			name:   "a renamed direction starts from zero",
			before: []Rule{door()},
			frames: crossIn,
			after:  []Rule{door(func(r *Rule) { r.AToB = "enter" })},
			mid:    []State{{Rule: "door", Kind: KindLine, Armed: true, Counts: map[string]int64{"enter": 0, "out": 0}}},
			then:   []frame{{300 * ms, []obj{{id: 1, x: 100, y: 50}}}},
			want:   nil,
			states: []State{{Rule: "door", Kind: KindLine, Armed: true, Counts: map[string]int64{"enter": 0, "out": 0}}},
		},
		{
			name:   "default direction names written out are the same directions",
			before: []Rule{door(func(r *Rule) { r.AToB, r.BToA = "", "" })},
			frames: crossIn,
			after:  []Rule{door(func(r *Rule) { r.AToB, r.BToA = DefaultAToB, DefaultBToA })},
			then:   []frame{{300 * ms, []obj{{id: 1, x: 100, y: 50}}}},
			want:   []string{"300ms door line_cross #1 b_to_a"},
			states: []State{{Rule: "door", Kind: KindLine, Armed: true, Counts: map[string]int64{DefaultAToB: 1, DefaultBToA: 1}}},
		},
		{
			name:   "disarmed by command, the same Disarmed setting leaves it disarmed",
			before: []Rule{door()},
			frames: crossIn,
			setup:  func(e *Engine) { e.Arm("door", false) },
			after:  []Rule{door(func(r *Rule) { r.Cooldown = s })},
			then:   []frame{{300 * ms, []obj{{id: 1, x: 100, y: 50}}}},
			want:   nil,
			states: []State{{Rule: "door", Kind: KindLine, Counts: line("in", 1, 0)}},
		},
		{
			name:   "armed by command, the same Disarmed setting leaves it armed",
			before: []Rule{door(func(r *Rule) { r.Disarmed = true })},
			frames: crossIn[:1],
			setup:  func(e *Engine) { e.Arm("door", true) },
			after:  []Rule{door(func(r *Rule) { r.Disarmed = true })},
			then:   crossIn[1:],
			want:   []string{"100ms door line_cross #1 in"},
			states: []State{{Rule: "door", Kind: KindLine, Armed: true, Counts: line("in", 1, 0)}},
		},
		{
			name:   "a changed Disarmed setting applies",
			before: []Rule{door()},
			frames: crossIn,
			after:  []Rule{door(func(r *Rule) { r.Disarmed = true })},
			mid:    []State{{Rule: "door", Kind: KindLine, Counts: line("in", 1, 0)}},
			then:   []frame{{300 * ms, []obj{{id: 1, x: 100, y: 50}}}},
			want:   nil,
			states: []State{{Rule: "door", Kind: KindLine, Counts: line("in", 1, 0)}},
		},
		{
			name:   "an unchanged zone keeps its occupancy, visits and occupied state",
			before: []Rule{cell()},
			frames: []frame{{0, []obj{{id: 1, x: 150, y: 200}}}, {1 * s, []obj{{id: 1, x: 150, y: 200}}}},
			after:  []Rule{cell(func(r *Rule) { r.Dwell = 2 * s })},
			mid:    []State{{Rule: "cell", Kind: KindZone, Armed: true, Occupancy: 1, Occupied: true, Counts: zone(1, 0, 0)}},
			// No second enter or occupancy_reached; the dwell counts from
			// the enter at 0s.
			then: []frame{{2 * s, []obj{{id: 1, x: 150, y: 200}}}, {3 * s, []obj{{id: 1, x: 350, y: 200}}}},
			want: []string{
				"2s cell dwell #1 occ=1 dwell=2s",
				"3s cell zone_exit #1 occ=0",
				"3s cell occupancy_cleared #1 occ=0",
			},
			states: []State{{Rule: "cell", Kind: KindZone, Armed: true, Counts: zone(1, 1, 1)}},
		},
		{
			name:   "a zone without a threshold any more is no longer occupied",
			before: []Rule{cell()},
			frames: []frame{{0, []obj{{id: 1, x: 150, y: 200}}}},
			after:  []Rule{cell(func(r *Rule) { r.OccupancyThreshold = 0 })},
			mid:    []State{{Rule: "cell", Kind: KindZone, Armed: true, Occupancy: 1, Counts: zone(1, 0, 0)}},
			then:   []frame{{1 * s, []obj{{id: 1, x: 350, y: 200}}}},
			want:   []string{"1s cell zone_exit #1 occ=0"},
			states: []State{{Rule: "cell", Kind: KindZone, Armed: true, Counts: zone(1, 1, 0)}},
		},
		{
			name:   "a moved zone keeps counts and finds the tracks anew, as after a restart",
			before: []Rule{cell()},
			frames: []frame{{0, []obj{{id: 1, x: 150, y: 200}}}},
			after:  []Rule{cell(func(r *Rule) { r.Points = pts(120, 120, 320, 120, 320, 320, 120, 320) })},
			mid:    []State{{Rule: "cell", Kind: KindZone, Armed: true, Counts: zone(1, 0, 0)}},
			then:   []frame{{1 * s, []obj{{id: 1, x: 150, y: 200}}}},
			want:   []string{"1s cell zone_enter #1 occ=1", "1s cell occupancy_reached #1 occ=1"},
			states: []State{{Rule: "cell", Kind: KindZone, Armed: true, Occupancy: 1, Occupied: true, Counts: zone(2, 0, 0)}},
		},
		{
			name:   "a zone that no longer follows a class forgets its tracks",
			before: []Rule{cell(func(r *Rule) { r.Classes = []int{0, 2} })},
			frames: []frame{{0, []obj{{id: 1, x: 150, y: 200}}}},
			after:  []Rule{cell(func(r *Rule) { r.Classes = []int{2} })},
			mid:    []State{{Rule: "cell", Kind: KindZone, Armed: true, Counts: zone(1, 0, 0)}},
			then:   []frame{{1 * s, []obj{{id: 1, x: 150, y: 200}}}, {2 * s, []obj{{id: 1, x: 350, y: 200}}}},
			want:   nil,
			states: []State{{Rule: "cell", Kind: KindZone, Armed: true, Counts: zone(1, 0, 0)}},
		},
		{
			name:   "classes in another order are the same classes",
			before: []Rule{cell(func(r *Rule) { r.Classes = []int{0, 2} })},
			frames: []frame{{0, []obj{{id: 1, x: 150, y: 200}}}},
			after:  []Rule{cell(func(r *Rule) { r.Classes = []int{2, 0} })},
			mid:    []State{{Rule: "cell", Kind: KindZone, Armed: true, Occupancy: 1, Occupied: true, Counts: zone(1, 0, 0)}},
		},
		{
			name:   "removed rules are dropped, new ones start from zero, in the new order",
			before: []Rule{door(), cell()},
			frames: []frame{{0, []obj{{id: 1, x: 100, y: 50}, {id: 2, x: 150, y: 200}}}, {100 * ms, []obj{{id: 1, x: 100, y: 150}, {id: 2, x: 150, y: 200}}}},
			after:  []Rule{cell(), door(func(r *Rule) { r.Name = "gate" })},
			mid: []State{
				{Rule: "cell", Kind: KindZone, Armed: true, Occupancy: 1, Occupied: true, Counts: zone(1, 0, 0)},
				{Rule: "gate", Kind: KindLine, Armed: true, Counts: line("in", 0, 0)},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := engine(t, tc.before...)
			run(t, e, tc.frames)
			if tc.setup != nil {
				tc.setup(e)
			}
			v := e.Version()
			if err := e.Reconfigure(tc.after); err != nil {
				t.Fatal(err)
			}
			if e.Version() <= v {
				t.Errorf("version %d after the change, %d before: the counts would not be stored again", e.Version(), v)
			}
			if tc.mid != nil && !reflect.DeepEqual(e.States(), tc.mid) {
				t.Errorf("states after the change:\n got  %+v\n want %+v", e.States(), tc.mid)
			}
			got := run(t, e, tc.then)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events after the change:\n got  %q\n want %q", got, tc.want)
			}
			if tc.states != nil && !reflect.DeepEqual(e.States(), tc.states) {
				t.Errorf("states at the end:\n got  %+v\n want %+v", e.States(), tc.states)
			}
		})
	}
}

func TestReconfigureRejectsAndChangesNothing(t *testing.T) {
	moved := cell(func(r *Rule) { r.Points = pts(400, 100, 600, 100, 600, 300) })
	cases := [][]Rule{
		{moved, door(), door()},
		{moved, door(func(r *Rule) { r.Name = "a.b" })},
		{moved, door(func(r *Rule) { r.Points = pts(5, 5, 5, 5) })},
		{moved, door(func(r *Rule) { r.AToB, r.BToA = "x", "x" })},
		{cell(func(r *Rule) { r.Points = pts(0, 0, 10, 10, 10, 0, 0, 10) })},
		{{Name: "x", Kind: "circle"}},
	}
	for _, rs := range cases {
		e := engine(t, door(), cell())
		run(t, e, []frame{{0, []obj{{id: 1, x: 100, y: 50}, {id: 2, x: 150, y: 200}}}, {100 * time.Millisecond, []obj{{id: 1, x: 100, y: 150}, {id: 2, x: 150, y: 200}}}})
		rules, states, v := e.Rules(), e.States(), e.Version()

		_, want := New("cam", rs)
		err := e.Reconfigure(rs)
		if err == nil || want == nil || err.Error() != want.Error() {
			t.Errorf("Reconfigure: %v\nNew:         %v", err, want)
		}
		if !reflect.DeepEqual(e.Rules(), rules) || !reflect.DeepEqual(e.States(), states) || e.Version() != v {
			t.Errorf("a rejected change changed the engine: rules %+v, states %+v, version %d→%d", e.Rules(), e.States(), v, e.Version())
		}
		// Still the old rules, with what they knew: 1 crosses back, 2 leaves the old cell.
		got := run(t, e, []frame{{200 * time.Millisecond, []obj{{id: 1, x: 100, y: 50}, {id: 2, x: 350, y: 200}}}})
		want2 := []string{"200ms door line_cross #1 out", "200ms cell zone_exit #2 occ=0", "200ms cell occupancy_cleared #2 occ=0"}
		if !reflect.DeepEqual(got, want2) {
			t.Errorf("after a rejected change:\n got  %q\n want %q", got, want2)
		}
	}
}

func TestRulesHaveDefaults(t *testing.T) {
	e := engine(t, Rule{Name: "door", Kind: KindLine, Points: pts(0, 100, 200, 100)})
	got := e.Rules()
	want := []Rule{{Name: "door", Kind: KindLine, Points: pts(0, 100, 200, 100), Anchor: AnchorBottomCenter,
		ExitAfter: DefaultExitAfter, AToB: DefaultAToB, BToA: DefaultBToA}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rules %+v, want %+v", got, want)
	}
	got[0].Points[0].X = 50
	if e.Rules()[0].Points[0].X != 0 {
		t.Error("Rules shares its points with the engine")
	}
}
