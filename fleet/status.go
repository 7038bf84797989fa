package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/lease"
)

// Camera states in a Status.
const (
	StateRunning  = "running"  // a node holds its lease
	StateFree     = "free"     // no holder yet; a node will take it
	StateUnplaced = "unplaced" // no live node can take it: Reason says why
	StateInvalid  = "invalid"  // its block in the bucket does not parse
	StateDisabled = "disabled" // enabled: false
)

// CameraStatus is one fleet camera as the fleet sees it.
type CameraStatus struct {
	ID      string   `json:"id"`
	State   string   `json:"state"`
	Owner   string   `json:"owner,omitempty"`
	Epoch   uint64   `json:"epoch,omitempty"`
	URL     string   `json:"url,omitempty"` // the owner's HTTP base URL
	Reason  string   `json:"reason,omitempty"`
	Require []string `json:"require,omitempty"`
	Prefer  []string `json:"prefer,omitempty"`
}

// NodeStatus is one live node.
type NodeStatus struct {
	Name string `json:"name"`
	NodeInfo
}

// Status is the whole fleet: live nodes and every camera of the bucket.
type Status struct {
	Node    string         `json:"node,omitempty"` // the node that answers
	Nodes   []NodeStatus   `json:"nodes"`
	Cameras []CameraStatus `json:"cameras"`
}

func buildStatus(desired map[string]Entry, holders map[string]lease.Entry, nodes map[string]NodeInfo) Status {
	st := Status{Nodes: []NodeStatus{}, Cameras: []CameraStatus{}}
	for name, n := range nodes {
		st.Nodes = append(st.Nodes, NodeStatus{Name: name, NodeInfo: n})
	}
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].Name < st.Nodes[j].Name })
	var free []config.Camera
	for id, e := range desired {
		c := CameraStatus{ID: id, Require: e.Camera.Require, Prefer: e.Camera.Prefer}
		h := holders[id]
		switch {
		case e.Err != nil:
			c.State, c.Reason = StateInvalid, e.Err.Error()
		case !enabled(e.Camera):
			c.State = StateDisabled
		case h.Holder != "":
			c.State, c.Owner, c.Epoch, c.URL = StateRunning, h.Holder, h.Epoch, nodes[h.Holder].URL
		default:
			c.State = StateFree
			free = append(free, e.Camera)
		}
		st.Cameras = append(st.Cameras, c)
	}
	sort.Slice(st.Cameras, func(i, j int) bool { return st.Cameras[i].ID < st.Cameras[j].ID })
	pl := place(free, nodes, heldCounts(holders))
	for i, c := range st.Cameras {
		if why, ok := pl.unplaced[c.ID]; ok && c.State == StateFree {
			st.Cameras[i].State, st.Cameras[i].Reason = StateUnplaced, why
		}
	}
	return st
}

// heldCounts is how many cameras each node holds.
func heldCounts(holders map[string]lease.Entry) map[string]int {
	n := map[string]int{}
	for _, h := range holders {
		if h.Holder != "" {
			n[h.Holder]++
		}
	}
	return n
}

// Status is the fleet as this node sees it now.
func (m *Member) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := m.liveLocked(m.o.Now())
	st := buildStatus(m.desired, m.holders, live)
	st.Node = m.o.Node
	return st
}

// Owner is the node that holds a fleet camera and its HTTP base URL, as
// this node sees them; "" when none does.
func (m *Member) Owner(camera string) (node, url string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	node = m.holders[camera].Holder
	if p, ok := m.peers[node]; ok {
		url = p.info.URL
	}
	return node, url
}

// ReadStatus reads the fleet's status from its buckets, for a tool that
// is not a node (vigil fleet status). Buckets not made yet read as empty.
func ReadStatus(ctx context.Context, js jetstream.JetStream, camerasBucket, leasesBucket, nodesBucket string) (Status, error) {
	camerasBucket = cmp.Or(camerasBucket, DefaultCamerasBucket)
	leasesBucket = cmp.Or(leasesBucket, DefaultLeasesBucket)
	nodesBucket = cmp.Or(nodesBucket, DefaultNodesBucket)
	desired := map[string]Entry{}
	if kv, err := js.KeyValue(ctx, camerasBucket); err == nil {
		list, err := (&Cameras{kv: kv, bucket: camerasBucket}).List(ctx)
		if err != nil {
			return Status{}, err
		}
		for _, e := range list {
			desired[e.ID] = e
		}
	} else if !isNotFound(err) {
		return Status{}, fmt.Errorf("cameras bucket %s: %w", camerasBucket, err)
	}
	read := func(name string) ([]lease.Entry, error) {
		b, err := lease.OpenExisting(ctx, js, name)
		if err != nil {
			if ctx.Err() == nil && isNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
		return b.Snapshot(ctx)
	}
	holders := map[string]lease.Entry{}
	list, err := read(leasesBucket)
	if err != nil {
		return Status{}, err
	}
	for _, e := range list {
		holders[e.Key] = e
	}
	nodes := map[string]NodeInfo{}
	if list, err = read(nodesBucket); err != nil {
		return Status{}, err
	}
	for _, e := range list {
		if info, live := nodeInfo(e); live {
			nodes[e.Key] = info
		}
	}
	return buildStatus(desired, holders, nodes), nil
}

func isNotFound(err error) bool { return errors.Is(err, jetstream.ErrBucketNotFound) }
