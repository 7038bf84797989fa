package node

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/dataset"
	"github.com/vigil-vision/vigil/examples"
)

// TestExamplesCaptured: a node with examples on takes a camera's frames
// (random: every one, within per_minute) into the NATS bucket with its
// boxes and reason, and none of a camera that turns them off until a
// reload turns them on.
func TestExamplesCaptured(t *testing.T) {
	cfg := header(t) + "cameras:\n" + lossless("on") + strings.TrimSuffix(lossless("off"), "}\n") + ", examples: {enabled: false}}\n" +
		"examples: {enabled: true, strategies: {close_to_threshold: {epsilon: 0}, random: {fraction: 1}}, limits: {per_minute: 3}}\n"
	tn := startNode(t, cfg)
	waitUntil(t, "an example stored", func() bool {
		return strings.Contains(tn.metrics(), `vigil_examples_taken_total{camera="on",reason="random"}`)
	})
	waitUntil(t, "frames of both cameras", func() bool { return tn.count("on") >= 30 && tn.count("off") >= 30 })

	js, err := jetstream.New(tn.nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := examples.OpenNATS(context.Background(), js, examples.NATSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for e, err := range store.Examples(context.Background(), dataset.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if e.Camera != "on" || !strings.HasPrefix(e.Reason, "random") || len(e.JPEG) == 0 || e.Width != 768 {
			t.Errorf("example %s: camera %s, reason %q, %d bytes, %dx%d", e.ID, e.Camera, e.Reason, len(e.JPEG), e.Width, e.Height)
		}
	}
	if n < 1 || n > 3 {
		t.Errorf("%d examples, want 1 to 3 (per_minute 3, near-identical frames skipped)", n)
	}
	if m := tn.metrics(); !strings.Contains(m, `vigil_examples_skipped_total{camera="on",why="limit"}`) {
		t.Errorf("no frame skipped for the limit:\n%s", grepLines(m, "vigil_examples"))
	}

	// A camera's own examples: applies while running.
	tn.write(strings.Replace(cfg, "examples: {enabled: false}", "examples: {enabled: true}", 1))
	if rep, err := tn.Reload("file"); err != nil || len(rep.RestartRequired) > 0 {
		t.Fatalf("reload: %+v, %v", rep, err)
	}
	waitUntil(t, "an example of the camera turned on", func() bool {
		return strings.Contains(tn.metrics(), `vigil_examples_taken_total{camera="off",reason="random"}`)
	})
}

// TestFleetExamplesInOneBucket: two nodes on one NATS (the second uses
// the first's server) put their cameras' examples in the one bucket a
// fleet shares, with IDs that never collide.
func TestFleetExamplesInOneBucket(t *testing.T) {
	ex := "examples: {enabled: true, strategies: {close_to_threshold: {epsilon: 0}, random: {fraction: 1}}, limits: {per_minute: 2}}\n"
	cam := func(id string) string {
		return "cameras:\n  - {id: " + id + ", url: testsrc, fps: 5, width: 160, height: 120}\n"
	}
	addr := freeAddr(t)
	withNATS := func(nats string) string {
		first, rest, _ := strings.Cut(header(t), "\n")
		_, rest, _ = strings.Cut(rest, "\n") // the nats: line
		return first + "\nnats: " + nats + "\n" + rest
	}
	a := startNode(t, withNATS(fmt.Sprintf("{listen: %q}", addr))+cam("line-a")+ex)
	b := startNode(t, withNATS(fmt.Sprintf("{url: \"nats://%s\"}", addr))+cam("line-b")+ex)
	if b.natsd != nil {
		t.Fatal("the second node runs a NATS server of its own")
	}
	js, err := jetstream.New(a.nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := examples.OpenNATS(context.Background(), js, examples.NATSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	ids := map[string]bool{}
	waitUntil(t, "examples of both nodes' cameras", func() bool {
		clear(per)
		clear(ids)
		for e, err := range store.Examples(context.Background(), dataset.Filter{}) {
			if err != nil {
				t.Fatal(err)
			}
			per[e.Camera]++
			ids[e.ID] = true
		}
		return per["line-a"] >= 2 && per["line-b"] >= 2
	})
	if len(ids) != per["line-a"]+per["line-b"] {
		t.Errorf("ids %v for %v examples", ids, per)
	}
}
