package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Detector is a named detector serving the cameras that name it.
type Detector struct {
	Name string `yaml:"name"`
	// Model starts, in a file, as a copy of the top-level model: (after
	// its defaults) and changes the keys written here; a list or a mapping
	// written here replaces model:'s whole.
	Model Model `yaml:"model"`
}

// DefaultDetector is the name of the detector that model: configures: the
// one a camera with no detector key uses.
const DefaultDetector = "default"

// DetectorOf returns the detector name a camera uses ("default" for "").
func (c *Config) DetectorOf(cam Camera) string {
	if cam.Detector == "" {
		return DefaultDetector
	}
	return cam.Detector
}

// DetectorModels returns every detector that at least one enabled camera
// uses, plus "default" when cfg.Cameras is empty (the caller then runs
// DemoCamera on the default model): "default" first if used, then the
// detectors: entries in file order. Each Model is a copy, its own to change.
func (c *Config) DetectorModels() []Detector {
	used := map[string]bool{}
	if len(c.Cameras) == 0 {
		used[DefaultDetector] = true
	}
	for _, cam := range c.Cameras {
		if cam.isEnabled() {
			used[c.DetectorOf(cam)] = true
		}
	}
	var out []Detector
	if used[DefaultDetector] {
		out = append(out, Detector{Name: DefaultDetector, Model: cloneModel(c.Model)})
	}
	for _, d := range c.Detectors {
		if used[d.Name] {
			out = append(out, Detector{Name: d.Name, Model: cloneModel(d.Model)})
		}
	}
	return out
}

func (cam Camera) isEnabled() bool { return cam.Enabled == nil || *cam.Enabled }

func cloneModel(m Model) Model { return clone(reflect.ValueOf(m)).Interface().(Model) }

// fillDetectors gives each detector's model the values of model: (already
// filled with its defaults) for the keys the file did not set under it.
func fillDetectors(cfg *Config, set map[string]bool) {
	for i := range cfg.Detectors {
		def := Detector{Model: cfg.Model}
		at := fmt.Sprintf("detectors[%d]", i)
		fillDefaults(reflect.ValueOf(&cfg.Detectors[i]).Elem(), reflect.ValueOf(def), at, set)
		// A file or a store model, whichever the detector names, replaces
		// the other that model: names.
		m := &cfg.Detectors[i].Model
		switch path, store := set[at+".model.path"], set[at+".model.store"]; {
		case path && !store:
			m.Store = ""
		case store && !path:
			m.Path = ""
		}
	}
}

func (c *Config) validateDetectors(p *problems) {
	// A problem a detector inherits from model: is reported once, there.
	var top problems
	c.Model.validate(&top, "model")
	inherited := map[string]bool{}
	for _, e := range top {
		fe := e.(*FieldError)
		inherited[strings.TrimPrefix(fe.Path, "model")+"\x00"+fe.Msg] = true
	}

	firstUse := map[string]int{}
	for i, d := range c.Detectors {
		path := fmt.Sprintf("detectors[%d]", i)
		switch {
		case d.Name == "":
			p.add(path+".name", "required; name the detector with 1-64 letters, digits, _ or -, and select it with a camera's detector: key")
		case d.Name == DefaultDetector:
			p.add(path+".name", "%q is the top-level model:; pick another name", d.Name)
		case !cameraIDPattern.MatchString(d.Name):
			p.add(path+".name", "%q is not a valid name; use 1-64 letters, digits, _ or -", d.Name)
		default:
			if j, dup := firstUse[d.Name]; dup {
				p.add(path+".name", "duplicate %q; detector names must be unique (detectors[%d] has it too)", d.Name, j)
			} else {
				firstUse[d.Name] = i
			}
		}
		prefix := path + ".model"
		if d.Model.Runtime != c.Model.Runtime {
			p.add(prefix+".onnxruntime_lib", "%q differs from model.onnxruntime_lib %q; a process loads one onnxruntime library, so leave it out here", d.Model.Runtime, c.Model.Runtime)
		}
		var own problems
		d.Model.validate(&own, prefix)
		for _, e := range own {
			fe := e.(*FieldError)
			if !inherited[strings.TrimPrefix(fe.Path, prefix)+"\x00"+strings.ReplaceAll(fe.Msg, prefix, "model")] {
				*p = append(*p, fe)
			}
		}
	}
}

// validateCameraDetector checks that a camera names model: or a detectors:
// entry.
func (c *Config) validateCameraDetector(p *problems, path string, cam Camera) {
	name := c.DetectorOf(cam)
	known := []string{DefaultDetector}
	for _, d := range c.Detectors {
		if d.Name == name {
			return
		}
		known = append(known, d.Name)
	}
	if name == DefaultDetector {
		return
	}
	if guess := closest(name, known); guess != "" {
		p.add(path+".detector", "unknown detector %q; did you mean %q? (known: %s)", name, guess, strings.Join(known, ", "))
		return
	}
	p.add(path+".detector", "unknown detector %q; use %s (default is the top-level model:), or add %q under detectors:", name, orList(known...), name)
}
