package rules

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"
)

// Kind is what a rule watches: an area or a line.
type Kind string

// Kinds.
const (
	KindZone Kind = "zone"
	KindLine Kind = "line"
)

// Default direction names of a line: see Rule.AToB.
const (
	DefaultAToB = "a_to_b"
	DefaultBToA = "b_to_a"
)

// Defaults of a zone.
const (
	DefaultExitAfter = 3 * time.Second
	// DefaultForgetAfter is how long an engine remembers a track it no
	// longer sees: a track that comes back within it keeps its place
	// (inside or not, which side of a line) and is not counted again.
	DefaultForgetAfter = 5 * time.Minute
)

// Rule is one zone or line of a camera.
type Rule struct {
	Name string // unique per camera; a NATS subject token
	Kind Kind
	// Points: a zone's corners in order (3 or more, no crossing edges) or a
	// line's two ends, in frame pixels or, when Normalized, in [0,1] of the
	// frame's width and height.
	Points     []Point
	Normalized bool
	Classes    []int   // class ids that count; empty: all
	MinScore   float64 // a track counts from its first detection at or above this score
	Anchor     Anchor  // "" = bottom_center
	// Hysteresis in pixels: an anchor must be this far past a line to be on
	// its other side, this far inside a zone to enter and outside to leave,
	// so a box jittering on the edge changes nothing.
	Hysteresis float64
	// Cooldown per track: after an enter, exit or crossing, the track's next
	// one waits this long, and is reported then if it still holds (so counts
	// never drift from where the tracks are). For occupancy, the zone must
	// stay below the threshold this long before occupancy_cleared;
	// occupancy_reached is never delayed.
	Cooldown time.Duration
	Disarmed bool // start disarmed: no events, no counting until armed

	// Zones.
	Dwell              time.Duration // dwell event after this long inside; 0: none
	OccupancyThreshold int           // occupancy_reached/cleared at this many; 0: none
	// ExitAfter: a track inside that is no longer seen leaves the zone after
	// this long; set it to at least the tracker's buffer (buffer_frames at
	// the camera's fps) so a briefly occluded object stays inside. 0 =
	// DefaultExitAfter.
	ExitAfter time.Duration

	// Lines. Stand on the line's first point looking at the second: side A
	// is on your left, side B on your right (as seen on screen). AToB names
	// crossings from A to B, BToA the others; "" = a_to_b, b_to_a.
	AToB, BToA string
}

// Event types.
type Type string

// Event types.
const (
	TypeZoneEnter        Type = "zone_enter"
	TypeZoneExit         Type = "zone_exit"
	TypeDwell            Type = "dwell"
	TypeOccupancyReached Type = "occupancy_reached"
	TypeOccupancyCleared Type = "occupancy_cleared"
	TypeLineCross        Type = "line_cross"
)

// Types lists every event type.
var Types = []Type{TypeZoneEnter, TypeZoneExit, TypeDwell, TypeOccupancyReached, TypeOccupancyCleared, TypeLineCross}

// Count keys of a zone's counts; a line counts by its direction names.
const (
	CountEntered = "entered"
	CountExited  = "exited"
	CountDwell   = "dwell"
)

// NamePattern is what a rule name may hold: it becomes a NATS subject token
// and an MQTT topic level.
var NamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// withDefaults fills in the zero values that mean a default.
func (r Rule) withDefaults() Rule {
	if r.Anchor == "" {
		r.Anchor = AnchorBottomCenter
	}
	if r.ExitAfter == 0 {
		r.ExitAfter = DefaultExitAfter
	}
	if r.AToB == "" {
		r.AToB = DefaultAToB
	}
	if r.BToA == "" {
		r.BToA = DefaultBToA
	}
	r.Points = append([]Point(nil), r.Points...)
	r.Classes = append([]int(nil), r.Classes...)
	return r
}

