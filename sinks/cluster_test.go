package sinks

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// startCluster runs n embedded servers that route to each other on
// loopback, each with JetStream and its own store, every one given the
// same route list (its own included, as every box's config would be).
func startCluster(t *testing.T, n int) []*Embedded {
	t.Helper()
	stores := make([]string, n)
	for i := range stores {
		stores[i] = t.TempDir()
	}
	return startClusterOn(t, stores, EmbeddedOptions{})
}

// startClusterOn runs one server per store, with o's StoreCheck and
// StoreMinFree.
func startClusterOn(t *testing.T, stores []string, o EmbeddedOptions) []*Embedded {
	t.Helper()
	n := len(stores)
	var routes []*url.URL
	var listens []string
	for range n {
		addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
		listens = append(listens, addr)
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: addr})
	}
	out := make([]*Embedded, n)
	for i := range n {
		e, err := StartEmbedded(EmbeddedOptions{
			Port: -1, StoreDir: stores[i], JetStream: true, Logger: testLogger(t),
			StoreCheck: o.StoreCheck, StoreMinFree: o.StoreMinFree,
			ServerName: fmt.Sprintf("vigil-%d", i+1),
			Cluster:    ClusterOptions{Name: "plant", Listen: listens[i], Routes: routes},
		})
		if err != nil {
			t.Fatalf("server %d: %v", i+1, err)
		}
		t.Cleanup(e.Shutdown)
		if e.ClusterAddr() != listens[i] {
			t.Errorf("server %d: cluster address %q, want %q", i+1, e.ClusterAddr(), listens[i])
		}
		out[i] = e
	}
	return out
}

// retry runs f until it succeeds; a cluster answers JetStream requests
// only once it has elected its meta leader, and after losing a server only
// once the streams have new leaders.
func retry(t *testing.T, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEmbeddedServersFormACluster: three embedded servers form one NATS
// with JetStream: a key-value bucket with three replicas takes a key once
// (Create on a taken key fails, as leases will need), a client of another
// server reads it, and with one server gone the bucket stays writable.
func TestEmbeddedServersFormACluster(t *testing.T) {
	srv := startCluster(t, 3)
	js1, err := jetstream.New(connect(t, srv[0].ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	var kv jetstream.KeyValue
	retry(t, "create a bucket with 3 replicas", func(ctx context.Context) error {
		var err error
		kv, err = js1.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "VIGIL_TEST", Replicas: 3, Storage: jetstream.FileStorage})
		return err
	})
	retry(t, "create a key", func(ctx context.Context) error {
		_, err := kv.Create(ctx, "cam-1", []byte("vigil-1"))
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil // an earlier try got through
		}
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := kv.Create(ctx, "cam-1", []byte("vigil-2")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Errorf("a second Create of a taken key: %v", err)
	}
	info, err := kv.Status(ctx)
	if err != nil || info.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas != 3 {
		t.Fatalf("bucket status %v, %v", info, err)
	}

	js3, err := jetstream.New(connect(t, srv[2].ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	kv3, err := js3.KeyValue(ctx, "VIGIL_TEST")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv3.Get(ctx, "cam-1"); err != nil || string(e.Value()) != "vigil-1" {
		t.Fatalf("read through server 3: %v %v", e, err)
	}

	srv[1].Shutdown()
	retry(t, "update with one server of three gone", func(ctx context.Context) error {
		e, err := kv.Get(ctx, "cam-1")
		if err != nil {
			return err
		}
		_, err = kv.Update(ctx, "cam-1", []byte("vigil-1 renewed"), e.Revision())
		return err
	})
}

func TestClusterListenInUse(t *testing.T) {
	busy := startNATS(t)
	_, err := StartEmbedded(EmbeddedOptions{Port: -1, Logger: testLogger(t), ServerName: "x",
		Cluster: ClusterOptions{Name: "plant", Listen: busy.ClientURL()[len("nats://"):]}})
	if err == nil || !strings.Contains(err.Error(), "cluster") || !strings.Contains(err.Error(), "address in use") {
		t.Errorf("cluster port in use: %v", err)
	}
}
