package node

import (
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/motion"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/rules"
)

// gateOf is a camera's motion gating from the config, with its compiled
// rules' lines to watch: nil when motion is off for it.
func gateOf(cfg *config.Config, cam config.Camera, rs []rules.Rule) *pipeline.Gate {
	m, masks := cfg.MotionFor(cam)
	if !m.Enabled {
		return nil
	}
	g := &pipeline.Gate{
		Motion: motion.Options{Height: m.Height, Threshold: m.Threshold, MinArea: m.MinArea, Alpha: m.Alpha,
			Settle: m.Settle, GlobalChange: m.GlobalChange, Absorb: m.Absorb},
		IdleInterval: m.IdleInterval.D(), StationaryInterval: m.StationaryInterval.D(), MinSpeed: m.MinSpeed,
		Watch: rules.NewWatch(rs),
	}
	if r := m.Regions; r.Enabled {
		g.Regions = &pipeline.Regions{Max: r.Max, MinScale: r.MinScale, FullInterval: r.FullInterval.D()}
	}
	for _, mk := range masks {
		pts := make([][2]float64, 0, len(mk.Points))
		for _, p := range mk.Points {
			if len(p) == 2 {
				pts = append(pts, [2]float64{p[0], p[1]})
			}
		}
		g.Motion.Masks = append(g.Motion.Masks, motion.Mask{Points: pts, Normalized: mk.Normalized})
	}
	return g
}

// gatesOf are the motion gates of cfg's cameras, by id, with their
// compiled rules (config.Config.CompileRulesFor).
func gatesOf(cfg *config.Config, compiled map[string][]rules.Rule) map[string]*pipeline.Gate {
	out := map[string]*pipeline.Gate{}
	for _, c := range cfg.Cameras {
		out[c.ID] = gateOf(cfg, c, compiled[c.ID])
	}
	return out
}
