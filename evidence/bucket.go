package evidence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/internal/jskv"
)

// BucketOptions configure OpenBucket.
type BucketOptions struct {
	Name     string        // default DefaultBucket
	Replicas int           // copies when made here; an existing bucket is taken as it is
	MaxBytes int64         // the oldest events' objects are deleted to stay under it; 0: no bound
	MaxAge   time.Duration // objects older than this expire; 0: kept
}

// Bucket is the JetStream object store that keeps evidence, shared by a
// fleet. Put keeps it under MaxBytes by deleting the oldest events'
// objects first; MaxAge is the bucket's own TTL.
type Bucket struct {
	obs      jetstream.ObjectStore
	name     string
	maxBytes int64
	mu       sync.Mutex // one prune at a time
}

// OpenBucket creates the bucket, or takes it as it is (another node made
// it), raising its replicas to o.Replicas. The bucket's stream is bounded a quarter over MaxBytes as a
// backstop: Put prunes before it gets there.
func OpenBucket(ctx context.Context, js jetstream.JetStream, o BucketOptions) (*Bucket, error) {
	if o.Name == "" {
		o.Name = DefaultBucket
	}
	cfg := jetstream.ObjectStoreConfig{
		Bucket:      o.Name,
		Description: "vigil event evidence: <camera>/<event id>/snapshot.jpg, thumbnail.jpg; the record as JSON in metadata " + MetaKey,
		Storage:     jetstream.FileStorage, Replicas: max(o.Replicas, 1), TTL: o.MaxAge,
	}
	if o.MaxBytes > 0 {
		cfg.MaxBytes = o.MaxBytes + o.MaxBytes/4 + 1<<20
	}
	obs, err := jskv.OpenObjects(ctx, js, cfg)
	if err != nil {
		return nil, fmt.Errorf("evidence %w", err)
	}
	return &Bucket{obs: obs, name: o.Name, maxBytes: o.MaxBytes}, nil
}

// Name is the bucket's name.
func (b *Bucket) Name() string { return b.name }

// Put stores an item's objects, each with the Record as metadata,
// after deleting the oldest events while the bucket would pass MaxBytes;
// it returns how many events it deleted. Putting the same event again
// replaces its objects.
func (b *Bucket) Put(ctx context.Context, it *Item) (pruned int, err error) {
	meta, err := json.Marshal(it.Record)
	if err != nil {
		return 0, err
	}
	if pruned, err = b.prune(ctx, it.size()); err != nil {
		return pruned, err
	}
	for _, o := range []struct {
		name string
		data []byte
	}{{it.Record.Snapshot, it.Snapshot}, {it.Record.Thumbnail, it.Thumbnail}, {it.Record.Clip, it.Clip}, {it.Record.Frame, it.Frame}} {
		if o.name == "" || o.data == nil {
			continue // none, or stored with an earlier item
		}
		_, err := b.obs.Put(ctx, jetstream.ObjectMeta{Name: o.name, Metadata: map[string]string{MetaKey: string(meta)}}, bytes.NewReader(o.data))
		if err != nil {
			return pruned, fmt.Errorf("put %s in bucket %s: %w", o.name, b.name, err)
		}
	}
	return pruned, nil
}

// Get returns an object's bytes; jetstream.ErrObjectNotFound when there is
// none by that name (never stored, pruned or expired).
func (b *Bucket) Get(ctx context.Context, name string) ([]byte, error) {
	return b.obs.GetBytes(ctx, name)
}

// prune deletes the oldest events' objects while the bucket and adding
// would pass MaxBytes, down to nine tenths of it, so that the listing
// this takes is paid once per tenth of the budget, not per Put.
func (b *Bucket) prune(ctx context.Context, adding int64) (int, error) {
	if b.maxBytes <= 0 {
		return 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.obs.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("bucket %s: %w", b.name, err)
	}
	if int64(st.Size())+adding <= b.maxBytes {
		return 0, nil
	}
	infos, err := b.obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list bucket %s: %w", b.name, err)
	}
	// Objects of one event go together: "<camera>/<id>/<kind>".
	type event struct {
		objects []string
		size    int64
		at      time.Time
	}
	byEvent := map[string]*event{}
	var total int64
	for _, in := range infos {
		key := in.Name
		if i := strings.LastIndexByte(key, '/'); i > 0 {
			key = key[:i]
		}
		e := byEvent[key]
		if e == nil {
			e = &event{at: in.ModTime}
			byEvent[key] = e
		}
		e.objects = append(e.objects, in.Name)
		e.size += int64(in.Size)
		if in.ModTime.Before(e.at) {
			e.at = in.ModTime
		}
		total += int64(in.Size)
	}
	events := make([]*event, 0, len(byEvent))
	for _, e := range byEvent {
		events = append(events, e)
	}
	sort.Slice(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
	// The stream's size counts chunk headers and metadata beside the
	// objects' bytes: scale the target to what the listing sees.
	target := b.maxBytes * 9 / 10
	if s := int64(st.Size()); s > total && total > 0 {
		target = target * total / s
	}
	n := 0
	for _, e := range events {
		if total+adding <= target {
			break
		}
		for _, name := range e.objects {
			if err := b.obs.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
				return n, fmt.Errorf("delete %s from bucket %s: %w", name, b.name, err)
			}
		}
		total -= e.size
		n++
	}
	return n, nil
}
