package node

import (
	"image"
	"math"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/liveview"
)

// newLiveView builds the browser live view from the config; fleet holds
// its fleet options (Node, Remote, Forward), zero without a fleet.
func newLiveView(cfg *config.Config, cams []*capture.Camera, overlay func(string, int, int) liveview.Overlay, fleet liveview.Options, reg prometheus.Registerer, log zerolog.Logger) (*liveview.Server, error) {
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
		ICE: ice, Overlay: overlay, Registry: reg, Logger: log,
		Node: fleet.Node, Remote: fleet.Remote, Forward: fleet.Forward,
	})
}

// setOverlays makes the live view draw cfg's rules from the next frame.
func (n *Node) setOverlays(cfg *config.Config) {
	byCamera := map[string][]config.Rule{}
	for _, c := range cfg.Cameras {
		if len(c.Rules) > 0 {
			byCamera[c.ID] = c.Rules
		}
	}
	n.overlays.Store(&byCamera)
}

// overlay draws a camera's rule zones and lines, as the config has them
// now.
func (n *Node) overlay(camera string, w, h int) liveview.Overlay {
	var ov liveview.Overlay
	m := n.overlays.Load()
	if m == nil {
		return ov
	}
	for _, r := range (*m)[camera] {
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
