package config

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-vision/vigil/rules"
)

// Rule is one zone or line of a camera, written under the camera it watches:
// its points are in that camera's picture, so a rule never names a camera
// of its own and cannot point at the wrong one.
type Rule struct {
	Name string `yaml:"name"` // unique per camera; a NATS subject token
	Type string `yaml:"type"` // zone|line
	// Points: a zone's corners in order around it (3 or more), or a line's
	// two ends; [x, y] in frame pixels from the top-left corner, or in [0,1]
	// of the width and height when Normalized.
	Points     [][]float64 `yaml:"points"`
	Normalized bool        `yaml:"normalized"`
	Classes    []string    `yaml:"classes,omitempty"` // labels (or class ids) that count; empty: all
	MinScore   float64     `yaml:"min_score"`         // a track counts once a detection reached it
	Anchor     string      `yaml:"anchor"`            // bottom_center|center|top_center
	Hysteresis float64     `yaml:"hysteresis"`
	Cooldown   Duration    `yaml:"cooldown"`
	Armed      *bool       `yaml:"armed"` // false: start disarmed (arm with the cmd subject)
	// Zones only.
	Dwell              Duration `yaml:"dwell"`               // 0: no dwell events
	OccupancyThreshold int      `yaml:"occupancy_threshold"` // 0: no occupancy events
	ExitAfter          Duration `yaml:"exit_after"`
	// Lines only.
	Directions Directions `yaml:"directions"`
	// Evidence is what evidence the rule's events get; nil: a snapshot
	// (see Config.Evidence).
	Evidence *RuleEvidence `yaml:"evidence"`
}

// Directions name a line's two crossing directions. Standing on the first
// point looking at the second, side A is on the left (as seen on screen).
type Directions struct {
	AToB string `yaml:"a_to_b"`
	BToA string `yaml:"b_to_a"`
}

// Rule types, as in Rule.Type.
const (
	RuleZone = "zone"
	RuleLine = "line"
)

// DefaultRule holds the defaults of every rule field but name, type and points.
func DefaultRule() Rule {
	return Rule{
		Anchor:             string(rules.AnchorBottomCenter),
		Hysteresis:         10,
		Armed:              boolPtr(true),
		OccupancyThreshold: 1,
		ExitAfter:          Duration(rules.DefaultExitAfter),
		Directions:         Directions{AToB: rules.DefaultAToB, BToA: rules.DefaultBToA},
	}
}

// Alerts configures how rule events leave vigil: the on-disk spool that
// holds them while NATS is away, the JetStream stream and the counts bucket.
type Alerts struct {
	SpoolDir      string      `yaml:"spool_dir"`       // "" = <data_dir>/alerts-spool
	SpoolMaxBytes ByteSize    `yaml:"spool_max_bytes"` // beyond it the oldest events are dropped
	SpoolMaxAge   Duration    `yaml:"spool_max_age"`   // older events are dropped
	Stream        AlertStream `yaml:"stream"`
	CountsBucket  string      `yaml:"counts_bucket"`  // key-value bucket, key <camera>.<rule>
	RestoreCounts *bool       `yaml:"restore_counts"` // continue the bucket's counts after a restart
}

// AlertStream is the JetStream stream of events, created or updated at start.
type AlertStream struct {
	Name            string   `yaml:"name"`
	MaxAge          Duration `yaml:"max_age"`   // 0: keep forever
	MaxBytes        ByteSize `yaml:"max_bytes"` // 0: no limit
	DuplicateWindow Duration `yaml:"duplicate_window"`
	Replicas        int      `yaml:"replicas"`
}

// MQTT turns on the embedded NATS server's MQTT listener, so that MQTT
// clients receive the events on topics <prefix>/<camera>/events/<rule>.
// With nats.url set (an external server), enable MQTT on that server instead.
type MQTT struct {
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"` // host:port
}

