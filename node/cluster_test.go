package node

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestThreeNodesFormOneNATS: three vigil nodes whose embedded servers
// route to each other are one NATS: a subscriber on the third node's server
// gets the tracks of a camera on the first.
func TestThreeNodesFormOneNATS(t *testing.T) {
	routes := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	var nodes []*testNode
	for i := range 3 {
		cams := "cameras: []\n"
		if i == 0 {
			cams = "cameras:\n  - {id: gate, url: testsrc, fps: 5, width: 160, height: 120}\n"
		}
		cfg := strings.Replace(header(t), "nats: {", fmt.Sprintf("nats: {server_name: vigil-%d, cluster: {name: plant, listen: %q, routes: [%s]}, ", i+1, routes[i], `"`+strings.Join(routes, `", "`)+`"`), 1)
		nodes = append(nodes, startNode(t, cfg+cams))
	}
	got := make(chan *nats.Msg, 100)
	if _, err := nodes[2].nc.ChanSubscribe("vigil.gate.tracks", got); err != nil {
		t.Fatal(err)
	}
	nodes[2].nc.Flush()
	waitUntil(t, "node 1's camera's tracks on node 3's server", func() bool { return len(got) >= 3 })
	if s := nodes[0].nc.ConnectedServerName(); s != "vigil-1" {
		t.Errorf("node 1 subscriber on server %q", s)
	}
	if s := nodes[2].nc.ConnectedServerName(); s != "vigil-3" {
		t.Errorf("node 3 subscriber on server %q", s)
	}
}
