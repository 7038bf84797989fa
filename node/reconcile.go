package node

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/modelstore"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/rules"
)

// plan is what it takes to go from the running state to a desired one,
// with everything that can fail done already: detectors loaded, rules
// compiled, cameras made.
type plan struct {
	cfg *config.Config

	load    []string             // detectors to load, in config order
	loaded  map[string]*detector // name → freshly loaded (new or replacing)
	unload  []string             // running detectors no enabled camera uses any more
	served  map[string][]string  // detector → its enabled cameras
	rules   map[string][]rules.Rule
	labels  map[string][]string // detector → class names
	cameras []*capture.Camera   // new cameras, made, not started

	removed, reconnected, moved, rulesChanged []string
	tracker                                   bool
}

// enabled lists a config's enabled cameras by id.
func enabled(cfg *config.Config) map[string]config.Camera {
	out := map[string]config.Camera{}
	if cfg == nil {
		return out
	}
	for _, c := range cfg.Cameras {
		if c.Enabled == nil || *c.Enabled {
			out[c.ID] = c
		}
	}
	return out
}

// prepare plans the way from the running state (n.cfg, n.dets; none at
// start) to cfg. On error it has changed nothing and holds nothing.
func (n *Node) prepare(cfg *config.Config) (_ *plan, err error) {
	pl := &plan{cfg: cfg, loaded: map[string]*detector{}, served: map[string][]string{}, labels: map[string][]string{}}
	defer func() {
		if err != nil {
			for _, d := range pl.loaded {
				d.close()
			}
		}
	}()
	want := enabled(cfg)
	for _, c := range cfg.Cameras {
		if _, ok := want[c.ID]; ok {
			pl.served[cfg.DetectorOf(c)] = append(pl.served[cfg.DetectorOf(c)], c.ID)
		}
	}
	models := cfg.DetectorModels()
	wanted := map[string]bool{}
	for _, d := range models {
		wanted[d.Name] = true
		var stored modelstore.Version
		if d.Model.Store != "" {
			if stored, err = n.resolveModel(cfg, &d.Model); err != nil {
				return nil, detectorError(d.Name, fmt.Errorf("%s.store: %w", modelKey(cfg, d.Name), err))
			}
		}
		if run := n.dets[d.Name]; run != nil && run.same(specOf(cfg, d.Model)) {
			pl.labels[d.Name] = run.det.Labels()
			continue
		}
		loaded, err := n.loadDetector(cfg, d, stored, pl.served[d.Name])
		if err != nil {
			return nil, err
		}
		pl.loaded[d.Name] = loaded
		pl.load = append(pl.load, d.Name)
		pl.labels[d.Name] = loaded.det.Labels()
	}
	for _, name := range slices.Sorted(maps.Keys(n.dets)) {
		if !wanted[name] {
			pl.unload = append(pl.unload, name)
		}
	}
	if pl.rules, err = cfg.CompileRulesFor(func(d string) []string { return pl.labels[d] }); err != nil {
		return nil, err
	}

	running := enabled(n.cfg)
	var runningRules map[string][]rules.Rule
	if n.cfg != nil {
		runningRules, _ = n.cfg.CompileRulesFor(func(d string) []string { return n.dets[d].labels() })
	}
	for _, c := range cfg.Cameras {
		if _, ok := want[c.ID]; !ok {
			continue
		}
		old, ok := running[c.ID]
		if !ok {
			cc, err := sourceConfig(c)
			if err != nil {
				return nil, fmt.Errorf("cameras: %w", err)
			}
			cam, err := capture.New(cc, n.log)
			if err != nil {
				return nil, fmt.Errorf("cameras: %w", err)
			}
			pl.cameras = append(pl.cameras, cam)
			continue
		}
		if !reflect.DeepEqual(captureConfig(old), captureConfig(c)) {
			pl.reconnected = append(pl.reconnected, c.ID)
		}
		if n.cfg.DetectorOf(old) != cfg.DetectorOf(c) {
			pl.moved = append(pl.moved, c.ID)
		}
		if !reflect.DeepEqual(runningRules[c.ID], pl.rules[c.ID]) {
			pl.rulesChanged = append(pl.rulesChanged, c.ID)
		}
	}
	for _, c := range n.cfgCameras() {
		if _, ok := want[c.ID]; !ok {
			if _, ran := running[c.ID]; ran {
				pl.removed = append(pl.removed, c.ID)
			}
		}
	}
	pl.tracker = n.cfg != nil && n.cfg.Tracker != cfg.Tracker
	return pl, nil
}

func (n *Node) cfgCameras() []config.Camera {
	if n.cfg == nil {
		return nil
	}
	return n.cfg.Cameras
}

func (d *detector) labels() []string {
	if d == nil {
		return nil
	}
	return d.det.Labels()
}

// Apply makes the running node follow cfg, which it validates first: see
// the package documentation. source says where the change came from (file,
// api, …), for the log and the status. On an error in validation or
// preparation nothing has changed; an error while applying (rare: a camera
// that NATS cannot subscribe for) leaves the rest applied, and says so.
func (n *Node) Apply(cfg *config.Config, source string) (Report, error) {
	return n.Change(source, func(*config.Config) (*config.Config, error) { return cfg, nil })
}

