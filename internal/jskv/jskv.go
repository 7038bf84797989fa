// Package jskv opens the JetStream key-value and object store buckets vigil shares between
// processes: the first one creates a bucket, the others take it as it is,
// and one that wants more copies than the bucket has raises them.
package jskv

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Open creates the bucket cfg describes, or takes the existing one. A
// bucket made with fewer replicas than cfg asks for (by a tool, or before
// the cluster grew) gets cfg's count; nothing else of it changes. It
// returns the bucket's configuration as it stands.
func Open(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, jetstream.KeyValueConfig, error) {
	cfg.Replicas = max(cfg.Replicas, 1)
	kv, err := js.CreateKeyValue(ctx, cfg)
	if err == nil {
		return kv, cfg, nil
	}
	if !errors.Is(err, jetstream.ErrBucketExists) {
		return nil, cfg, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	if kv, err = js.KeyValue(ctx, cfg.Bucket); err != nil {
		return nil, cfg, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, cfg, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return kv, cfg, nil
	}
	have := bs.Config()
	if have.Replicas >= cfg.Replicas {
		return kv, have, nil
	}
	want := have
	want.Replicas = cfg.Replicas
	if kv, err = js.UpdateKeyValue(ctx, want); err != nil {
		return nil, have, fmt.Errorf("bucket %s: raise its replicas from %d to %d: %w", cfg.Bucket, have.Replicas, cfg.Replicas, err)
	}
	return kv, want, nil
}

// OpenObjects is Open for an object store: the first one creates the
// bucket, the others take it as it is, and one that wants more copies
// than it has raises them (nothing else of it changes).
func OpenObjects(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	cfg.Replicas = max(cfg.Replicas, 1)
	obs, err := js.CreateObjectStore(ctx, cfg)
	if err == nil {
		return obs, nil
	}
	if !errors.Is(err, jetstream.ErrBucketExists) {
		return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	if obs, err = js.ObjectStore(ctx, cfg.Bucket); err != nil {
		return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	st, err := obs.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	bs, ok := st.(*jetstream.ObjectBucketStatus)
	if !ok || bs.Replicas() >= cfg.Replicas {
		return obs, nil
	}
	sc := bs.StreamInfo().Config
	have := sc.Replicas
	sc.Replicas = cfg.Replicas
	if _, err := js.UpdateStream(ctx, sc); err != nil {
		return nil, fmt.Errorf("bucket %s: raise its replicas from %d to %d: %w", cfg.Bucket, have, cfg.Replicas, err)
	}
	if obs, err = js.ObjectStore(ctx, cfg.Bucket); err != nil {
		return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	return obs, nil
}