func defaultAlerts() Alerts {
	return Alerts{
		SpoolMaxBytes: 64 << 20,
		SpoolMaxAge:   Duration(7 * 24 * time.Hour),
		Stream: AlertStream{
			Name: "VIGIL_EVENTS", MaxAge: Duration(30 * 24 * time.Hour), MaxBytes: 1 << 30,
			DuplicateWindow: Duration(2 * time.Minute), Replicas: 1,
		},
		CountsBucket:  "VIGIL_COUNTS",
		RestoreCounts: boolPtr(true),
	}
}

func defaultMQTT() MQTT { return MQTT{Listen: "127.0.0.1:1883"} }

// SpoolPath is where the alert spool lives.
func (c *Config) SpoolPath() string {
	if c.Alerts.SpoolDir != "" {
		return c.Alerts.SpoolDir
	}
	return filepath.Join(c.DataDir, "alerts-spool")
}

// HasRules reports whether an enabled camera has rules.
func (c *Config) HasRules() bool {
	for _, cam := range c.Cameras {
		if len(cam.Rules) > 0 && (cam.Enabled == nil || *cam.Enabled) {
			return true
		}
	}
	return false
}

var jsNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (c *Config) validateAlerts(p *problems) {
	for i, cam := range c.Cameras {
		cam.validateRules(p, fmt.Sprintf("cameras[%d]", i))
	}
	embedded := c.NATS.URL == ""
	jetstream := c.NATS.JetStream == nil || *c.NATS.JetStream
	if embedded && !jetstream && c.HasRules() {
		p.add("nats.jetstream", "false, but cameras have rules; their events go to JetStream: set nats.jetstream: true")
	}
	m := c.NATS.MQTT
	if m.Enabled {
		if msg := checkHostPort(m.Listen); msg != "" {
			p.add("nats.mqtt.listen", "%s; e.g. 127.0.0.1:1883", msg)
		}
		if embedded && !jetstream {
			p.add("nats.mqtt.enabled", "MQTT needs JetStream; set nats.jetstream: true")
		}
	}

	a := c.Alerts
	if a.SpoolMaxBytes < 64<<10 {
		p.add("alerts.spool_max_bytes", "%s is too small; use at least 64KiB, e.g. 64MiB", a.SpoolMaxBytes)
	}
	if a.SpoolMaxAge <= 0 {
		p.add("alerts.spool_max_age", "%s; use a duration above 0, e.g. 168h", a.SpoolMaxAge)
	}
	if !jsNamePattern.MatchString(a.Stream.Name) {
		p.add("alerts.stream.name", "%q; use 1-64 letters, digits, _ or -, e.g. VIGIL_EVENTS", a.Stream.Name)
	}
	if !jsNamePattern.MatchString(a.CountsBucket) {
		p.add("alerts.counts_bucket", "%q; use 1-64 letters, digits, _ or -, e.g. VIGIL_COUNTS", a.CountsBucket)
	}
	if a.Stream.DuplicateWindow <= 0 {
		p.add("alerts.stream.duplicate_window", "%s; use a window above 0, e.g. 2m: it drops the events re-sent after an outage", a.Stream.DuplicateWindow)
	}
	if a.Stream.MaxAge > 0 && a.Stream.MaxAge < a.Stream.DuplicateWindow {
		p.add("alerts.stream.max_age", "%s is shorter than alerts.stream.duplicate_window %s; keep events at least as long as the window, or use 0 to keep them forever", a.Stream.MaxAge, a.Stream.DuplicateWindow)
	}
	if a.Stream.Replicas < 1 || a.Stream.Replicas > 5 {
		p.add("alerts.stream.replicas", "%d; use 1 to 5 (at most the servers of your NATS cluster)", a.Stream.Replicas)
	}
}

// validateRules checks a camera's rules: each on its own, and that their
// names differ. path is the camera's, "" for a camera alone.
func (cam *Camera) validateRules(p *problems, path string) {
	seen := map[string]int{}
	for j, r := range cam.Rules {
		at := joinPath(path, fmt.Sprintf("rules[%d]", j))
		if k, dup := seen[r.Name]; dup && r.Name != "" {
			p.add(at+".name", "duplicate %q; rule names must be unique per camera (rules[%d] has it too)", r.Name, k)
		} else {
			seen[r.Name] = j
		}
		r.validate(p, at)
	}
}

