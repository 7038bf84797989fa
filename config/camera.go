package config

import (
	"errors"
	"reflect"
	"slices"
)

// ParseCamera decodes one camera, written as one element under cameras: is,
// in YAML or JSON (which is YAML), as strictly as Parse: every unknown key,
// mistyped value and invalid setting is reported, each a *FieldError with
// name as its File, the line in data, and a path from the camera (url,
// rules[0].points). Absent or null keys take the defaults Parse gives a
// camera.
//
// The camera is checked on its own, its rules included. What depends on the
// rest of the configuration is left to the caller: Config.WithCamera checks
// that its detector exists (and the Config as a whole), CompileRulesFor that
// its rules' classes are the detector's labels.
func ParseCamera(data []byte, name string) (Camera, error) {
	return ParseCameraAs(data, name, "")
}

// ParseCameraAs is ParseCamera for a camera whose id is known already (an
// HTTP API names it in the URL): a block without an id gets id, and a
// block with another id is an error.
func ParseCameraAs(data []byte, name, id string) (Camera, error) {
	w := newWalker(name, "a camera: a mapping with id, url and its other settings", "one camera")
	var cam Camera
	if err := w.decode(data, &cam); err != nil {
		return Camera{}, err
	}
	fillCamera(&cam, "", w.set)
	var p problems
	switch {
	case id == "":
	case cam.ID == "":
		cam.ID = id
	case cam.ID != id:
		p.add("id", "%q, but this camera is %q; write id: %s, or leave id out", cam.ID, id, id)
	}
	cam.validate(&p, "")
	cam.validateRules(&p, "")
	// Settings the camera lacks (a missing url) are blamed on its first
	// line.
	w.lines[""] = w.bodyLine
	if err := w.report(errors.Join(p...)); err != nil {
		return Camera{}, err
	}
	return cam, nil
}

// Camera returns a copy of the camera with id, its own to change.
func (c *Config) Camera(id string) (Camera, bool) {
	if i := c.cameraIndex(id); i >= 0 {
		return cloneCamera(c.Cameras[i]), true
	}
	return Camera{}, false
}

// WithCamera returns a copy of c, sharing nothing with c or cam, in which cam
// replaces the camera with its id, where that one stands, or comes last when
// no camera has it. The copy is validated as a whole (ids unique, the
// detector known, rules and JetStream agreeing): its error is Validate's,
// with paths such as cameras[3].detector, and the copy is then not returned.
func (c *Config) WithCamera(cam Camera) (*Config, error) {
	out := cloneConfig(c)
	cam = cloneCamera(cam)
	if i := out.cameraIndex(cam.ID); i >= 0 {
		out.Cameras[i] = cam
	} else {
		out.Cameras = append(out.Cameras, cam)
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}

// WithoutCamera returns a copy of c, sharing nothing with it, without the
// camera with id; nil and false when no camera has it. Removing a camera
// leaves a valid Config valid. With no camera left the caller runs
// DemoCamera, as after Parse.
func (c *Config) WithoutCamera(id string) (*Config, bool) {
	i := c.cameraIndex(id)
	if i < 0 {
		return nil, false
	}
	out := cloneConfig(c)
	out.Cameras = slices.Delete(out.Cameras, i, i+1)
	return out, true
}

// cameraIndex is the index of the first camera with id (Validate keeps ids
// unique), -1 for none.
func (c *Config) cameraIndex(id string) int {
	for i := range c.Cameras {
		if c.Cameras[i].ID == id {
			return i
		}
	}
	return -1
}

func cloneConfig(c *Config) *Config {
	out := clone(reflect.ValueOf(*c)).Interface().(Config)
	return &out
}

func cloneCamera(cam Camera) Camera { return clone(reflect.ValueOf(cam)).Interface().(Camera) }
