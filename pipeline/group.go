package pipeline

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/vigil-vision/vigil/detect"
)

// DefaultGroup is the name of the group that Options.Detector makes.
const DefaultGroup = "default"

// Group is one detector and the cameras it serves. Each group has its own
// detector stage, so groups run side by side: a model on its own execution
// providers and threads per group of cameras (an INT8 model on the CPU for
// the docks, FP32 on the GPU for the gates). Cameras are served round-robin
// within their group; tracking, rules and sinks are shared.
type Group struct {
	Name     string // [A-Za-z0-9_-]{1,64}; "" = DefaultGroup
	Detector Detector
	Labels   []string // the detector's class names, handed on in Result.Labels
	Cameras  []string // IDs of the cameras this detector serves
}

var groupNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// group is a Group at run time: its cameras' mailboxes, its scheduler
// state, and with a StagedDetector its slots and model clock.
type group struct {
	name   string
	stage  string // the name Stages reports: "detect", or "detect/<name>" with several groups
	det    Detector
	labels []string
	boxes  []*mailbox
	ready  chan struct{} // wakes the group's scheduler when a camera hands a frame over
	rr     int           // the mailbox next() looks at first

	staged StagedDetector
	free   chan *detect.Slot
	clock  modelClock
}

// groups checks o's groups, or makes the one group of o.Detector, and
// returns for each camera index the group it belongs to.
func groupsOf(o Options) ([]Group, []int, error) {
	gs := o.Groups
	switch {
	case len(gs) == 0 && o.Detector == nil:
		return nil, nil, errors.New("pipeline: no detector")
	case len(gs) == 0:
		ids := make([]string, len(o.Cameras))
		for i, c := range o.Cameras {
			ids[i] = c.ID()
		}
		gs = []Group{{Name: DefaultGroup, Detector: o.Detector, Labels: o.Labels, Cameras: ids}}
	case o.Detector != nil:
		return nil, nil, errors.New("pipeline: both Detector and Groups set; put the detector in a Group")
	}
	camIndex := map[string]int{}
	for i, c := range o.Cameras {
		camIndex[c.ID()] = i
	}
	of := make([]int, len(o.Cameras))
	for i := range of {
		of[i] = -1
	}
	names := map[string]bool{}
	out := make([]Group, len(gs))
	for gi, g := range gs {
		if g.Name == "" {
			g.Name = DefaultGroup
		}
		switch {
		case !groupNamePattern.MatchString(g.Name):
			return nil, nil, fmt.Errorf("pipeline: group name %q; use 1-64 letters, digits, _ or -", g.Name)
		case names[g.Name]:
			return nil, nil, fmt.Errorf("pipeline: group %q twice", g.Name)
		case g.Detector == nil:
			return nil, nil, fmt.Errorf("pipeline: group %q has no detector", g.Name)
		case len(g.Cameras) == 0:
			return nil, nil, fmt.Errorf("pipeline: group %q serves no camera; leave it out", g.Name)
		}
		names[g.Name] = true
		for _, id := range g.Cameras {
			ci, ok := camIndex[id]
			switch {
			case !ok:
				return nil, nil, fmt.Errorf("pipeline: group %q names camera %q, which is not among the cameras", g.Name, id)
			case of[ci] >= 0:
				return nil, nil, fmt.Errorf("pipeline: camera %q is in groups %q and %q; a camera has one detector", id, gs[of[ci]].Name, g.Name)
			}
			of[ci] = gi
		}
		out[gi] = g
	}
	for ci, gi := range of {
		if gi < 0 {
			return nil, nil, fmt.Errorf("pipeline: camera %q is in no group; add it to one", o.Cameras[ci].ID())
		}
	}
	return out, of, nil
}