// maxRulePoints bounds a zone's corners, far above what anyone draws.
const maxRulePoints = 1000

var anchors = []string{string(rules.AnchorBottomCenter), string(rules.AnchorCenter), string(rules.AnchorTopCenter)}

func (r *Rule) validate(p *problems, path string) {
	r.Evidence.validate(p, path)
	switch {
	case r.Name == "":
		p.add(path+".name", "required; name the rule with 1-64 letters, digits, _ or - (it becomes a NATS subject token)")
	case !rules.NamePattern.MatchString(r.Name):
		p.add(path+".name", "%q is not a valid name; use 1-64 letters, digits, _ or - (it becomes a NATS subject token)", r.Name)
	}
	kind := rules.Kind(r.Type)
	switch r.Type {
	case RuleZone, RuleLine:
	case "":
		p.add(path+".type", "required; use zone or line")
	default:
		p.add(path+".type", "unknown type %q; use zone or line", r.Type)
	}
	switch {
	case len(r.Points) == 0:
		p.add(path+".points", "required; a zone takes its corners, a line its two ends, as [x, y] pairs")
	case len(r.Points) > maxRulePoints:
		// The shape check takes the square of the points' number: a camera
		// sent to the API must not take minutes to check.
		p.add(path+".points", "%d points; a zone takes at most %d corners", len(r.Points), maxRulePoints)
	default:
		pts, ok := r.points(p, path)
		if ok && (r.Type == RuleZone || r.Type == RuleLine) {
			if err := rules.CheckShape(kind, pts, r.Normalized); err != nil {
				p.add(path+".points", "%s", err)
			}
		}
	}
	for i, class := range r.Classes {
		if strings.TrimSpace(class) == "" {
			p.add(fmt.Sprintf("%s.classes[%d]", path, i), "empty; use a label such as person or a class id such as 0")
		}
	}
	p.fraction(path+".min_score", r.MinScore, true)
	if !contains(anchors, r.Anchor) {
		p.add(path+".anchor", "unknown anchor %q; use %s", r.Anchor, orList(anchors...))
	}
	if !(r.Hysteresis >= 0) || math.IsInf(r.Hysteresis, 0) {
		p.add(path+".hysteresis", "%g; use 0 or more pixels", r.Hysteresis)
	}
	if r.OccupancyThreshold < 0 {
		p.add(path+".occupancy_threshold", "%d is negative; use 0 for no occupancy events, or a count such as 1", r.OccupancyThreshold)
	}
	if r.ExitAfter <= 0 {
		p.add(path+".exit_after", "%s; use a duration above 0, at least the tracker's lost-track buffer (buffer_frames / 30 s), e.g. 3s", r.ExitAfter)
	}
	if r.Type == RuleLine {
		if r.Dwell > 0 {
			p.add(path+".dwell", "applies to zones only; remove it or make the rule a zone")
		}
		d := r.Directions
		for _, f := range []struct{ key, v string }{{"a_to_b", d.AToB}, {"b_to_a", d.BToA}} {
			if !rules.NamePattern.MatchString(f.v) {
				p.add(path+".directions."+f.key, "%q; use 1-64 letters, digits, _ or -, e.g. in or out", f.v)
			}
		}
		if d.AToB == d.BToA {
			p.add(path+".directions", "both directions are %q; give them different names, e.g. in and out", d.AToB)
		}
	}
}

// points reads the [x, y] pairs; ok is false when one is malformed.
func (r *Rule) points(p *problems, path string) ([]rules.Point, bool) {
	out := make([]rules.Point, 0, len(r.Points))
	ok := true
	for i, xy := range r.Points {
		if len(xy) != 2 {
			p.add(fmt.Sprintf("%s.points[%d]", path, i), "has %d numbers; write a point as [x, y]", len(xy))
			ok = false
			continue
		}
		out = append(out, rules.Point{X: xy[0], Y: xy[1]})
	}
	return out, ok
}

