package config

import (
	"slices"
	"time"
)

// Remote runs a detector's model on another node, over NATS (package
// infer; `vigil serve infer` is the server). With path a whole model,
// frames go out as JPEG to a server of that same model; with path the
// head.onnx of `vigil model split`, the head runs here and the cut tensors
// go to a server of its tail.onnx. A frame no server answers within
// Timeout, or that the server answers with an error, runs on the Fallback
// model here, or, without one, is dropped and counted
// (vigil_frames_dropped_total{reason="detect_error"}).
type Remote struct {
	Subject     string     `yaml:"subject"`      // "" = the model runs here
	Timeout     Duration   `yaml:"timeout"`      // per frame, the round trip included
	Transport   string     `yaml:"transport"`    // the cut's type on the wire: uint8|float16|float32 (split only)
	JPEGQuality int        `yaml:"jpeg_quality"` // frames' JPEG quality, 1–100 (whole-frame offload only)
	Fallback    string     `yaml:"fallback"`     // a whole model run here when no server answers; "" = none
	Plan        RemotePlan `yaml:"plan"`
}

// RemotePlan checks, while the detector runs, that the way it is
// configured (whole frames as JPEG, or the cut its head ends at) is still
// the one `vigil model plan` would pick for Goal over the link the
// detector measures. Every, the link's round trip is probed (also without
// a goal) and, with a goal, the planner re-run with the profiles of both
// machines; a warning says when another way wins.
type RemotePlan struct {
	Goal          string   `yaml:"goal"`           // latency|camera_cpu|bytes; "" = no check
	Profile       string   `yaml:"profile"`        // this node's: `vigil model cuts MODEL --profile --json` run here
	RemoteProfile string   `yaml:"remote_profile"` // the server's: the same, run there
	Every         Duration `yaml:"every"`          // how often the link is probed and the plan checked
	// Margin is how much worse than the planner's choice the configured way
	// must be before it is reported, as a fraction of the goal's measure:
	// a link near the tipping point does not report and recover by turns.
	Margin float64 `yaml:"margin"`
}

// Transports of the cut tensors, as named in Remote.Transport.
var transports = []string{"uint8", "float16", "float32"}

// planGoals are RemotePlan.Goal's values (model.Goals).
var planGoals = []string{"latency", "camera_cpu", "bytes"}

func defaultRemote() Remote {
	return Remote{Timeout: Duration(time.Second), Transport: "uint8", JPEGQuality: 90,
		Plan: RemotePlan{Every: Duration(30 * time.Second), Margin: 0.1}}
}

func (r *Remote) validate(p *problems, path string) {
	if r.Subject == "" {
		return // what a model run here inherits of model.remote is not used
	}
	r.Plan.validate(p, path+".plan")
	if r.Timeout.D() <= 0 {
		p.add(path+".timeout", "%s; use a positive duration such as 1s (a frame waits at most this long for a server)", r.Timeout)
	}
	if !contains(transports, r.Transport) {
		p.add(path+".transport", "unknown transport %q; use %s", r.Transport, orList(transports...))
	}
	if r.JPEGQuality < 1 || r.JPEGQuality > 100 {
		p.add(path+".jpeg_quality", "%d; use 1 to 100, e.g. 90", r.JPEGQuality)
	}
}

func (pl *RemotePlan) validate(p *problems, path string) {
	if pl.Goal == "" {
		for _, f := range [...]struct{ key, v string }{{"profile", pl.Profile}, {"remote_profile", pl.RemoteProfile}} {
			if f.v != "" {
				p.add(path+"."+f.key, "set, but %s.goal is empty; set goal: %s to check the plan, or leave %s out", path, orList(planGoals...), f.key)
			}
		}
	} else {
		if !slices.Contains(planGoals, pl.Goal) {
			p.add(path+".goal", "unknown goal %q; use %s", pl.Goal, orList(planGoals...))
		}
		if pl.Profile == "" {
			p.add(path+".profile", "required with goal; write this node's with `vigil model cuts MODEL --profile --json > here.json` on this node (MODEL: the whole model, not the head)")
		}
		if pl.RemoteProfile == "" {
			p.add(path+".remote_profile", "required with goal; write the server's with `vigil model cuts MODEL --profile --json > server.json` on the server")
		}
	}
	if pl.Every.D() < time.Second {
		p.add(path+".every", "%s; use 1s or more, e.g. 30s (each time the link is probed, and with a goal a frame's costs measured)", pl.Every)
	}
	if !(pl.Margin >= 0 && pl.Margin <= 1) {
		p.add(path+".margin", "%g; use 0 to 1, e.g. 0.1 (report when the configured way is over 10%% worse than the choice)", pl.Margin)
	}
}
