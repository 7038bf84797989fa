package rules

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-vision/vigil/track"
)

// Event is something a rule saw happen in one frame.
type Event struct {
	Rule      string
	Kind      Kind
	Type      Type
	Direction string // line_cross: the rule's name for the direction crossed
	TrackID   uint64 // the track it is about; for occupancy, the one that tipped it, or 0
	Class     int    // the track's class; -1 without a track
	Score     float64
	Time      time.Time     // the frame's capture time
	Occupancy int           // zones: tracks inside after this frame
	Dwell     time.Duration // dwell: how long the track has been inside
	Counts    map[string]int64
}

// State is a rule's current state.
type State struct {
	Rule      string           `json:"rule"`
	Kind      Kind             `json:"kind"`
	Armed     bool             `json:"armed"`
	Occupancy int              `json:"occupancy"` // zones: tracks inside now
	Occupied  bool             `json:"occupied"`  // zones: occupancy_reached reported and not cleared
	Counts    map[string]int64 `json:"counts"`
}

// Option configures an Engine.
type Option func(*Engine)

// WithForgetAfter sets how long a track no longer seen is remembered
// (default DefaultForgetAfter).
func WithForgetAfter(d time.Duration) Option { return func(e *Engine) { e.forgetAfter = d } }

// ErrUnknownRule is returned by commands that name a rule the camera lacks.
var ErrUnknownRule = errors.New("unknown rule")

// Engine evaluates one camera's rules frame by frame.
type Engine struct {
	camera      string
	forgetAfter time.Duration

	mu      sync.Mutex
	rules   []*ruleState
	version uint64
}

type ruleState struct {
	Rule
	armed  bool
	forget time.Duration

	classes   map[int]bool
	scaled    []Point // Points in pixels for the frame size below
	scaledFor [2]int

	tracks    map[uint64]*trackState
	ids       []uint64 // scratch: sorted keys of tracks
	counts    map[string]int64
	occupancy int
	occupied  bool      // reported level
	below     time.Time // occupancy below the threshold since; zero while at or above
}

type trackState struct {
	lastSeen  time.Time
	seenNow   bool
	qualified bool
	class     int
	score     float64

	// zones
	inside     bool // where the track is now (with hysteresis)
	reported   bool // where events last said it is
	visitStart time.Time
	dwellDone  bool

	// lines
	side      int8 // -1 side A, +1 side B, 0 unknown or beside the line
	committed int8 // side as last reported

	lastChange time.Time // last enter, exit or crossing reported
}

// New checks the rules and returns an engine for camera.
func New(camera string, rules []Rule, opts ...Option) (*Engine, error) {
	e := &Engine{camera: camera, forgetAfter: DefaultForgetAfter}
	for _, o := range opts {
		o(e)
	}
	rs, err := e.build(rules)
	if err != nil {
		return nil, err
	}
	e.rules = rs
	return e, nil
}

// build checks rules and makes their states as at a fresh start.
func (e *Engine) build(rules []Rule) ([]*ruleState, error) {
	seen := map[string]bool{}
	out := make([]*ruleState, 0, len(rules))
	for i, r := range rules {
		if err := r.Check(); err != nil {
			return nil, fmt.Errorf("camera %q rule %d (%q): %w", e.camera, i, r.Name, err)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("camera %q: rule %q twice; rule names must be unique per camera", e.camera, r.Name)
		}
		seen[r.Name] = true
		r = r.withDefaults()
		rs := &ruleState{Rule: r, armed: !r.Disarmed, forget: e.forgetAfter, tracks: map[uint64]*trackState{}, counts: map[string]int64{}}
		if len(r.Classes) > 0 {
			rs.classes = map[int]bool{}
			for _, c := range r.Classes {
				rs.classes[c] = true
			}
		}
		rs.resetCounts()
		out = append(out, rs)
	}
	return out, nil
}

// Reconfigure replaces the rules while the engine runs. It checks them as
// New does and, on an error, changes nothing.
//
// A rule is its Name. A new rule with an old rule's name, kind and (lines)
// direction names continues that rule's counts and armed state; a changed
// Disarmed setting applies, an unchanged one leaves the armed state as
// commands left it. When its points, Normalized, Anchor, Classes and
// MinScore are unchanged too, it keeps everything it knows about the tracks
// (where each is, visits, dwell, cooldowns, occupancy, occupied) and its
// other settings apply from the next frame. When they changed, what it
// knows about the tracks starts over as after a restart: the next frame
// finds where each track is, so a track inside a moved zone enters it, and
// a track first seen facing a moved line has not crossed it. Any other rule
// starts from zero; rules left out are dropped. The version grows, so the
// counts are stored again.
func (e *Engine) Reconfigure(rules []Rule) error {
	next, err := e.build(rules)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	old := make(map[string]*ruleState, len(e.rules))
	for _, r := range e.rules {
		old[r.Name] = r
	}
	for _, r := range next {
		if o := old[r.Name]; o != nil && r.countsLike(o) {
			r.continueFrom(o)
		}
	}
	e.rules = next
	e.version++
	return nil
}

