package evidence

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
// objects first (jskv.Budgeted); MaxAge is the bucket's own TTL.
type Bucket struct {
	b *jskv.Budgeted
}

// OpenBucket creates the bucket, or takes it as it is (another node made
// it), raising its replicas to o.Replicas.
func OpenBucket(ctx context.Context, js jetstream.JetStream, o BucketOptions) (*Bucket, error) {
	if o.Name == "" {
		o.Name = DefaultBucket
	}
	cfg := jetstream.ObjectStoreConfig{
		Bucket:      o.Name,
		Description: "vigil event evidence: <camera>/<event id>/snapshot.jpg, thumbnail.jpg, clip.webm; the record as JSON in metadata " + MetaKey,
		Storage:     jetstream.FileStorage, Replicas: max(o.Replicas, 1), TTL: o.MaxAge,
	}
	b, err := jskv.OpenBudgeted(ctx, js, cfg, o.MaxBytes, eventOf)
	if err != nil {
		return nil, fmt.Errorf("evidence %w", err)
	}
	return &Bucket{b: b}, nil
}

// eventOf is the event an object belongs to: "<camera>/<id>" of
// "<camera>/<id>/<kind>". An event's objects are pruned together.
func eventOf(name string) string {
	if i := strings.LastIndexByte(name, '/'); i > 0 {
		return name[:i]
	}
	return name
}

// Name is the bucket's name.
func (b *Bucket) Name() string { return b.b.Name() }

// Put stores an item's objects, each with the Record as metadata,
// after deleting the oldest events while the bucket would pass MaxBytes;
// it returns how many events it deleted. Putting the same event again
// replaces its objects.
func (b *Bucket) Put(ctx context.Context, it *Item) (pruned int, err error) {
	meta, err := json.Marshal(it.Record)
	if err != nil {
		return 0, err
	}
	if pruned, err = b.b.MakeRoom(ctx, it.size()); err != nil {
		return pruned, err
	}
	for _, o := range []struct {
		name string
		data []byte
	}{{it.Record.Snapshot, it.Snapshot}, {it.Record.Thumbnail, it.Thumbnail}, {it.Record.Clip, it.Clip}, {it.Record.Frame, it.Frame}} {
		if o.name == "" || o.data == nil {
			continue // none, or stored with an earlier item
		}
		_, err := b.b.Put(ctx, jetstream.ObjectMeta{Name: o.name, Metadata: map[string]string{MetaKey: string(meta)}}, bytes.NewReader(o.data))
		if err != nil {
			return pruned, fmt.Errorf("put %s in bucket %s: %w", o.name, b.Name(), err)
		}
	}
	return pruned, nil
}

// Get returns an object's bytes; jetstream.ErrObjectNotFound when there is
// none by that name (never stored, pruned or expired).
func (b *Bucket) Get(ctx context.Context, name string) ([]byte, error) {
	return b.b.GetBytes(ctx, name)
}
