package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// countsWriter keeps each rule's latest CountsValue in the bucket. It is
// latest-wins: a state superseded before it was written is never written,
// and while NATS is away only the newest state per rule waits.
type countsWriter struct {
	js     jetstream.JetStream
	bucket string
	log    zerolog.Logger
	warn   limiter

	mu      sync.Mutex
	pending map[string]CountsValue
	wake    chan struct{}
	kv      jetstream.KeyValue
}

func newCountsWriter(js jetstream.JetStream, bucket string, log zerolog.Logger) *countsWriter {
	return &countsWriter{js: js, bucket: bucket, log: log, warn: limiter{every: warnEvery},
		pending: map[string]CountsValue{}, wake: make(chan struct{}, 1)}
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
		History: 1, Storage: jetstream.FileStorage,
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
			data, _ := json.Marshal(v)
			pctx, cancel := context.WithTimeout(ctx, DefaultPublishTimeout)
			_, err = kv.Put(pctx, key, data)
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
