package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// countsWriter keeps each rule's latest CountsValue in the bucket. It is
// latest-wins: a state superseded before it was written is never written,
// and while NATS is away only the newest state per rule waits. A value
// with a lease epoch never replaces one of a greater epoch (see write).
type countsWriter struct {
	replicas int // copies in a cluster; 0 = 1
	js       jetstream.JetStream
	bucket   string
	log      zerolog.Logger
	warn     limiter
	fenced   prometheus.Counter // nil: not counted

	mu      sync.Mutex
	pending map[string]CountsValue
	wake    chan struct{}

	// Only flush uses these, and flushes do not overlap: run's, then
	// Close's once run has ended.
	kv   jetstream.KeyValue
	revs map[string]uint64 // key: the revision this writer last wrote
}

func newCountsWriter(js jetstream.JetStream, bucket string, log zerolog.Logger, fenced prometheus.Counter) *countsWriter {
	return &countsWriter{js: js, bucket: bucket, log: log, warn: limiter{every: warnEvery}, fenced: fenced,
		pending: map[string]CountsValue{}, wake: make(chan struct{}, 1), revs: map[string]uint64{}}
}

func (c *countsWriter) set(v CountsValue) {
	c.mu.Lock()
	c.pending[CountsKey(v.Camera, v.Rule)] = v
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *countsWriter) bucketKV(ctx context.Context) (jetstream.KeyValue, error) {
	if c.kv != nil {
		return c.kv, nil
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultPublishTimeout)
	defer cancel()
	kv, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: c.bucket, Description: "vigil rule counts and occupancy (" + CountsSchema + "), key <camera>.<rule>",
		History: 1, Storage: jetstream.FileStorage, Replicas: max(c.replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("create or update key-value bucket %s: %w", c.bucket, err)
	}
	c.kv = kv
	return kv, nil
}

func (c *countsWriter) run(ctx context.Context) {
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-time.After(max(wait, time.Millisecond)):
			if wait == 0 {
				// nothing to retry: sleep until woken
				select {
				case <-ctx.Done():
					return
				case <-c.wake:
				}
			}
		}
		if err := c.flush(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if n, ok := c.warn.allow(); ok {
				c.log.Warn().Err(err).Uint64("failures", n).Msg("alerts: counts not written to the key-value bucket; retrying")
			}
			wait = min(max(2*wait, DefaultRetryMin), DefaultRetryMax)
			continue
		}
		wait = 0
	}
}

// flush writes what is pending; a value that fails goes back unless a newer
// one arrived meanwhile.
func (c *countsWriter) flush(ctx context.Context) error {
	c.mu.Lock()
	batch := c.pending
	c.pending = map[string]CountsValue{}
	c.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	kv, err := c.bucketKV(ctx)
	var failed error
	for key, v := range batch {
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, DefaultPublishTimeout)
			err = c.write(pctx, kv, key, v)
			cancel()
			if err == nil {
				continue
			}
			c.kv = nil // re-create it: the server may have restarted without it
		}
		failed = err
		c.mu.Lock()
		if _, newer := c.pending[key]; !newer {
			c.pending[key] = v
		}
		c.mu.Unlock()
	}
	return failed
}

// casTries bounds the compare-and-swap rounds of one write; each lost round
// means another writer wrote the key meanwhile.
const casTries = 3

// write stores v under key. A value of epoch 0 (no fleet) is simply Put.
// One with an epoch is written by compare-and-swap, so that an old owner's
// late value never replaces a newer owner's: when the key holds a value of
// a greater epoch, v is dropped.
func (c *countsWriter) write(ctx context.Context, kv jetstream.KeyValue, key string, v CountsValue) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("counts key %s: %w", key, err)
	}
	if v.LeaseEpoch == 0 {
		rev, err := kv.Put(ctx, key, data)
		if err == nil {
			c.revs[key] = rev
		}
		return err
	}
	rev, known := c.revs[key]
	for range casTries {
		if known {
			r, err := kv.Update(ctx, key, data, rev)
			if err == nil {
				c.revs[key] = r
				return nil
			}
			if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				return err
			}
		}
		// Someone else wrote the key since our last write, or we never
		// did: what is there decides.
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			r, err := kv.Create(ctx, key, data)
			if err == nil {
				c.revs[key] = r
				return nil
			}
			if !errors.Is(err, jetstream.ErrKeyExists) {
				return err
			}
			known = false // created meanwhile: read it
			continue
		}
		if err != nil {
			return err
		}
		if stored := storedEpoch(e.Value()); stored > v.LeaseEpoch {
			delete(c.revs, key)
			c.log.Debug().Str("key", key).Uint64("lease_epoch", v.LeaseEpoch).Uint64("stored_epoch", stored).
				Msg("alerts: counts not written: the bucket holds a newer owner's")
			if c.fenced != nil {
				c.fenced.Inc()
			}
			return nil
		}
		rev, known = e.Revision(), true
	}
	return fmt.Errorf("counts key %s: another writer wrote it during each of %d compare-and-swap tries", key, casTries)
}

// storedEpoch is the lease epoch of a stored value; 0 for a value without
// one, or one this package cannot read (ours replaces it).
func storedEpoch(data []byte) uint64 {
	var v struct {
		LeaseEpoch uint64 `json:"lease_epoch"`
	}
	if json.Unmarshal(data, &v) != nil {
		return 0
	}
	return v.LeaseEpoch
}

// load reads a rule's stored value; found is false when there is none.
func (c *countsWriter) load(ctx context.Context, camera, rule string) (v CountsValue, found bool, err error) {
	kv, err := c.js.KeyValue(ctx, c.bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	e, err := kv.Get(ctx, CountsKey(camera, rule))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	if err := json.Unmarshal(e.Value(), &v); err != nil || v.Schema != CountsSchema {
		return v, false, fmt.Errorf("key %s holds no %s value", CountsKey(camera, rule), CountsSchema)
	}
	return v, true, nil
}
