package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

var (
	// ErrHeld is returned by Acquire for a key someone else holds.
	ErrHeld = errors.New("held")
	// ErrLost is returned by Renew once the lease is no longer this
	// holder's: it expired and was taken, or was released.
	ErrLost = errors.New("lease lost")
)

// Bucket is a key-value bucket of leases, all with one TTL.
type Bucket struct {
	kv  jetstream.KeyValue
	ttl time.Duration
	now func() time.Time
}

// Options configure a Bucket.
type Options struct {
	Name     string        // the bucket, e.g. VIGIL_LEASES
	TTL      time.Duration // how long a lease lasts unless renewed
	Replicas int           // copies in a cluster; 0 = 1
	// Now is the clock Valid and renewals are read on; nil = time.Now.
	Now func() time.Time
}

// Open creates the bucket, or takes it as it is when it exists with this
// TTL; a bucket with another TTL is an error that says so.
func Open(ctx context.Context, js jetstream.JetStream, o Options) (*Bucket, error) {
	if o.TTL <= 0 {
		return nil, fmt.Errorf("lease bucket %s: TTL %s; use a positive duration, e.g. 5s", o.Name, o.TTL)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: o.Name, Description: "vigil leases: key = what is held, value = its holder",
		History: 1, TTL: o.TTL, LimitMarkerTTL: o.TTL, Storage: jetstream.FileStorage, Replicas: max(o.Replicas, 1),
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		if kv, err = js.KeyValue(ctx, o.Name); err == nil {
			var st jetstream.KeyValueStatus
			if st, err = kv.Status(ctx); err == nil && st.TTL() != o.TTL {
				return nil, fmt.Errorf("lease bucket %s exists with TTL %s, not %s; use the same TTL on every node, or delete the bucket", o.Name, st.TTL(), o.TTL)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", o.Name, err)
	}
	return &Bucket{kv: kv, ttl: o.TTL, now: o.Now}, nil
}

// TTL is how long a lease lasts unless renewed.
func (b *Bucket) TTL() time.Duration { return b.ttl }

// record is a lease's value.
type record struct {
	Holder     string    `json:"holder"`
	AcquiredAt time.Time `json:"acquired_at"`
}

// Holder says who holds key now: "" when nobody does. A value that is not
// a lease record (written by something else) is reported as such.
func (b *Bucket) Holder(ctx context.Context, key string) (holder string, epoch uint64, err error) {
	e, err := b.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil || r.Holder == "" {
		return "", e.Revision(), fmt.Errorf("lease %q holds %d bytes that are not a lease record (%q…); it expires by itself within %s, or delete the key", key, len(e.Value()), clip(e.Value(), 24), b.ttl)
	}
	return r.Holder, e.Revision(), nil
}

func clip(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// Lease is one held key.
type Lease struct {
	b       *Bucket
	key     string
	holder  string
	value   []byte
	epoch   uint64
	rev     uint64
	renewed time.Time // when the last successful write was sent
}

// Acquire takes key for holder; ErrHeld (wrapped, naming the holder) when
// someone holds it.
func (b *Bucket) Acquire(ctx context.Context, key, holder string) (*Lease, error) {
	sent := b.now()
	value, err := json.Marshal(record{Holder: holder, AcquiredAt: sent.UTC()})
	if err != nil {
		return nil, err
	}
	rev, err := b.kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		who, _, herr := b.Holder(ctx, key)
		switch {
		case herr != nil:
			return nil, fmt.Errorf("lease %q: %w: %v", key, ErrHeld, herr)
		case who == "":
			return nil, fmt.Errorf("lease %q: %w: released just now; try again", key, ErrHeld)
		}
		return nil, fmt.Errorf("lease %q: %w by %s", key, ErrHeld, who)
	}
	if err != nil {
		return nil, fmt.Errorf("lease %q: %w", key, err)
	}
	return &Lease{b: b, key: key, holder: holder, value: value, epoch: rev, rev: rev, renewed: sent}, nil
}

// Key is what the lease holds.
func (l *Lease) Key() string { return l.key }

// Epoch is the revision at which the lease was taken; every new holder of
// the key gets a greater one.
func (l *Lease) Epoch() uint64 { return l.epoch }

// Renew writes the lease again, if it is still this holder's: ErrLost
// (wrapped) when someone else wrote the key since, or it was deleted or
// expired. Other errors (NATS away) leave the lease as it was: it may
// still be renewed while Valid.
func (l *Lease) Renew(ctx context.Context) error {
	sent := l.b.now()
	rev, err := l.b.kv.Update(ctx, l.key, l.value, l.rev)
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return fmt.Errorf("lease %q: %w: the key changed since revision %d", l.key, ErrLost, l.rev)
	}
	if err != nil {
		return fmt.Errorf("lease %q: renew: %w", l.key, err)
	}
	l.rev, l.renewed = rev, sent
	return nil
}

// Valid says whether the holder may still act at now: until the last
// successful write's send time plus the TTL, less margin. The key cannot
// have expired before then, so nobody else can hold it.
func (l *Lease) Valid(now time.Time, margin time.Duration) bool {
	return now.Before(l.renewed.Add(l.b.ttl - margin))
}

// Release gives the key up at once, if it is still this holder's.
func (l *Lease) Release(ctx context.Context) error {
	if err := l.b.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev)); err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			return fmt.Errorf("lease %q: %w before its release", l.key, ErrLost)
		}
		return fmt.Errorf("lease %q: release: %w", l.key, err)
	}
	l.renewed = time.Time{}
	return nil
}
