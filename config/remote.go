package config

import "time"

// Remote runs a detector's model on another node, over NATS (package
// infer; `vigil serve infer` is the server). With path a whole model,
// frames go out as JPEG to a server of that same model; with path the
// head.onnx of `vigil model split`, the head runs here and the cut tensors
// go to a server of its tail.onnx. A frame no server answers within
// Timeout, or that the server answers with an error, runs on the Fallback
// model here, or, without one, is dropped and counted
// (vigil_frames_dropped_total{reason="detect_error"}).
type Remote struct {
	Subject     string   `yaml:"subject"`      // "" = the model runs here
	Timeout     Duration `yaml:"timeout"`      // per frame, the round trip included
	Transport   string   `yaml:"transport"`    // the cut's type on the wire: uint8|float16|float32 (split only)
	JPEGQuality int      `yaml:"jpeg_quality"` // frames' JPEG quality, 1–100 (whole-frame offload only)
	Fallback    string   `yaml:"fallback"`     // a whole model run here when no server answers; "" = none
}

// Transports of the cut tensors, as named in Remote.Transport.
var transports = []string{"uint8", "float16", "float32"}

func defaultRemote() Remote {
	return Remote{Timeout: Duration(time.Second), Transport: "uint8", JPEGQuality: 90}
}

func (r *Remote) validate(p *problems, path string) {
	if r.Subject == "" {
		return
	}
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
