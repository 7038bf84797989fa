package config

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// LiveView configures the browser live view: annotated video per camera over
// WebRTC (WHEP), MJPEG and snapshots, served on http.listen.
type LiveView struct {
	Codec   string  `yaml:"codec"`   // vp8|h264 (h264 needs a build with -tags x264)
	Bitrate int     `yaml:"bitrate"` // target bits per second of each camera's encoder
	MaxFPS  float64 `yaml:"max_fps"` // frames per second sent at most; a faster camera is thinned
	// ProcessedOnly draws and sends only the frames the detector processed,
	// with their own tracks, instead of every captured frame with the
	// latest tracks moved to its time.
	ProcessedOnly bool `yaml:"processed_only"`
	ICE           ICE  `yaml:"ice"`
}

// ICE configures how browsers reach the live view's WebRTC sessions.
type ICE struct {
	STUN       []string     `yaml:"stun"` // stun:host:port
	TURN       []TURNServer `yaml:"turn"`
	UDPPortMin int          `yaml:"udp_port_min"` // 0 and 0: any port
	UDPPortMax int          `yaml:"udp_port_max"`
	// NAT1To1IPs replace the host's addresses in its ICE candidates, for a
	// host behind a 1:1 NAT (a cloud VM with a public address).
	NAT1To1IPs []string `yaml:"nat_1to1_ips"`
}

// TURNServer is one TURN relay. Its credential comes from a file only.
type TURNServer struct {
	URL            string `yaml:"url"` // turn:host:port or turns:host:port
	Username       string `yaml:"username"`
	CredentialFile string `yaml:"credential_file"`
}

// Live view codecs, as named in LiveView.Codec.
const (
	CodecVP8  = "vp8"
	CodecH264 = "h264"
)

// EnvHTTPToken holds the HTTP bearer token when http.token_file is not set.
const EnvHTTPToken = "VIGIL_HTTP_TOKEN"

func defaultLiveView() LiveView {
	return LiveView{Codec: CodecVP8, Bitrate: 1_500_000, MaxFPS: 30}
}

var codecs = []string{CodecVP8, CodecH264}

func (l *LiveView) validate(p *problems) {
	if !contains(codecs, l.Codec) {
		p.add("liveview.codec", "unknown codec %q; use %s", l.Codec, orList(codecs...))
	}
	if l.Bitrate < 50_000 || l.Bitrate > 50_000_000 {
		p.add("liveview.bitrate", "%d bits/s out of range; use 50000 to 50000000, e.g. 1500000", l.Bitrate)
	}
	if !(l.MaxFPS > 0 && l.MaxFPS <= 120) {
		p.add("liveview.max_fps", "%g out of range; use a rate above 0 and at most 120, e.g. 30", l.MaxFPS)
	}
	ice := &l.ICE
	for i, u := range ice.STUN {
		if !hasScheme(u, "stun:", "stuns:") {
			p.add(fmt.Sprintf("liveview.ice.stun[%d]", i), "%q is not a STUN URL; e.g. stun:stun.example.org:3478", u)
		}
	}
	for i, t := range ice.TURN {
		path := fmt.Sprintf("liveview.ice.turn[%d]", i)
		if !hasScheme(t.URL, "turn:", "turns:") {
			p.add(path+".url", "%q is not a TURN URL; e.g. turn:turn.example.org:3478?transport=udp", t.URL)
		}
		if t.Username == "" {
			p.add(path+".username", "required; TURN servers take a username and a credential")
		}
		if t.CredentialFile == "" {
			p.add(path+".credential_file", "required; name the file that holds the TURN credential")
		}
	}
	lo, hi := ice.UDPPortMin, ice.UDPPortMax
	switch {
	case lo == 0 && hi == 0:
	case lo < 1024 || lo > 65535:
		p.add("liveview.ice.udp_port_min", "%d; use a port from 1024 to 65535, or 0 with udp_port_max 0 for any", lo)
	case hi < 1024 || hi > 65535:
		p.add("liveview.ice.udp_port_max", "%d; use a port from 1024 to 65535, or 0 with udp_port_min 0 for any", hi)
	case lo > hi:
		p.add("liveview.ice.udp_port_max", "%d is below udp_port_min %d; make min <= max", hi, lo)
	}
	for i, ip := range ice.NAT1To1IPs {
		if net.ParseIP(ip) == nil {
			p.add(fmt.Sprintf("liveview.ice.nat_1to1_ips[%d]", i), "%q is not an IP address; e.g. 203.0.113.7", ip)
		}
	}
}

func hasScheme(u string, schemes ...string) bool {
	for _, s := range schemes {
		if len(u) > len(s) && strings.EqualFold(u[:len(s)], s) {
			return true
		}
	}
	return false
}

// HTTPToken returns the bearer token that guards the HTTP server: the
// content of http.token_file when set, else $VIGIL_HTTP_TOKEN; "" when
// neither is set. The error names the file, never its content.
func (c *Config) HTTPToken() (string, error) {
	return readSecret("http.token_file", c.HTTP.TokenFile, EnvHTTPToken)
}

// TURNCredential reads the credential of liveview.ice.turn[i].
func (c *Config) TURNCredential(i int) (string, error) {
	t := c.LiveView.ICE.TURN[i]
	field := fmt.Sprintf("liveview.ice.turn[%d].credential_file", i)
	b, err := os.ReadFile(t.CredentialFile)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", field, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s %q is empty; put the TURN credential in it", field, t.CredentialFile)
	}
	return s, nil
}
