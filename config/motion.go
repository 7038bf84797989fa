package config

import (
	"fmt"
	"time"
)

// Motion configures motion gating (package motion, pipeline.Gate): the
// detector runs on a camera's frame when something moves in it, while the
// camera has moving tracks, and otherwise once every StationaryInterval
// (its tracks stand still) or IdleInterval (none). "motion: off" (or
// enabled: false) sends every frame to the detector, as before gating.
// Cameras override it with their own motion: key (CameraMotion).
type Motion struct {
	Enabled bool `yaml:"enabled"`
	// Height is the rows of the small grayscale copy motion is found on.
	Height int `yaml:"height"`
	// Threshold is the gray-level change (1–255) that makes a pixel move.
	Threshold float64 `yaml:"threshold"`
	// MinArea is the smallest moving blob, as a share of the picture.
	MinArea float64 `yaml:"min_area"`
	// Alpha is how fast the background learns, per frame (0,1].
	Alpha float64 `yaml:"alpha"`
	// Settle is the frames the background forms before motion counts, at
	// start and after a sudden change of the whole picture.
	Settle int `yaml:"settle"`
	// GlobalChange is the share of the picture that, changing at once,
	// is taken for the lights or the exposure, not for motion.
	GlobalChange float64 `yaml:"global_change"`
	// Absorb is the frames a pixel may differ from the background without
	// changing before it becomes background (ends ghosts of what left, and
	// motion of what stopped).
	Absorb             int      `yaml:"absorb"`
	IdleInterval       Duration `yaml:"idle_interval"`
	StationaryInterval Duration `yaml:"stationary_interval"`
	// MinSpeed: a track moving at least this many of its box heights a
	// second is followed on every frame.
	MinSpeed float64 `yaml:"min_speed"`
	// Regions looks at large frames in crops at full resolution.
	Regions MotionRegions `yaml:"regions"`
}

// MotionRegions: on a frame the letterbox would shrink by at least
// MinScale, a frame sent to the detector for its motion or moving tracks
// is looked at in up to Max square crops of the model input's size around
// them, at full resolution, and a whole frame comes at least every
// FullInterval (pipeline.Regions). "regions: off" looks at frames whole.
type MotionRegions struct {
	Enabled      bool     `yaml:"enabled"`
	Max          int      `yaml:"max"`
	MinScale     float64  `yaml:"min_scale"`
	FullInterval Duration `yaml:"full_interval"`
}

// UnmarshalYAML reads "regions: off" / "on" as enabled, and a mapping as
// the settings; what a mapping leaves out keeps its default.
func (r *MotionRegions) UnmarshalYAML(unmarshal func(any) error) error {
	if *r == (MotionRegions{}) { // a camera's override starts from the defaults
		*r = defaultMotion().Regions
	}
	if on, ok := switchValue(unmarshal); ok {
		r.Enabled = on
		return nil
	}
	type plain MotionRegions
	return unmarshal((*plain)(r))
}

// UnmarshalYAML reads "motion: off" / "on" (or true/false) as enabled, and
// a mapping as the settings.
func (m *Motion) UnmarshalYAML(unmarshal func(any) error) error {
	if on, ok := switchValue(unmarshal); ok {
		m.Enabled = on
		return nil
	}
	type plain Motion
	return unmarshal((*plain)(m))
}

// CameraMotion overrides motion: for one camera: the settings it writes,
// and its masks.
type CameraMotion struct {
	Enabled            *bool     `yaml:"enabled,omitempty"`
	Threshold          *float64  `yaml:"threshold,omitempty"`
	MinArea            *float64  `yaml:"min_area,omitempty"`
	IdleInterval       *Duration `yaml:"idle_interval,omitempty"`
	StationaryInterval *Duration `yaml:"stationary_interval,omitempty"`
	MinSpeed           *float64  `yaml:"min_speed,omitempty"`
	// Regions replaces motion.regions for the camera.
	Regions *MotionRegions `yaml:"regions,omitempty"`
	// Masks are polygons where motion is ignored (a clock, a fan, a
	// conveyor nobody watches).
	Masks []MotionMask `yaml:"masks,omitempty"`
}

// UnmarshalYAML reads "motion: off" / "on" as enabled, and a mapping as
// the overrides.
func (m *CameraMotion) UnmarshalYAML(unmarshal func(any) error) error {
	if on, ok := switchValue(unmarshal); ok {
		m.Enabled = &on
		return nil
	}
	type plain CameraMotion
	return unmarshal((*plain)(m))
}

// MotionMask is a polygon where motion is ignored: its corners in order
// around it (3 or more), [x, y] in frame pixels from the top-left corner,
// or in [0,1] of the width and height when Normalized.
type MotionMask struct {
	Points     [][]float64 `yaml:"points"`
	Normalized bool        `yaml:"normalized"`
}

// switchValue reads a scalar on/off/true/false.
func switchValue(unmarshal func(any) error) (on, ok bool) {
	var s string
	if unmarshal(&s) != nil {
		return false, false
	}
	switch s {
	case "on", "true", "yes":
		return true, true
	case "off", "false", "no":
		return false, true
	}
	return false, false
}

