package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// Fleet makes this vigil one node of a fleet: nodes on one NATS (with
// JetStream) share the cameras kept in the fleet's bucket, each camera run
// by the node that holds its lease (packages fleet and lease). The cameras
// under cameras: in the file stay this box's own and run without a lease.
type Fleet struct {
	Enabled bool `yaml:"enabled"`
	// Node is this node's name in the fleet, unique among the live nodes;
	// "" = the host name.
	Node string `yaml:"node"`
	// Labels say what this node offers, for cameras that require or prefer
	// them: gpu, line-3.
	Labels []string `yaml:"labels"`
	// LeaseTTL is how long a camera's lease lasts unless renewed: a dead
	// node's cameras move within about this long. Every node of a fleet
	// uses the same.
	LeaseTTL Duration `yaml:"lease_ttl"`
	// MaxCameras is how many fleet cameras this node runs at most.
	MaxCameras int `yaml:"max_cameras"`
	// MaxLoad is the detector busy fraction (0-1) at or above which this
	// node takes no more cameras.
	MaxLoad float64 `yaml:"max_load"`
	// MinHold is how long a node keeps a camera before it may hand it to
	// a less loaded node: balance never flaps faster than this.
	MinHold Duration `yaml:"min_hold"`
	// Replicas is how many copies of the fleet's buckets the cluster keeps;
	// 0 = 3 when the cluster has three or more servers, else 1.
	Replicas int `yaml:"replicas"`
	// Advertise is the base URL other nodes and browsers reach this node's
	// HTTP server at, for cameras it runs; "" = http://<http.listen>.
	Advertise string `yaml:"advertise"`
}

// Fleet defaults.
const (
	DefaultLeaseTTL   = 4 * time.Second
	DefaultMaxCameras = 8
	DefaultMaxLoad    = 0.85
	DefaultMinHold    = 30 * time.Second
)

func defaultFleet() Fleet {
	return Fleet{LeaseTTL: Duration(DefaultLeaseTTL), MaxCameras: DefaultMaxCameras, MaxLoad: DefaultMaxLoad, MinHold: Duration(DefaultMinHold)}
}

var labelPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NodeName is the node's name: fleet.node, else the host name made a
// valid name (dots and other characters become -).
func (f *Fleet) NodeName() (string, error) {
	if f.Node != "" {
		return f.Node, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("fleet.node is empty and the host name cannot be read (%v); name the node, e.g. fleet.node: line-3", err)
	}
	name := strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '-'
	}, host)
	if len(name) > 64 {
		name = name[:64]
	}
	if !labelPattern.MatchString(name) {
		return "", fmt.Errorf("fleet.node is empty and the host name %q makes no node name; name the node, e.g. fleet.node: line-3", host)
	}
	return name, nil
}

func (f *Fleet) validate(p *problems, n *NATS) {
	if !f.Enabled {
		return
	}
	if f.Node != "" && !labelPattern.MatchString(f.Node) {
		p.add("fleet.node", "%q; use 1-64 letters, digits, _ or -", f.Node)
	}
	validateLabels(p, "fleet.labels", f.Labels)
	if ttl := f.LeaseTTL.D(); ttl < time.Second || ttl > 5*time.Minute {
		p.add("fleet.lease_ttl", "%s; use 1s to 5m (a dead node's cameras move within about this long), e.g. 5s", f.LeaseTTL)
	}
	if f.MaxCameras < 1 {
		p.add("fleet.max_cameras", "%d; use 1 or more cameras", f.MaxCameras)
	}
	if !(f.MaxLoad > 0 && f.MaxLoad <= 1) {
		p.add("fleet.max_load", "%g; use a detector busy fraction above 0 and at most 1, e.g. 0.85", f.MaxLoad)
	}
	if f.MinHold < 0 {
		p.add("fleet.min_hold", "%s is negative; use 0 or a duration such as 30s", f.MinHold)
	}
	if f.Replicas < 0 || f.Replicas > 5 {
		p.add("fleet.replicas", "%d; use 1 to 5 copies, or 0 for 3 in a cluster of three or more servers", f.Replicas)
	}
	if f.Advertise != "" && !(strings.HasPrefix(f.Advertise, "http://") || strings.HasPrefix(f.Advertise, "https://")) {
		p.add("fleet.advertise", "%q; use this node's HTTP base URL as others reach it, e.g. http://10.0.0.11:8080", f.Advertise)
	}
	if n.URL == "" && n.JetStream != nil && !*n.JetStream {
		p.add("fleet.enabled", "needs JetStream, which nats.jetstream turns off; set nats.jetstream: true, or use nats.url")
	}
}

func validateLabels(p *problems, path string, labels []string) {
	for i, l := range labels {
		if !labelPattern.MatchString(l) {
			p.add(fmt.Sprintf("%s[%d]", path, i), "%q; use 1-64 letters, digits, _ or -", l)
		}
	}
}
