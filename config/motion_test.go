package config

import (
	"strings"
	"testing"
	"time"
)

// TestMotionOnOff: "motion: off" (and on, true, false) stands for
// enabled, at the top level and per camera, the other settings keeping
// their defaults; a camera's overrides and masks reach MotionFor.
func TestMotionOnOff(t *testing.T) {
	cam := "cameras:\n  - id: a\n    url: /v.avi\n"
	for _, tc := range []struct {
		doc       string
		global    bool
		camera    bool
		threshold float64
		masks     int
	}{
		{"motion: off\n" + cam, false, false, 25, 0},
		{"motion: false\n" + cam, false, false, 25, 0},
		{"motion: {threshold: 30}\n" + cam, true, true, 30, 0},
		{cam + "    motion: off\n", true, false, 25, 0},
		{"motion: off\n" + cam + "    motion: on\n", false, true, 25, 0},
		{cam + "    motion:\n      threshold: 40\n      masks:\n        - points: [[0, 0], [10, 0], [10, 10]]\n", true, true, 40, 1},
	} {
		c, err := Parse([]byte(tc.doc), "m.yaml")
		if err != nil {
			t.Fatalf("%q: %v", tc.doc, err)
		}
		m, masks := c.MotionFor(c.Cameras[0])
		if c.Motion.Enabled != tc.global || m.Enabled != tc.camera || m.Threshold != tc.threshold || len(masks) != tc.masks ||
			m.IdleInterval != Duration(5*time.Second) || m.Height != 120 {
			t.Errorf("%q: global %+v, camera %+v masks %v", tc.doc, c.Motion, m, masks)
		}
	}
}

// TestMotionProblems: a word that is not on/off, a mask that is not a
// polygon, a value out of range, and on/off where another section wants
// a mapping, each named with the fix.
func TestMotionProblems(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"motion: maybe\n", `motion: expected a mapping, or on/off, got "maybe"`},
		{"motion: {threshold: 300}\n", "motion.threshold: 300 out of range; use a gray-level change of 1 to 255"},
		{"motion: {idle_interval: 0s}\n", "motion.idle_interval: 0s; use a positive duration"},
		{"motion: {absorb: 0}\n", "motion.absorb: 0; use 1 to 255 frames"},
		{"motion: {regions: {max: 0}}\n", "motion.regions.max: 0; use 1 to 16 crops"},
		{"cameras:\n  - id: a\n    url: /v.avi\n    motion: {regions: {full_interval: 0s}}\n", "cameras[0].motion.regions.full_interval: 0s; use a positive duration"},
		{"cameras:\n  - id: a\n    url: /v.avi\n    motion: {masks: [{points: [[0, 0], [1, 1]]}]}\n", "cameras[0].motion.masks[0].points: 2 points; a mask needs 3 or more corners"},
		{"cameras:\n  - id: a\n    url: /v.avi\n    motion: {masks: [{points: [[0, 0], [2, 0], [0, 1]], normalized: true}]}\n", "outside [0,1]"},
		{"examples: off\n", `examples: expected a mapping, got "off"`},
	} {
		_, err := Parse([]byte(tc.doc), "m.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to say %q", tc.doc, err, tc.want)
		}
	}
}
