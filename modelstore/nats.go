package modelstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/internal/jskv"
)

// The buckets NATS uses unless Options name others.
const (
	DefaultBucket     = "VIGIL_MODELS"
	DefaultTagsBucket = "VIGIL_MODEL_TAGS"
)

// Options configure OpenNATS.
type Options struct {
	Bucket     string // object store of the files (default VIGIL_MODELS)
	TagsBucket string // KV bucket of the names' entries (default VIGIL_MODEL_TAGS)
	Replicas   int    // copies of both buckets; an existing bucket with fewer is raised (0: as it is, 1 when made here)
	MaxBytes   int64  // size limit of the object store when made here (0: none)
	// TempDir is where Push keeps the checked copy of a file while it
	// uploads it (default: os.TempDir()).
	TempDir string
}

// NATS is a Store in a JetStream object store bucket (objects
// "<name>/<version>.onnx") plus a KV bucket (key <name> → the Entry's
// promoted/history/versions as JSON, updated by compare-and-swap so two
// pushers never take the same version number).
type NATS struct {
	obs          jetstream.ObjectStore
	kv           jetstream.KeyValue
	bucket, tags string
	tmp          string
	now          func() time.Time
}

var _ Store = (*NATS)(nil)

// OpenNATS creates the two buckets, or takes them as they are, raising
// their replicas to o.Replicas.
func OpenNATS(ctx context.Context, js jetstream.JetStream, o Options) (*NATS, error) {
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.TagsBucket == "" {
		o.TagsBucket = DefaultTagsBucket
	}
	obs, err := jskv.OpenObjects(ctx, js, jetstream.ObjectStoreConfig{
		Bucket: o.Bucket, Description: "vigil models: object <name>/<version>.onnx, the file pushed as that version",
		Storage: jetstream.FileStorage, Replicas: o.Replicas, MaxBytes: o.MaxBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("models %w", err)
	}
	kv, _, err := jskv.Open(ctx, js, jetstream.KeyValueConfig{
		Bucket: o.TagsBucket, Description: "vigil models: key = model name, value = its versions, promoted version and promotion history (JSON)",
		History: 10, Storage: jetstream.FileStorage, Replicas: o.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("models %w", err)
	}
	return &NATS{obs: obs, kv: kv, bucket: o.Bucket, tags: o.TagsBucket, tmp: o.TempDir, now: time.Now}, nil
}

func objectName(name string, version int) string { return fmt.Sprintf("%s/%d.onnx", name, version) }

// Push checks the file, takes the name's next version number, uploads the
// file, then records the version (promoting it if it is the name's first).
// A push that fails after taking its number leaves that number unused.
func (s *NATS) Push(ctx context.Context, name, path string) (Version, error) {
	if err := CheckName(name); err != nil {
		return Version{}, fmt.Errorf("push: %w", err)
	}
	c, err := check(name, path, s.tmp)
	if err != nil {
		return Version{}, err
	}
	defer os.Remove(c.tmp)
	v := c.v
	if _, err := s.update(ctx, name, true, func(r *record) error { v.Version = r.take(); return nil }); err != nil {
		return Version{}, fmt.Errorf("push %q: take a version number: %w", name, err)
	}
	v.PushedAt = s.now().UTC().Truncate(time.Millisecond)
	f, err := os.Open(c.tmp)
	if err != nil {
		return Version{}, fmt.Errorf("push %q: %w", name, err)
	}
	defer f.Close()
	_, err = s.obs.Put(ctx, jetstream.ObjectMeta{
		Name: objectName(name, v.Version), Description: "vigil model " + v.Ref() + " from " + v.Source,
		Metadata: map[string]string{"sha256": v.SHA256, "source": v.Source},
	}, f)
	if err != nil {
		return Version{}, fmt.Errorf("push %s: store the file in bucket %s: %w (version %d stays unused)", v.Ref(), s.bucket, err, v.Version)
	}
	if _, err := s.update(ctx, name, true, func(r *record) error { r.add(v); return nil }); err != nil {
		return Version{}, fmt.Errorf("push %s: record it in bucket %s: %w", v.Ref(), s.tags, err)
	}
	return v, nil
}

// update applies fn to the name's record and stores it if its revision is
// still the one read, else reads it again and retries: two writers never
// overwrite each other. create lets it make a record for a new name;
// otherwise an unknown name is ErrNotFound.
func (s *NATS) update(ctx context.Context, name string, create bool, fn func(*record) error) (*record, error) {
	for {
		r, rev, err := s.read(ctx, name)
		if errors.Is(err, ErrNotFound) && create {
			r, err = &record{Entry: Entry{Name: name}}, nil
		}
		if err != nil {
			return nil, err
		}
		if err := fn(r); err != nil {
			return nil, err
		}
		r.normalize()
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, name, b)
		} else {
			_, err = s.kv.Update(ctx, name, b, rev)
		}
		switch {
		case err == nil:
			return r, nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			continue // another writer was first: read its record and apply fn again
		}
		return nil, fmt.Errorf("write key %s: %w", name, err)
	}
}

