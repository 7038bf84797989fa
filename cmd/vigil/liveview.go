package main

import (
	"image"
	"math"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/liveview"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/sinks"
)

// newLiveView builds the browser live view from the config; nil when the
// HTTP server is off (the live view has nowhere to be served).
func newLiveView(cfg *config.Config, cams []*capture.Camera, reg prometheus.Registerer, log zerolog.Logger) (*liveview.Server, error) {
	if !cfg.HTTP.Enabled() {
		return nil, nil
	}
	l := cfg.LiveView
	ice := liveview.ICE{
		STUN: l.ICE.STUN, NAT1To1IPs: l.ICE.NAT1To1IPs,
		UDPPortMin: uint16(l.ICE.UDPPortMin), UDPPortMax: uint16(l.ICE.UDPPortMax),
	}
	for i, t := range l.ICE.TURN {
		cred, err := cfg.TURNCredential(i)
		if err != nil {
			return nil, err
		}
		ice.TURN = append(ice.TURN, liveview.TURN{URL: t.URL, Username: t.Username, Credential: cred})
	}
	return liveview.New(liveview.Options{
		Cameras: cams, Codec: l.Codec, Bitrate: l.Bitrate, MaxFPS: l.MaxFPS, ProcessedOnly: l.ProcessedOnly,
		ICE: ice, Overlay: ruleOverlay(cfg), Registry: reg, Logger: log,
	})
}

// liveViewParts is what the pipeline and the HTTP server take from the
// live view; empty without one.
func liveViewParts(live *liveview.Server) (sink []pipeline.Sink, taps []pipeline.Tap) {
	if live == nil {
		return nil, nil
	}
	return []pipeline.Sink{live}, []pipeline.Tap{live}
}

// serveLiveView adds the live view's routes and says where it is.
func serveLiveView(live *liveview.Server, web *sinks.HTTPServer, guarded bool, log zerolog.Logger) {
	if live == nil || web == nil {
		return
	}
	live.Register(web.Mux)
	log.Info().Str("url", "http://"+web.Addr()+"/").Bool("token", guarded).
		Msg("live view: the page, WHEP at /api/whep/<camera>, MJPEG and snapshots at /api/cameras/<camera>/")
}

// ruleOverlay draws each camera's rule zones and lines; nil without rules.
func ruleOverlay(cfg *config.Config) func(camera string, width, height int) liveview.Overlay {
	byCamera := map[string][]config.Rule{}
	for _, c := range cfg.Cameras {
		if len(c.Rules) > 0 {
			byCamera[c.ID] = c.Rules
		}
	}
	if len(byCamera) == 0 {
		return nil
	}
	return func(camera string, w, h int) liveview.Overlay {
		var ov liveview.Overlay
		for _, r := range byCamera[camera] {
			pts := make([]image.Point, 0, len(r.Points))
			for _, p := range r.Points {
				if len(p) < 2 {
					continue
				}
				x, y := p[0], p[1]
				if r.Normalized {
					x, y = x*float64(w), y*float64(h)
				}
				pts = append(pts, image.Pt(int(math.Round(x)), int(math.Round(y))))
			}
			switch {
			case r.Type == config.RuleZone:
				ov.Zones = append(ov.Zones, liveview.Zone{Name: r.Name, Points: pts})
			case r.Type == config.RuleLine && len(pts) == 2:
				ov.Lines = append(ov.Lines, liveview.Line{Name: r.Name, A: pts[0], B: pts[1]})
			}
		}
		return ov
	}
}