// countsLike says whether r counts the same things as o: the same kind and,
// for a line, the same direction names.
func (r *ruleState) countsLike(o *ruleState) bool {
	return r.Kind == o.Kind && (r.Kind != KindLine || r.AToB == o.AToB && r.BToA == o.BToA)
}

// followsLike says whether r sees the tracks where o sees them: the same
// geometry, anchor and filters.
func (r *ruleState) followsLike(o *ruleState) bool {
	return slices.Equal(r.Points, o.Points) && r.Normalized == o.Normalized && r.Anchor == o.Anchor &&
		maps.Equal(r.classes, o.classes) && r.MinScore == o.MinScore
}

// continueFrom carries o's counts and armed state into r, and what o knows
// about the tracks when r follows them as o did.
func (r *ruleState) continueFrom(o *ruleState) {
	r.counts = o.counts
	if r.Disarmed == o.Disarmed {
		r.armed = o.armed
	}
	if !r.followsLike(o) {
		return
	}
	r.tracks, r.occupancy, r.occupied, r.below = o.tracks, o.occupancy, o.occupied, o.below
	if r.armed != o.armed || r.OccupancyThreshold == 0 {
		// As Arm does; and with no threshold, occupied would never clear.
		r.occupied, r.below = false, time.Time{}
	}
}

// Rules returns the rules the engine runs, in configuration order, with
// their defaults filled in.
func (e *Engine) Rules() []Rule {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Rule, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.Rule.withDefaults() // copies Points and Classes
	}
	return out
}

// Camera is the camera the engine belongs to.
func (e *Engine) Camera() string { return e.camera }

// Version grows whenever a rule's state (counts, occupancy, armed) changes.
func (e *Engine) Version() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.version
}

func (r *ruleState) resetCounts() {
	clear(r.counts)
	if r.Kind == KindZone {
		r.counts[CountEntered], r.counts[CountExited], r.counts[CountDwell] = 0, 0, 0
	} else {
		r.counts[r.AToB], r.counts[r.BToA] = 0, 0
	}
}

func (r *ruleState) state() State {
	return State{Rule: r.Name, Kind: r.Kind, Armed: r.armed, Occupancy: r.occupancy, Occupied: r.occupied, Counts: maps.Clone(r.counts)}
}

// Update evaluates one frame: its capture time, size (needed by normalized
// rules) and confirmed tracks. Frames must come in order.
func (e *Engine) Update(at time.Time, width, height int, tracks []track.Track) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var events []Event
	for _, r := range e.rules {
		if !r.scale(width, height) {
			continue
		}
		before := r.occupancy
		n := len(events)
		events = r.update(at, tracks, events)
		if len(events) > n || r.occupancy != before {
			e.version++
		}
	}
	return events
}

// scale maps normalized points to this frame size; false when it cannot.
func (r *ruleState) scale(w, h int) bool {
	if !r.Normalized {
		r.scaled = r.Points
		return true
	}
	if w <= 0 || h <= 0 {
		return false
	}
	if r.scaledFor != [2]int{w, h} {
		r.scaled = make([]Point, len(r.Points))
		for i, p := range r.Points {
			r.scaled[i] = Point{p.X * float64(w), p.Y * float64(h)}
		}
		r.scaledFor = [2]int{w, h}
	}
	return true
}

