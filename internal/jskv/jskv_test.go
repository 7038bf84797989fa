package jskv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/internal/natstest"
)

func TestOpenTakesAnExistingBucket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := natstest.JetStream(t)
	kv, cfg, err := Open(ctx, js, jetstream.KeyValueConfig{Bucket: "B", History: 5})
	if err != nil || cfg.Replicas != 1 {
		t.Fatalf("create: %v %+v", err, cfg)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Another opener with another history takes the bucket as it is.
	kv, cfg, err = Open(ctx, js, jetstream.KeyValueConfig{Bucket: "B", History: 1, TTL: time.Minute})
	if err != nil || cfg.History != 5 || cfg.TTL != 0 {
		t.Fatalf("reopen: %v %+v", err, cfg)
	}
	if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Errorf("the bucket's value: %v", err)
	}
	// More replicas than one server can keep: an error naming the bucket
	// (raising them in a cluster is node/cluster_test's).
	if _, _, err := Open(ctx, js, jetstream.KeyValueConfig{Bucket: "B", Replicas: 3}); err == nil || !strings.Contains(err.Error(), "bucket B") {
		t.Errorf("raising replicas on one server: %v", err)
	}
}
