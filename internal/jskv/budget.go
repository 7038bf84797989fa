package jskv

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Budgeted is an object store kept within a byte budget by deleting its
// oldest objects first, a group at a time (an event's snapshot and clip go
// together). NATS has no "delete the oldest objects" of its own: a bucket's
// MaxBytes only refuses new writes once it is full. So the stream is
// bounded a quarter over the budget as a backstop, and MakeRoom, called
// before each put, deletes down to nine tenths of the budget when the
// bucket would pass it, so the listing that costs is paid once per tenth
// of the budget, not per put. Processes sharing the bucket each keep it.
//
// The budget counts the objects' bytes. The stream holds more: chunk
// headers, each object's metadata, and a marker per deleted object until
// the bucket's TTL expires it (a few hundred bytes each). MakeRoom learns
// that overhead from the stream's size at each listing, so it neither
// lists on every put once markers pile up nor prunes objects for them.
type Budgeted struct {
	jetstream.ObjectStore
	name     string
	maxBytes int64
	group    func(name string) string

	mu       sync.Mutex // one MakeRoom at a time in this process
	overhead int64      // the stream's bytes beyond the objects', at the last listing
}

// OpenBudgeted opens the object store cfg describes (OpenObjects) with a
// budget of maxBytes (0: none). group names the group an object is deleted
// with; nil: each object alone.
func OpenBudgeted(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig, maxBytes int64, group func(name string) string) (*Budgeted, error) {
	if maxBytes > 0 {
		cfg.MaxBytes = maxBytes + maxBytes/4 + 1<<20
	}
	obs, err := OpenObjects(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	if group == nil {
		group = func(name string) string { return name }
	}
	return &Budgeted{ObjectStore: obs, name: cfg.Bucket, maxBytes: maxBytes, group: group}, nil
}

// Name is the bucket's name.
func (b *Budgeted) Name() string { return b.name }

// MaxBytes is the budget; 0: none.
func (b *Budgeted) MaxBytes() int64 { return b.maxBytes }

// MakeRoom deletes the oldest groups (by their oldest object) while the
// bucket and adding bytes would pass the budget, down to nine tenths of
// it. It returns how many groups it deleted.
func (b *Budgeted) MakeRoom(ctx context.Context, adding int64) (int, error) {
	if b.maxBytes <= 0 {
		return 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("bucket %s: %w", b.name, err)
	}
	if int64(st.Size())-b.overhead+adding <= b.maxBytes {
		return 0, nil
	}
	infos, err := b.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list bucket %s: %w", b.name, err)
	}
	type group struct {
		objects []string
		size    int64
		at      time.Time
	}
	byName := map[string]*group{}
	var total int64
	for _, in := range infos {
		key := b.group(in.Name)
		g := byName[key]
		if g == nil {
			g = &group{at: in.ModTime}
			byName[key] = g
		}
		g.objects = append(g.objects, in.Name)
		g.size += int64(in.Size)
		if in.ModTime.Before(g.at) {
			g.at = in.ModTime
		}
		total += int64(in.Size)
	}
	groups := make([]*group, 0, len(byName))
	for _, g := range byName {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].at.Before(groups[j].at) })
	b.overhead = max(0, int64(st.Size())-total)
	target := b.maxBytes * 9 / 10
	n := 0
	for _, g := range groups {
		if total+adding <= target {
			break
		}
		for _, name := range g.objects {
			if err := b.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
				return n, fmt.Errorf("delete %s from bucket %s: %w", name, b.name, err)
			}
		}
		total -= g.size
		n++
	}
	return n, nil
}