func (r *ruleState) update(at time.Time, tracks []track.Track, events []Event) []Event {
	for _, ts := range r.tracks {
		ts.seenNow = false
	}
	for _, t := range tracks {
		if r.classes != nil && !r.classes[t.Class] {
			continue
		}
		ts := r.tracks[t.ID]
		if ts == nil {
			ts = &trackState{}
			r.tracks[t.ID] = ts
		}
		if !ts.qualified && t.Score < r.MinScore {
			continue
		}
		ts.qualified = true
		ts.seenNow, ts.lastSeen, ts.class, ts.score = true, at, t.Class, t.Score
		p := r.Anchor.Of(t.Box)
		if r.Kind == KindZone {
			r.locateInZone(ts, p)
			continue
		}
		if ts.committed == 0 && t.First.Valid() {
			// First reported: where it was born is the side it came from,
			// so a crossing made while it was being confirmed counts.
			ts.committed = r.bornSide(r.Anchor.Of(t.First))
		}
		r.locateByLine(ts, p)
	}

	r.ids = r.ids[:0]
	for id, ts := range r.tracks {
		gone := at.Sub(ts.lastSeen)
		if !ts.seenNow && r.Kind == KindZone && ts.inside && gone > r.ExitAfter {
			ts.inside = false // lost inside: it has left by now
		}
		if !ts.seenNow && gone > 0 && gone >= forgetAfterFor(r, ts) {
			delete(r.tracks, id)
			continue
		}
		r.ids = append(r.ids, id)
	}
	slices.Sort(r.ids)

	if r.Kind == KindZone {
		return r.zoneEvents(at, events)
	}
	return r.lineEvents(at, events)
}

// forgetAfterFor keeps a zone track until its exit was reported.
func forgetAfterFor(r *ruleState, ts *trackState) time.Duration {
	if r.Kind == KindZone && (ts.inside || ts.reported) {
		return 1<<63 - 1
	}
	if !ts.qualified {
		return 0 // never counted: nothing to remember
	}
	return r.forget
}

func (r *ruleState) locateInZone(ts *trackState, p Point) {
	in := Contains(r.scaled, p)
	if in == ts.inside {
		return
	}
	if r.Hysteresis == 0 || BoundaryDistance(r.scaled, p) >= r.Hysteresis {
		ts.inside = in
	}
}

func (r *ruleState) locateByLine(ts *trackState, p Point) {
	d, facing := r.lineDistance(p)
	if !facing {
		// Beside the line, not facing it: whatever side it was on, walking
		// round the end is no crossing.
		ts.side, ts.committed = 0, 0
		return
	}
	switch {
	case d > 0 && d >= r.Hysteresis:
		ts.side = 1
	case d < 0 && -d >= r.Hysteresis:
		ts.side = -1
	}
}

// bornSide is the side of the line a track born at p came from: 0 when p
// is beside the line or within half the hysteresis of it. Half, not all of
// it: the track is then counted once it is the whole hysteresis past the
// line on the other side, one and a half times the hysteresis from where
// it was born, where a track followed from one side to the other moves
// twice the hysteresis. On motion-bench's scenes with the detector on
// every third frame, walkers are often first detected within the band;
// half kept 181 of 192 crossings, the whole band 175, and no band at all
// (any side) made the reference itself count tracks born on the line.
func (r *ruleState) bornSide(p Point) int8 {
	d, facing := r.lineDistance(p)
	switch {
	case !facing:
		return 0
	case d > 0 && d >= r.Hysteresis/2:
		return 1
	case d < 0 && -d >= r.Hysteresis/2:
		return -1
	}
	return 0
}

// lineDistance is p's signed distance from the line in pixels, positive
// on side B, and whether p faces the line rather than lying beside one of
// its ends.
func (r *ruleState) lineDistance(p Point) (float64, bool) {
	a, b := r.scaled[0], r.scaled[1]
	dx, dy := b.X-a.X, b.Y-a.Y
	l2 := dx*dx + dy*dy
	t := ((p.X-a.X)*dx + (p.Y-a.Y)*dy) / l2
	if t < 0 || t > 1 {
		return 0, false
	}
	return cross(a, b, p) / (l2 / dist(a, b)), true
}

func (r *ruleState) cooled(ts *trackState, at time.Time) bool {
	return r.Cooldown == 0 || ts.lastChange.IsZero() || at.Sub(ts.lastChange) >= r.Cooldown
}

func (r *ruleState) event(typ Type, at time.Time, id uint64, ts *trackState) Event {
	ev := Event{Rule: r.Name, Kind: r.Kind, Type: typ, TrackID: id, Class: -1, Time: at, Counts: maps.Clone(r.counts)}
	if ts != nil {
		ev.Class, ev.Score = ts.class, ts.score
	} else {
		ev.TrackID = 0
	}
	if r.Kind == KindZone {
		ev.Occupancy = r.occupancy
	}
	return ev
}