// CompileRules turns the enabled cameras' rules into rules.Rules, resolving
// class names against labels, the one model's. See CompileRulesFor.
func (c *Config) CompileRules(labels []string) (map[string][]rules.Rule, error) {
	return c.CompileRulesFor(func(string) []string { return labels })
}

// CompileRulesFor turns the enabled cameras' rules into rules.Rules, keyed by
// camera id, resolving each camera's class names against the labels of its
// detector (labelsOf gets a name of DetectorOf). An unknown class is an error
// that names the rule's field and lists the labels that detector knows.
func (c *Config) CompileRulesFor(labelsOf func(detector string) []string) (map[string][]rules.Rule, error) {
	var p problems
	out := map[string][]rules.Rule{}
	for i, cam := range c.Cameras {
		if !cam.isEnabled() || len(cam.Rules) == 0 {
			continue
		}
		detector := c.DetectorOf(cam)
		labels := labelsOf(detector)
		knower := "the model"
		if detector != DefaultDetector {
			knower = fmt.Sprintf("detector %q", detector)
		}
		for j, r := range cam.Rules {
			path := fmt.Sprintf("cameras[%d].rules[%d]", i, j)
			rr := rules.Rule{
				Name: r.Name, Kind: rules.Kind(r.Type), Normalized: r.Normalized, MinScore: r.MinScore,
				Anchor: rules.Anchor(r.Anchor), Hysteresis: r.Hysteresis, Cooldown: r.Cooldown.D(),
				Disarmed: r.Armed != nil && !*r.Armed, Dwell: r.Dwell.D(), OccupancyThreshold: r.OccupancyThreshold,
				ExitAfter: r.ExitAfter.D(), AToB: r.Directions.AToB, BToA: r.Directions.BToA,
			}
			for _, xy := range r.Points {
				if len(xy) == 2 {
					rr.Points = append(rr.Points, rules.Point{X: xy[0], Y: xy[1]})
				}
			}
			if rr.Kind == rules.KindLine {
				rr.OccupancyThreshold, rr.Dwell = 0, 0
			}
			for k, name := range r.Classes {
				id := classID(labels, name)
				if id < 0 {
					p.add(fmt.Sprintf("%s.classes[%d]", path, k), "unknown class %q in rule %q; %s knows %s", name, r.Name, knower, knownLabels(labels))
					continue
				}
				rr.Classes = append(rr.Classes, id)
			}
			out[cam.ID] = append(out[cam.ID], rr)
		}
	}
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return out, nil
}

func classID(labels []string, name string) int {
	for i, l := range labels {
		if l == name {
			return i
		}
	}
	if id, err := strconv.Atoi(name); err == nil && id >= 0 && id < len(labels) {
		return id
	}
	return -1
}

// knownLabels lists labels for an error message, shortened past 20.
func knownLabels(labels []string) string {
	if len(labels) == 0 {
		return "no labels"
	}
	if len(labels) <= 20 {
		return strings.Join(labels, ", ")
	}
	return fmt.Sprintf("%s, … (%d labels; or use a class id)", strings.Join(labels[:20], ", "), len(labels))
}

// ByteSize is a size in bytes, written as a number or with a unit: 64MiB,
// 512KiB, 1GB (KB, MB, GB are powers of 1000; KiB, MiB, GiB of 1024).
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}

func (b ByteSize) String() string {
	for i := 3; i >= 0; i-- {
		u := sizeUnits[i]
		if b != 0 && int64(b)%u.mult == 0 {
			return strconv.FormatInt(int64(b)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// MarshalText writes b with the largest binary unit that divides it.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText reads "1048576", "1MiB" or "1MB".
func (b *ByteSize) UnmarshalText(t []byte) error {
	s := strings.TrimSpace(string(t))
	mult := int64(1)
	num := s
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || (mult > 1 && v > math.MaxInt64/mult) {
		return fmt.Errorf("%q is not a size; write e.g. 64MiB, 512KiB or 1GB", s)
	}
	*b = ByteSize(v * mult)
	return nil
}