// Change applies the desired state that change makes of the running one,
// as Apply does; change runs while no other change can start, so that two
// changes never build on the same base. An error from change changes
// nothing and is returned as is.
func (n *Node) Change(source string, change func(running *config.Config) (*config.Config, error)) (Report, error) {
	t0 := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	cfg, err := change(n.cfg)
	if err != nil {
		return n.status.failed(source, err), err
	}
	if err := cfg.Validate(); err != nil {
		err = fmt.Errorf("invalid configuration, nothing changed:\n%w", err)
		return n.status.failed(source, err), err
	}
	if n.closed {
		err := errors.New("vigil is stopping; nothing changed")
		return n.status.failed(source, err), err
	}
	pl, err := n.prepare(cfg)
	if err != nil {
		err = fmt.Errorf("nothing changed: %w", err)
		return n.status.failed(source, err), err
	}
	rep := Report{Source: source, RestartRequired: config.RestartNeeded(n.cfg, cfg)}
	err = n.apply(pl, &rep)
	n.setDesired(cfg)
	n.followModels(cfg)
	n.syncShadowsLocked()
	rep.DurationMS = float64(time.Since(t0).Microseconds()) / 1000
	return n.status.applied(rep, err), err
}

// apply carries a plan out; every step is one the pipeline, the alerts and
// the live view take without failing on valid input, so errors are rare
// and do not stop the other steps.
func (n *Node) apply(pl *plan, rep *Report) error {
	var errs []error
	fail := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Detectors first, so that cameras find their group.
	for _, name := range pl.load {
		d := pl.loaded[name]
		if old := n.dets[name]; old != nil {
			prev, err := n.p.SwapDetector(name, d.det, d.det.Labels(), d.model)
			if err != nil {
				fail(err)
				d.close()
				continue
			}
			if prev != nil {
				old.close()
			}
			rep.Detectors.Swapped = append(rep.Detectors.Swapped, name+"="+d.model)
		} else {
			if err := n.p.AddGroup(pipeline.Group{Name: name, Detector: d.det, Labels: d.det.Labels(), Model: d.model}); err != nil {
				fail(err)
				d.close()
				continue
			}
			rep.Detectors.Loaded = append(rep.Detectors.Loaded, name+"="+d.model)
		}
		n.dets[name] = d
	}

	for _, id := range pl.removed {
		fail(n.p.RemoveCamera(id))
		if n.live != nil {
			n.live.RemoveCamera(id)
		}
		if al := n.alerts.Load(); al != nil {
			al.RemoveCamera(id)
		}
		if ev := n.evidence.Load(); ev != nil {
			ev.RemoveCamera(id)
		}
		n.pub.ForgetCamera(id)
		rep.Removed = append(rep.Removed, id)
	}
	desired := enabled(pl.cfg)
	for _, id := range pl.reconnected {
		cc, err := sourceConfig(desired[id])
		if err == nil {
			err = n.p.ReconfigureCamera(id, cc)
		}
		fail(err)
		rep.Reconnected = append(rep.Reconnected, id)
	}
	for _, id := range pl.moved {
		fail(n.p.MoveCamera(id, pl.cfg.DetectorOf(desired[id])))
		rep.Moved = append(rep.Moved, id+"→"+pl.cfg.DetectorOf(desired[id]))
	}

	// Rules before new cameras, so that their first frame meets them.
	if len(pl.rules) > 0 && n.alerts.Load() == nil {
		fail(n.startAlerts(pl.cfg, pl.rules))
	}
	if al := n.alerts.Load(); al != nil {
		changed := slices.Clone(pl.rulesChanged)
		for _, c := range pl.cameras {
			changed = append(changed, c.ID())
		}
		for _, id := range changed {
			fail(al.SetRules(id, pl.rules[id]))
		}
	}
	rep.RulesChanged = pl.rulesChanged
	n.setOverlays(pl.cfg)
	n.setClipCameras(pl.cfg)

	// Motion gating: unchanged settings are left alone; a new camera's
	// is in place before its first frame.
	for id, g := range gatesOf(pl.cfg, pl.rules) {
		if _, on := desired[id]; on {
			fail(n.p.SetGate(id, g))
		}
	}
	for _, cam := range pl.cameras {
		if n.live != nil {
			fail(n.live.AddCamera(cam))
		}
		fail(n.p.AddCamera(cam, pl.cfg.DetectorOf(desired[cam.ID()])))
		rep.Added = append(rep.Added, cam.ID())
	}

	for _, name := range pl.unload {
		if _, err := n.p.RemoveGroup(name); err != nil {
			fail(err)
			continue
		}
		n.dets[name].close()
		delete(n.dets, name)
		rep.Detectors.Unloaded = append(rep.Detectors.Unloaded, name)
	}
	if pl.tracker {
		fail(n.p.SetTracker(pl.cfg.Tracker.TrackConfig()))
		rep.Tracker = true
	}
	if n.cfg != nil && n.cfg.LogLevel != pl.cfg.LogLevel {
		// The process's level: vigil run makes its logger follow it.
		lvl, err := zerolog.ParseLevel(pl.cfg.LogLevel)
		fail(err)
		if err == nil {
			zerolog.SetGlobalLevel(lvl)
			rep.LogLevel = pl.cfg.LogLevel
		}
	}
	return errors.Join(errs...)
}
