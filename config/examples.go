package config

import (
	"fmt"
	"time"
)

// Examples configures hard-example capture (package examples): frames
// the strategies pick, within the limits, stored with the live model's
// boxes as pre-labels in the NATS object store bucket VIGIL_EXAMPLES
// (shared by a fleet), or in store.dir.
type Examples struct {
	Enabled     bool              `yaml:"enabled"`
	Strategies  ExampleStrategies `yaml:"strategies"`
	Limits      ExampleLimits     `yaml:"limits"`
	JPEGQuality int               `yaml:"jpeg_quality"`
	Store       ExampleStore      `yaml:"store"`
}

// ExampleStrategies pick frames; they combine (any one takes a frame).
type ExampleStrategies struct {
	CloseToThreshold CloseToThreshold `yaml:"close_to_threshold"`
	Random           RandomStrategy   `yaml:"random"`
	Classes          []string         `yaml:"classes"` // labels or class ids; none: off
	Count            CountStrategy    `yaml:"count"`
	Tracker          TrackerStrategy  `yaml:"tracker"`
	// Shadow takes the frames on which a shadow candidate model (a store
	// model's, model.shadow) and the live one disagree.
	Shadow bool `yaml:"shadow"`
}

// CloseToThreshold takes a frame with a detection within ± Epsilon of
// its class's confidence threshold; 0: off.
type CloseToThreshold struct {
	Epsilon float64 `yaml:"epsilon"`
}

// RandomStrategy takes this fraction of frames; 0: off.
type RandomStrategy struct {
	Fraction float64 `yaml:"fraction"`
}

// CountStrategy takes a frame with Min to Max objects (Max 0: no upper
// bound); both 0: off.
type CountStrategy struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

// TrackerStrategy takes frames where detector and tracker disagree.
type TrackerStrategy struct {
	Missed    bool `yaml:"missed"`    // a confirmed track the detector missed: likely a false negative
	Unmatched bool `yaml:"unmatched"` // a detection no track took for frames: likely a false positive
}

// ExampleLimits cap the examples of each camera; 0: no cap.
type ExampleLimits struct {
	PerMinute int `yaml:"per_minute"`
	PerHour   int `yaml:"per_hour"`
	PerDay    int `yaml:"per_day"`
}

// ExampleStore bounds the examples kept, and names a folder to keep them
// in instead of NATS.
type ExampleStore struct {
	MaxBytes ByteSize `yaml:"max_bytes"` // the oldest go first; 0: no bound
	MaxAge   Duration `yaml:"max_age"`   // 0: kept
	Dir      string   `yaml:"dir"`       // "": the NATS bucket VIGIL_EXAMPLES
	Replicas int      `yaml:"replicas"`  // copies of the bucket when made; 0: 1
}

// CameraExamples overrides examples: for one camera. Strategies, when
// written, replace the global ones whole.
type CameraExamples struct {
	Enabled    *bool              `yaml:"enabled"`    // nil: examples.enabled
	Strategies *ExampleStrategies `yaml:"strategies"` // nil: examples.strategies
}

func defaultExamples() Examples {
	return Examples{
		Strategies:  ExampleStrategies{CloseToThreshold: CloseToThreshold{Epsilon: 0.05}, Random: RandomStrategy{Fraction: 0.001}},
		Limits:      ExampleLimits{PerMinute: 2, PerHour: 30, PerDay: 200},
		JPEGQuality: 90,
		Store:       ExampleStore{MaxBytes: 1 << 30, MaxAge: Duration(720 * time.Hour)},
	}
}

// ExamplesFor is the examples setting of a camera: examples: with the
// camera's override.
func (c *Config) ExamplesFor(cam Camera) (enabled bool, s ExampleStrategies) {
	enabled, s = c.Examples.Enabled, c.Examples.Strategies
	if o := cam.Examples; o != nil {
		if o.Enabled != nil {
			enabled = *o.Enabled
		}
		if o.Strategies != nil {
			s = *o.Strategies
		}
	}
	return enabled, s
}

// ExamplesUsed says whether any camera captures examples.
func (c *Config) ExamplesUsed() bool {
	if c.Examples.Enabled {
		return true
	}
	for _, cam := range c.Cameras {
		if on, _ := c.ExamplesFor(cam); on {
			return true
		}
	}
	return false
}

func (c *Config) validateExamples(p *problems) {
	e := &c.Examples
	e.Strategies.validate(p, "examples.strategies")
	for _, l := range []struct {
		key string
		n   int
	}{{"per_minute", e.Limits.PerMinute}, {"per_hour", e.Limits.PerHour}, {"per_day", e.Limits.PerDay}} {
		if l.n < 0 {
			p.add("examples.limits."+l.key, "%d is negative; use 0 for no cap or a count, e.g. 2", l.n)
		}
	}
	if e.JPEGQuality < 1 || e.JPEGQuality > 100 {
		p.add("examples.jpeg_quality", "%d; use 1 to 100, e.g. 90", e.JPEGQuality)
	}
	if e.Store.MaxBytes < 0 {
		p.add("examples.store.max_bytes", "%s is negative; use 0 for no bound or a size, e.g. 1GiB", e.Store.MaxBytes)
	}
	if e.Store.MaxAge < 0 {
		p.add("examples.store.max_age", "%s is negative; use 0 to keep them or a duration, e.g. 720h", e.Store.MaxAge)
	}
	if e.Store.Replicas < 0 || e.Store.Replicas > 5 {
		p.add("examples.store.replicas", "%d; use 1 to 5 (0: 1)", e.Store.Replicas)
	}
	if c.ExamplesUsed() && e.Store.Dir == "" && c.NATS.URL == "" && c.NATS.JetStream != nil && !*c.NATS.JetStream {
		p.add("nats.jetstream", "false, but examples are enabled and go to the NATS bucket; set nats.jetstream: true, or examples.store.dir")
	}
	for i, cam := range c.Cameras {
		if cam.Examples != nil && cam.Examples.Strategies != nil {
			cam.Examples.Strategies.validate(p, fmt.Sprintf("cameras[%d].examples.strategies", i))
		}
	}
}

func (s *ExampleStrategies) validate(p *problems, path string) {
	if eps := s.CloseToThreshold.Epsilon; !(eps >= 0 && eps < 1) {
		p.add(path+".close_to_threshold.epsilon", "%g out of range; use a value in [0,1), e.g. 0.05 (0: off)", eps)
	}
	p.fraction(path+".random.fraction", s.Random.Fraction, true)
	for i, cl := range s.Classes {
		if cl == "" {
			p.add(fmt.Sprintf("%s.classes[%d]", path, i), "empty; name a label or a class id, e.g. person")
		}
	}
	c := s.Count
	switch {
	case c.Min < 0:
		p.add(path+".count.min", "%d is negative; use 0 or more", c.Min)
	case c.Max < 0:
		p.add(path+".count.max", "%d is negative; use 0 for no upper bound or a count", c.Max)
	case c.Max > 0 && c.Max < c.Min:
		p.add(path+".count.max", "%d is below count.min %d; make min <= max", c.Max, c.Min)
	}
}
