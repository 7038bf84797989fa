package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/internal/jskv"
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

	// A bucket a tool made with one copy gets the three a fleet asks for.
	js, _ := jetstream.New(nodes[0].nc)
	var created jetstream.KeyValue
	waitUntil(t, "JetStream of the cluster taking a bucket", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		created, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "RAISED", History: 3})
		return err == nil
	})
	if _, err := created.Put(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, cfg, err := jskv.Open(ctx, js, jetstream.KeyValueConfig{Bucket: "RAISED", Replicas: 3})
	if err != nil || cfg.Replicas != 3 || cfg.History != 3 {
		t.Fatalf("raising replicas: %v %+v", err, cfg)
	}
	if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Errorf("the value after raising: %v", err)
	}
}
