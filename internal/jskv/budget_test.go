package jskv

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/internal/natstest"
)

// The oldest groups go first, whole, down to nine tenths of the budget;
// under the budget nothing goes.
func TestMakeRoomDeletesTheOldestGroupsWhole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := natstest.JetStream(t)
	byFolder := func(name string) string { return name[:strings.LastIndexByte(name, '/')] }
	b, err := OpenBudgeted(ctx, js, jetstream.ObjectStoreConfig{Bucket: "BUDGET"}, 200_000, byFolder)
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, n int) {
		t.Helper()
		if _, err := b.Put(ctx, jetstream.ObjectMeta{Name: name}, bytes.NewReader(make([]byte, n))); err != nil {
			t.Fatal(err)
		}
	}
	// Four groups of 40 KB, oldest first: 160 KB of a 200 KB budget.
	for _, g := range []string{"a", "b", "c", "d"} {
		put(g+"/1", 30_000)
		put(g+"/2", 10_000)
		time.Sleep(5 * time.Millisecond) // distinct modification times
	}
	if n, err := b.MakeRoom(ctx, 30_000); err != nil || n != 0 {
		t.Fatalf("190 KB of 200: deleted %d groups (%v), want none", n, err)
	}
	// 70 KB more would pass: down to 180 KB with it, so a and b go (with
	// a alone, 120 + 70 would be 190).
	n, err := b.MakeRoom(ctx, 70_000)
	if err != nil || n != 2 {
		t.Fatalf("deleted %d groups (%v), want 2", n, err)
	}
	for _, name := range []string{"a/1", "a/2", "b/1", "b/2"} {
		if _, err := b.GetInfo(ctx, name); !errors.Is(err, jetstream.ErrObjectNotFound) {
			t.Errorf("%s: %v, want it deleted", name, err)
		}
	}
	for _, name := range []string{"c/1", "c/2", "d/1", "d/2"} {
		if _, err := b.GetInfo(ctx, name); err != nil {
			t.Errorf("%s: %v, want it kept", name, err)
		}
	}
	// No budget: nothing is ever deleted.
	free, err := OpenBudgeted(ctx, js, jetstream.ObjectStoreConfig{Bucket: "FREE"}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := free.MakeRoom(ctx, 1<<40); err != nil || n != 0 {
		t.Errorf("no budget: deleted %d (%v)", n, err)
	}
}
