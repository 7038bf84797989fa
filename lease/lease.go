package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/internal/jskv"
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
	kv, have, err := jskv.Open(ctx, js, jetstream.KeyValueConfig{
		Bucket: o.Name, Description: "vigil leases: key = what is held, value = its holder",
		History: 1, TTL: o.TTL, LimitMarkerTTL: o.TTL, Storage: jetstream.FileStorage, Replicas: o.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("lease %w", err)
	}
	if have.TTL != o.TTL {
		return nil, fmt.Errorf("lease bucket %s exists with TTL %s, not %s; use the same TTL on every node, or delete the bucket", o.Name, have.TTL, o.TTL)
	}
	return &Bucket{kv: kv, ttl: o.TTL, now: o.Now}, nil
}

// OpenExisting takes a bucket as it is, with its TTL: for readers, such
// as a status command, that take no lease.
func OpenExisting(ctx context.Context, js jetstream.JetStream, name string) (*Bucket, error) {
	kv, err := js.KeyValue(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", name, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", name, err)
	}
	return &Bucket{kv: kv, ttl: st.TTL(), now: time.Now}, nil
}

// Snapshot reads every key held now, sorted by key.
func (b *Bucket) Snapshot(ctx context.Context) ([]Entry, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.Watch(ctx)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for e := range w {
		if e.Key == "" {
			sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
			return out, nil
		}
		out = append(out, e)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	return nil, errors.New("read leases: the watch ended early")
}

// TTL is how long a lease lasts unless renewed.
func (b *Bucket) TTL() time.Duration { return b.ttl }

// record is a lease's value. Epoch is 0 in the first write (the revision
// is known only once it is written) and the lease's epoch in renewals.
type record struct {
	Holder     string          `json:"holder"`
	AcquiredAt time.Time       `json:"acquired_at"`
	Epoch      uint64          `json:"epoch,omitempty"`
	Info       json.RawMessage `json:"info,omitempty"`
}

// Holder says who holds key now: "" when nobody does. A value that is not
// a lease record (written by something else) is reported as such.
func (b *Bucket) Holder(ctx context.Context, key string) (holder string, epoch uint64, err error) {
	kve, err := b.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	e := b.entry(kve)
	return e.Holder, e.Epoch, e.Err
}

func clip(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// Lease is one held key. Renew, SetInfo and Release are for one
// goroutine, the holder's; Valid and Epoch may be called from any.
type Lease struct {
	b       *Bucket
	key     string
	rec     record
	value   []byte
	epoch   uint64
	rev     uint64
	renewed atomic.Int64 // when the last successful write was sent, Unix ns; 0 after Release
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
	l := &Lease{b: b, key: key, rec: record{Holder: holder, AcquiredAt: sent.UTC(), Epoch: rev}, epoch: rev, rev: rev}
	l.value, _ = json.Marshal(l.rec)
	l.renewed.Store(sent.UnixNano())
	return l, nil
}

// SetInfo replaces what the lease tells others about its holder (JSON,
// e.g. a node's load); it is written with the next Renew.
func (l *Lease) SetInfo(info json.RawMessage) error {
	if !json.Valid(info) {
		return fmt.Errorf("lease %q: info is not JSON", l.key)
	}
	l.rec.Info = info
	value, err := json.Marshal(l.rec)
	if err != nil {
		return fmt.Errorf("lease %q: %w", l.key, err)
	}
	l.value = value
	return nil
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
	if conflict(err) {
		// A renewal whose answer was lost (a timeout while JetStream
		// elected a leader) may have been written: if the key still holds
		// this very lease, go on from its revision.
		kve, gerr := l.b.kv.Get(ctx, l.key)
		if gerr != nil || kve.Operation() != jetstream.KeyValuePut {
			return fmt.Errorf("lease %q: %w: the key changed since revision %d", l.key, ErrLost, l.rev)
		}
		if e := l.b.entry(kve); e.Holder != l.rec.Holder || e.Epoch != l.epoch {
			return fmt.Errorf("lease %q: %w: held by %s at epoch %d since", l.key, ErrLost, e.Holder, e.Epoch)
		}
		rev, err = l.b.kv.Update(ctx, l.key, l.value, kve.Revision())
		if conflict(err) {
			return fmt.Errorf("lease %q: %w: the key changed since revision %d", l.key, ErrLost, kve.Revision())
		}
	}
	if err != nil {
		return fmt.Errorf("lease %q: renew: %w", l.key, err)
	}
	l.rev = rev
	l.renewed.Store(sent.UnixNano())
	return nil
}

// Valid says whether the holder may still act at now: until the last
// successful write's send time plus the TTL, less margin. The key cannot
// have expired before then, so nobody else can hold it.
func (l *Lease) Valid(now time.Time, margin time.Duration) bool {
	sent := l.renewed.Load()
	return sent != 0 && now.UnixNano() < sent+int64(l.b.ttl-margin)
}

// Revoke makes the lease invalid here at once, without writing: the
// holder stops acting before it releases the key.
func (l *Lease) Revoke() { l.renewed.Store(0) }

// Release gives the key up at once, if it is still this holder's.
func (l *Lease) Release(ctx context.Context) error {
	if err := l.b.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev)); err != nil {
		if conflict(err) {
			return fmt.Errorf("lease %q: %w before its release", l.key, ErrLost)
		}
		return fmt.Errorf("lease %q: release: %w", l.key, err)
	}
	l.renewed.Store(0)
	return nil
}

// conflict says whether err is a compare-and-swap write that lost: the
// key changed since the revision it was made on. A single server and a
// replicated bucket report it with different codes.
func conflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Entry is a key of the bucket as a watcher sees it.
type Entry struct {
	Key    string
	Holder string // "" when the key was released or expired
	Epoch  uint64
	Info   json.RawMessage
	// Expired: the key went by the bucket's MaxAge (its holder stopped
	// renewing), not by a Release.
	Expired bool
	Err     error // the value is not a lease record
}

// Watch sends every key's state now, then an Entry with an empty Key
// once they are all sent, then every change until ctx ends, when the
// channel closes. A key released or expired comes
// with Holder "": the bucket's limit markers report an expiry at once.
func (b *Bucket) Watch(ctx context.Context) (<-chan Entry, error) {
	w, err := b.kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch leases: %w", err)
	}
	out := make(chan Entry, 64)
	go func() {
		defer close(out)
		defer w.Stop()
		for {
			var kve jetstream.KeyValueEntry
			var ok bool
			select {
			case <-ctx.Done():
				return
			case kve, ok = <-w.Updates():
				if !ok {
					return
				}
			}
			var e Entry
			if kve != nil {
				e = b.entry(kve)
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// entry reads a watched value.
func (b *Bucket) entry(kve jetstream.KeyValueEntry) Entry {
	e := Entry{Key: kve.Key()}
	if kve.Operation() != jetstream.KeyValuePut {
		e.Expired = kve.Operation() == jetstream.KeyValuePurge
		return e
	}
	var r record
	if err := json.Unmarshal(kve.Value(), &r); err != nil || r.Holder == "" {
		e.Err = fmt.Errorf("lease %q holds %d bytes that are not a lease record (%q…); it expires by itself within %s, or delete the key", e.Key, len(kve.Value()), clip(kve.Value(), 24), b.ttl)
		return e
	}
	e.Holder, e.Epoch, e.Info = r.Holder, r.Epoch, r.Info
	if e.Epoch == 0 {
		e.Epoch = kve.Revision() // the Create itself
	}
	return e
}