// isSwitch says whether a scalar is one of the words switchValue reads.
func isSwitch(s string) bool {
	switch s {
	case "on", "true", "yes", "off", "false", "no":
		return true
	}
	return false
}

func defaultMotion() Motion {
	return Motion{
		Enabled: true, Height: 120, Threshold: 25, MinArea: 0.0008, Alpha: 0.05, Settle: 10, GlobalChange: 0.5, Absorb: 3,
		IdleInterval: Duration(5 * time.Second), StationaryInterval: Duration(5 * time.Second), MinSpeed: 0.1,
		Regions: MotionRegions{Enabled: true, Max: 3, MinScale: 1.5, FullInterval: Duration(2 * time.Second)},
	}
}

// MotionFor is a camera's motion setting: motion: with the camera's
// overrides, its masks included; enabled false means every frame goes to
// the detector.
func (c *Config) MotionFor(cam Camera) (m Motion, masks []MotionMask) {
	m = c.Motion
	o := cam.Motion
	if o == nil {
		return m, nil
	}
	if o.Enabled != nil {
		m.Enabled = *o.Enabled
	}
	if o.Threshold != nil {
		m.Threshold = *o.Threshold
	}
	if o.MinArea != nil {
		m.MinArea = *o.MinArea
	}
	if o.IdleInterval != nil {
		m.IdleInterval = *o.IdleInterval
	}
	if o.StationaryInterval != nil {
		m.StationaryInterval = *o.StationaryInterval
	}
	if o.MinSpeed != nil {
		m.MinSpeed = *o.MinSpeed
	}
	if o.Regions != nil {
		m.Regions = *o.Regions
	}
	return m, o.Masks
}

func (c *Config) validateMotion(p *problems) {
	c.Motion.validate(p, "motion")
	for i, cam := range c.Cameras {
		if cam.Motion == nil {
			continue
		}
		path := fmt.Sprintf("cameras[%d].motion", i)
		m, masks := c.MotionFor(cam)
		m.validate(p, path)
		for j, mk := range masks {
			mk.validate(p, fmt.Sprintf("%s.masks[%d]", path, j))
		}
	}
}

func (m Motion) validate(p *problems, path string) {
	if m.Height < 16 || m.Height > 1080 {
		p.add(path+".height", "%d; use 16 to 1080 rows, e.g. 120", m.Height)
	}
	if !(m.Threshold >= 1 && m.Threshold <= 255) {
		p.add(path+".threshold", "%g out of range; use a gray-level change of 1 to 255, e.g. 25", m.Threshold)
	}
	if !(m.MinArea > 0 && m.MinArea < 1) {
		p.add(path+".min_area", "%g out of range; use a share of the picture in (0,1), e.g. 0.0008", m.MinArea)
	}
	p.fraction(path+".alpha", m.Alpha, false)
	if m.Settle < 1 {
		p.add(path+".settle", "%d; use 1 frame or more, e.g. 10", m.Settle)
	}
	p.fraction(path+".global_change", m.GlobalChange, false)
	if m.Absorb < 1 || m.Absorb > 255 {
		p.add(path+".absorb", "%d; use 1 to 255 frames, e.g. 3", m.Absorb)
	}
	if m.IdleInterval <= 0 {
		p.add(path+".idle_interval", "%s; use a positive duration, e.g. 5s", m.IdleInterval)
	}
	if m.StationaryInterval <= 0 {
		p.add(path+".stationary_interval", "%s; use a positive duration, e.g. 5s", m.StationaryInterval)
	}
	if !(m.MinSpeed > 0) {
		p.add(path+".min_speed", "%g; use a positive speed in box heights per second, e.g. 0.1", m.MinSpeed)
	}
	if r := m.Regions; r.Enabled {
		if r.Max < 1 || r.Max > 16 {
			p.add(path+".regions.max", "%d; use 1 to 16 crops a frame (each is one inference), e.g. 3", r.Max)
		}
		if !(r.MinScale >= 1) {
			p.add(path+".regions.min_scale", "%g; use 1 or more (how much the letterbox must shrink a frame before crops pay), e.g. 1.5", r.MinScale)
		}
		if r.FullInterval <= 0 {
			p.add(path+".regions.full_interval", "%s; use a positive duration, e.g. 2s", r.FullInterval)
		}
	}
}

func (mk MotionMask) validate(p *problems, path string) {
	if len(mk.Points) < 3 {
		p.add(path+".points", "%d points; a mask needs 3 or more corners", len(mk.Points))
	}
	for i, pt := range mk.Points {
		switch {
		case len(pt) != 2:
			p.add(fmt.Sprintf("%s.points[%d]", path, i), "%d numbers; write a point as [x, y]", len(pt))
		case mk.Normalized && !(pt[0] >= 0 && pt[0] <= 1 && pt[1] >= 0 && pt[1] <= 1):
			p.add(path+".points", "point %d (%g, %g) is outside [0,1]; normalized points are fractions", i, pt[0], pt[1])
		case !mk.Normalized && !(pt[0] >= 0 && pt[1] >= 0):
			p.add(path+".points", "point %d (%g, %g) is negative; pixels count from the top-left corner", i, pt[0], pt[1])
		}
	}
}