// Check returns what is wrong with the rule, every problem joined.
func (r Rule) Check() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !NamePattern.MatchString(r.Name) {
		add("name %q: use 1-64 letters, digits, _ or - (it becomes a NATS subject token)", r.Name)
	}
	if r.Kind != KindZone && r.Kind != KindLine {
		add("kind %q: use zone or line", r.Kind)
	} else if err := CheckShape(r.Kind, r.Points, r.Normalized); err != nil {
		add("points: %w", err)
	}
	valid := false
	for _, a := range Anchors {
		valid = valid || r.Anchor == a || r.Anchor == ""
	}
	if !valid {
		add("anchor %q: use bottom_center, center or top_center", r.Anchor)
	}
	if !(r.MinScore >= 0 && r.MinScore <= 1) {
		add("min_score %g: use a value in [0,1]", r.MinScore)
	}
	if !(r.Hysteresis >= 0) || math.IsInf(r.Hysteresis, 0) {
		add("hysteresis %g: use 0 or more pixels", r.Hysteresis)
	}
	if r.Cooldown < 0 || r.Dwell < 0 || r.ExitAfter < 0 {
		add("durations must not be negative")
	}
	if r.OccupancyThreshold < 0 {
		add("occupancy_threshold %d: use 0 (none) or more", r.OccupancyThreshold)
	}
	if r.Kind == KindLine {
		d := r.withDefaults()
		if d.AToB == d.BToA {
			add("directions: both are %q; name them apart, e.g. in and out", d.AToB)
		}
		for _, n := range []string{d.AToB, d.BToA} {
			if !NamePattern.MatchString(n) {
				add("direction %q: use 1-64 letters, digits, _ or -", n)
			}
		}
	}
	return errors.Join(errs...)
}

// MaxPixel bounds the coordinates of a rule in pixels: far beyond any
// frame, and small enough that the squares and cross products the engine
// takes of them stay finite.
const MaxPixel = 1_000_000

// Shortest lines, in pixels and as a fraction of the frame (a pixel of a
// 10000-pixel frame): a line shorter than a pixel marks no place a box
// crosses, and one far shorter has a squared length that underflows to 0,
// which no track could ever cross.
const (
	minLinePixels     = 1
	minLineNormalized = 1e-4
)

// CheckShape says what is wrong with the points of a zone or a line, as a
// message that ends with the fix.
func CheckShape(k Kind, pts []Point, normalized bool) error {
	for i, p := range pts {
		if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.IsInf(p.X, 0) || math.IsInf(p.Y, 0) {
			return fmt.Errorf("point %d is not a number", i)
		}
		if p.X < 0 || p.Y < 0 {
			return fmt.Errorf("point %d (%g, %g) is negative; use frame pixels from the top-left corner", i, p.X, p.Y)
		}
		if normalized && (p.X > 1 || p.Y > 1) {
			return fmt.Errorf("point %d (%g, %g) is outside [0,1]; normalized points are fractions of the frame's width and height", i, p.X, p.Y)
		}
		if p.X > MaxPixel || p.Y > MaxPixel {
			return fmt.Errorf("point %d (%g, %g) is beyond %d pixels; use frame pixels from the top-left corner", i, p.X, p.Y, MaxPixel)
		}
	}
	switch k {
	case KindLine:
		if len(pts) != 2 {
			return fmt.Errorf("a line has 2 points, not %d", len(pts))
		}
		if pts[0] == pts[1] {
			return fmt.Errorf("the line has zero length: both points are (%g, %g); give two different points", pts[0].X, pts[0].Y)
		}
		switch l := dist(pts[0], pts[1]); {
		case normalized && l < minLineNormalized:
			return fmt.Errorf("the line is %g of the frame long, shorter than a pixel; give two points at least %g apart", l, minLineNormalized)
		case !normalized && l < minLinePixels:
			return fmt.Errorf("the line is %g pixels long, shorter than a pixel; give two points at least %d pixel apart", l, minLinePixels)
		}
	case KindZone:
		if len(pts) < 3 {
			return fmt.Errorf("a zone needs at least 3 points, not %d", len(pts))
		}
		for i := range pts {
			j := (i + 1) % len(pts)
			if pts[i] == pts[j] {
				return fmt.Errorf("points %d and %d are the same (%g, %g); remove one", i, j, pts[i].X, pts[i].Y)
			}
		}
		if i, j, bad := SelfIntersection(pts); bad {
			n := len(pts)
			return fmt.Errorf("polygon self-intersects between edges %d (points %d→%d) and %d (points %d→%d); reorder the points to go once around the zone",
				i, i, (i+1)%n, j, j, (j+1)%n)
		}
		if Area(pts) == 0 {
			return errors.New("the zone has no area: its points lie on one line; spread them out")
		}
	}
	return nil
}
