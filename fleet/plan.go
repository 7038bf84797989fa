package fleet

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/lease"
)

// NodeInfo is what a node tells the fleet about itself: the info of its
// lease in the nodes bucket, written with every renewal.
type NodeInfo struct {
	Labels     []string `json:"labels"`
	Detectors  []string `json:"detectors"` // the detectors: entries it can run ("default" = model:)
	MaxCameras int      `json:"max_cameras"`
	MaxLoad    float64  `json:"max_load"`
	// Load is how busy its detectors were over the last renewal period:
	// inference time over wall time, 1 = one detector never idle.
	Load    float64  `json:"load"`
	Cameras []string `json:"cameras"` // the fleet cameras it runs, sorted
	URL     string   `json:"url,omitempty"`
	Version string   `json:"version,omitempty"`
}

// nodeInfo reads a node's key in the nodes bucket: its info, and whether
// it is a live node (held, with an info that reads as a NodeInfo).
func nodeInfo(e lease.Entry) (NodeInfo, bool) {
	var info NodeInfo
	if e.Holder == "" || e.Err != nil || json.Unmarshal(e.Info, &info) != nil {
		return NodeInfo{}, false
	}
	return info, true
}

// headroom says whether the node may take one more camera.
func (n NodeInfo) headroom(count int) bool {
	return count < n.MaxCameras && n.Load < n.MaxLoad
}

// eligible says why a node cannot run cam at all ("" when it can), full
// or not.
func (n NodeInfo) eligible(cam config.Camera) string {
	for _, l := range cam.Require {
		if !slices.Contains(n.Labels, l) {
			return "label " + l
		}
	}
	det := cam.Detector
	if det == "" {
		det = config.DefaultDetector
	}
	if !slices.Contains(n.Detectors, det) {
		return "detector " + det
	}
	return ""
}

// preferred counts the camera's preferred labels the node has.
func (n NodeInfo) preferred(cam config.Camera) int {
	k := 0
	for _, l := range cam.Prefer {
		if slices.Contains(n.Labels, l) {
			k++
		}
	}
	return k
}

// placement is where the free cameras go: each to the eligible node with
// headroom that has the most of its preferred labels, then the fewest
// cameras (counting those placed before it), then the smallest name. Every
// node computes it from the same view, so they agree without talking;
// where views differ, the lease's Create settles it.
type placement struct {
	to       map[string]string // camera → node
	unplaced map[string]string // camera → why no node can take it
}

// held counts each node's cameras from the leases, which every node
// watches as they change; a node's own list in its info is a renewal
// period late.
func place(free []config.Camera, nodes map[string]NodeInfo, held map[string]int) placement {
	pl := placement{to: map[string]string{}, unplaced: map[string]string{}}
	names := make([]string, 0, len(nodes))
	count := map[string]int{}
	for name := range nodes {
		names = append(names, name)
		count[name] = held[name]
	}
	sort.Strings(names)
	sort.Slice(free, func(i, j int) bool { return free[i].ID < free[j].ID })
	for _, cam := range free {
		best, bestPref := "", -1
		var missing []string
		full := 0
		for _, name := range names {
			n := nodes[name]
			if why := n.eligible(cam); why != "" {
				missing = append(missing, why)
				continue
			}
			if !n.headroom(count[name]) {
				full++
				continue
			}
			if p := n.preferred(cam); p > bestPref || p == bestPref && count[name] < count[best] {
				best, bestPref = name, p
			}
		}
		if best != "" {
			pl.to[cam.ID] = best
			count[best]++
			continue
		}
		pl.unplaced[cam.ID] = unplacedReason(len(names), full, missing)
	}
	return pl
}

func unplacedReason(nodes, full int, missing []string) string {
	switch {
	case nodes == 0:
		return "no live node"
	case full > 0:
		return fmt.Sprintf("every node that can run it is full (max_cameras) or loaded (max_load): %d of %d", full, nodes)
	}
	slices.Sort(missing)
	return "no live node has " + strings.Join(slices.Compact(missing), ", ")
}
