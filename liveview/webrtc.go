package liveview

import (
	"fmt"
	"net"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// iceServerJSON is an ICE server as the page passes it to RTCPeerConnection.
type iceServerJSON struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// videoPayloadType is the payload type of the one codec the live view sends.
const videoPayloadType = 96

const playoutDelayURI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"

// newAPI builds the WebRTC stack every session shares: one video codec with
// NACK and PLI/FIR feedback, pion's default interceptors (NACK responder,
// RTCP reports, TWCC), and the ICE settings.
func newAPI(o ICE, spec *codecSpec) (*webrtc.API, []iceServerJSON, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: spec.capability, PayloadType: videoPayloadType},
		webrtc.RTPCodecTypeVideo); err != nil {
		return nil, nil, fmt.Errorf("liveview: register %s: %w", spec.name, err)
	}
	// Playout delay 0: the browser shows each frame as soon as it is
	// decoded instead of buffering for smoothness (Chrome's low-latency
	// rendering path), where the browser offers the extension.
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: playoutDelayURI}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, nil, fmt.Errorf("liveview: playout-delay extension: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, nil, fmt.Errorf("liveview: interceptors: %w", err)
	}
	var se webrtc.SettingEngine
	// A viewer that vanishes without a goodbye (a closed laptop) is noticed
	// in seconds, so its camera's encoder stops soon after.
	se.SetICETimeouts(4*time.Second, 10*time.Second, 2*time.Second)
	if o.UDPPortMin != 0 || o.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(o.UDPPortMin, o.UDPPortMax); err != nil {
			return nil, nil, fmt.Errorf("liveview.ice.udp_port_min/max %d-%d: %w", o.UDPPortMin, o.UDPPortMax, err)
		}
	}
	if len(o.NAT1To1IPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: o.NAT1To1IPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, nil, fmt.Errorf("liveview.ice.nat_1to1_ips: %w", err)
		}
	}
	if o.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))

	var servers []iceServerJSON
	for _, u := range o.STUN {
		servers = append(servers, iceServerJSON{URLs: []string{u}})
	}
	for _, t := range o.TURN {
		servers = append(servers, iceServerJSON{URLs: []string{t.URL}, Username: t.Username, Credential: t.Credential})
	}
	return api, servers, nil
}

// webrtcICEServers converts the servers for a PeerConnection.
func (s *Server) webrtcICEServers() []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(s.iceJSON))
	for _, j := range s.iceJSON {
		is := webrtc.ICEServer{URLs: j.URLs, Username: j.Username}
		if j.Credential != "" {
			is.Credential = j.Credential
			is.CredentialType = webrtc.ICECredentialTypePassword
		}
		out = append(out, is)
	}
	return out
}