// read is the name's record and its revision.
func (s *NATS) read(ctx context.Context, name string) (*record, uint64, error) {
	if err := CheckName(name); err != nil {
		return nil, 0, err
	}
	e, err := s.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, notFound(name, "bucket "+s.tags)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("model %q: read bucket %s: %w", name, s.tags, err)
	}
	r, err := s.decode(e)
	return r, e.Revision(), err
}

func (s *NATS) decode(e jetstream.KeyValueEntry) (*record, error) {
	r := &record{}
	if err := json.Unmarshal(e.Value(), r); err != nil {
		return nil, fmt.Errorf("model %q: bucket %s holds a damaged entry (revision %d): %w; push the model again under a new name, or put back an older revision", e.Key(), s.tags, e.Revision(), err)
	}
	r.Name = e.Key()
	r.normalize()
	return r, nil
}

// List is every name's entry, sorted by name.
func (s *NATS) List(ctx context.Context) ([]Entry, error) {
	keys, err := s.kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return []Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list bucket %s: %w", s.tags, err)
	}
	sort.Strings(keys)
	out := make([]Entry, 0, len(keys))
	for _, k := range keys {
		e, err := s.Get(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Get is the name's entry.
func (s *NATS) Get(ctx context.Context, name string) (Entry, error) {
	r, _, err := s.read(ctx, name)
	if err != nil {
		return Entry{}, err
	}
	return r.Entry, nil
}

// Promote makes version the one that detectors following name run.
func (s *NATS) Promote(ctx context.Context, name string, version int) error {
	_, err := s.update(ctx, name, false, func(r *record) error { return r.promote(version) })
	return err
}

// SetCandidate puts version on trial in shadow; 0 ends the trial.
func (s *NATS) SetCandidate(ctx context.Context, name string, version int) error {
	_, err := s.update(ctx, name, false, func(r *record) error { return r.candidate(version) })
	return err
}

// Rollback promotes the version promoted before the current one.
func (s *NATS) Rollback(ctx context.Context, name string) (int, error) {
	var v int
	_, err := s.update(ctx, name, false, func(r *record) (err error) { v, err = r.rollback(); return err })
	return v, err
}

// Fetch copies the version (0: the promoted one) to dir/<sha256>.onnx.
func (s *NATS) Fetch(ctx context.Context, name string, version int, dir string) (string, Version, error) {
	e, err := s.Get(ctx, name)
	if err != nil {
		return "", Version{}, err
	}
	v, err := pick(e, version)
	if err != nil {
		return "", Version{}, err
	}
	p, err := fetchInto(ctx, v, dir, func(ctx context.Context) (io.ReadCloser, error) {
		obj := objectName(v.Name, v.Version)
		r, err := s.obs.Get(ctx, obj)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil, fmt.Errorf("model %q@%d: the file is missing from bucket %s (object %s); push it again", v.Name, v.Version, s.bucket, obj)
		}
		if err != nil {
			return nil, fmt.Errorf("model %q@%d: read bucket %s: %w", v.Name, v.Version, s.bucket, err)
		}
		return r, nil
	})
	if errors.Is(err, jetstream.ErrDigestMismatch) {
		err = refuse(CheckSHA256, "model %q@%d: the copy in bucket %s is damaged (%v); push it again", v.Name, v.Version, s.bucket, err)
	}
	return p, v, err
}

// Watch follows the name's key: its entry now (one with no versions if
// the name is not pushed yet) and after every change, until ctx ends.
func (s *NATS) Watch(ctx context.Context, name string) (<-chan Entry, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	w, err := s.kv.Watch(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("model %q: watch bucket %s: %w", name, s.tags, err)
	}
	ch := make(chan Entry, 1)
	go func() {
		defer close(ch)
		defer w.Stop()
		var last *Entry
		send := func(e Entry) {
			if last != nil && reflect.DeepEqual(*last, e) {
				return // a push taking its number changes nothing a reader sees
			}
			last = &e
			latest(ch, e)
		}
		empty := record{Entry: Entry{Name: name}}
		empty.normalize()
		for {
			select {
			case <-ctx.Done():
				return
			case kve, ok := <-w.Updates():
				if !ok {
					return
				}
				switch {
				case kve == nil: // the initial values are in: none means not pushed yet
					if last == nil {
						send(empty.Entry)
					}
				case kve.Operation() != jetstream.KeyValuePut:
					send(empty.Entry)
				default:
					if r, err := s.decode(kve); err == nil {
						send(r.Entry)
					}
				}
			}
		}
	}()
	return ch, nil
}