func (r *ruleState) zoneEvents(at time.Time, events []Event) []Event {
	occ := 0
	var tipped, left uint64
	for _, id := range r.ids {
		ts := r.tracks[id]
		if ts.inside {
			occ++
			tipped = id // the highest id inside
		}
	}
	r.occupancy = occ

	for _, id := range r.ids {
		ts := r.tracks[id]
		if ts.inside != ts.reported && r.cooled(ts, at) {
			ts.reported, ts.lastChange = ts.inside, at
			if !r.armed {
				continue
			}
			if ts.inside {
				ts.visitStart, ts.dwellDone = at, false
				r.counts[CountEntered]++
				events = append(events, r.event(TypeZoneEnter, at, id, ts))
			} else {
				left = id
				r.counts[CountExited]++
				events = append(events, r.event(TypeZoneExit, at, id, ts))
			}
		}
		if r.armed && ts.reported && r.Dwell > 0 && !ts.dwellDone && at.Sub(ts.visitStart) >= r.Dwell {
			ts.dwellDone = true
			r.counts[CountDwell]++
			ev := r.event(TypeDwell, at, id, ts)
			ev.Dwell = at.Sub(ts.visitStart)
			events = append(events, ev)
		}
	}

	if r.OccupancyThreshold > 0 && r.armed {
		switch {
		case occ >= r.OccupancyThreshold:
			r.below = time.Time{}
			if !r.occupied {
				r.occupied = true
				events = append(events, r.event(TypeOccupancyReached, at, tipped, r.tracks[tipped]))
			}
		case r.occupied:
			if r.below.IsZero() {
				r.below = at
			}
			if at.Sub(r.below) >= r.Cooldown {
				r.occupied, r.below = false, time.Time{}
				events = append(events, r.event(TypeOccupancyCleared, at, left, r.tracks[left]))
			}
		}
	}
	return events
}

func (r *ruleState) lineEvents(at time.Time, events []Event) []Event {
	for _, id := range r.ids {
		ts := r.tracks[id]
		switch {
		case ts.side == 0:
		case ts.committed == 0:
			ts.committed = ts.side // first sighting facing the line, born on it or beside it: no crossing
		case ts.side != ts.committed && r.cooled(ts, at):
			dir := r.AToB
			if ts.side < 0 {
				dir = r.BToA
			}
			ts.committed, ts.lastChange = ts.side, at
			if !r.armed {
				continue
			}
			r.counts[dir]++
			ev := r.event(TypeLineCross, at, id, ts)
			ev.Direction = dir
			events = append(events, ev)
		}
	}
	return events
}

// States returns every rule's current state, in configuration order.
func (e *Engine) States() []State {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]State, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.state()
	}
	return out
}

// State returns one rule's state.
func (e *Engine) State(rule string) (State, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.find(rule)
	if err != nil {
		return State{}, err
	}
	return r.state(), nil
}

func (e *Engine) find(name string) (*ruleState, error) {
	for _, r := range e.rules {
		if r.Name == name {
			return r, nil
		}
	}
	names := make([]string, len(e.rules))
	for i, r := range e.rules {
		names[i] = r.Name
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%w %q on camera %q; its rules: %s", ErrUnknownRule, name, e.camera, strings.Join(names, ", "))
}

// Arm arms or disarms a rule. A disarmed rule reports nothing and counts
// nothing; it keeps following the tracks, so arming it does not replay what
// happened meanwhile. An armed zone that is occupied at or above its
// threshold reports occupancy_reached on the next frame.
func (e *Engine) Arm(rule string, armed bool) (State, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.find(rule)
	if err != nil {
		return State{}, err
	}
	if r.armed != armed {
		r.armed = armed
		r.occupied, r.below = false, time.Time{}
		e.version++
	}
	return r.state(), nil
}

// Reset sets the counts of a rule, or of every rule when rule is "", to
// zero. Occupancy is not a count: it stays what the tracks say.
func (e *Engine) Reset(rule string) ([]State, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []State
	for _, r := range e.rules {
		if rule == "" || r.Name == rule {
			r.resetCounts()
			out = append(out, r.state())
		}
	}
	if out == nil {
		_, err := e.find(rule)
		return nil, err
	}
	e.version++
	return out, nil
}

// Restore sets a rule's counts, e.g. to what a dashboard last saw before a
// restart. Keys the rule does not count are ignored.
func (e *Engine) Restore(rule string, counts map[string]int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.find(rule)
	if err != nil {
		return err
	}
	for k := range r.counts {
		if v, ok := counts[k]; ok && v >= 0 {
			r.counts[k] = v
		}
	}
	e.version++
	return nil
}
