package examples

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/dataset"
	"github.com/vigil-vision/vigil/internal/jskv"
)

// Store keeps examples; it is also the Source `vigil dataset export
// --from-store` reads.
type Store interface {
	Put(ctx context.Context, e dataset.Example) error
	dataset.Source
	// Labels names the classes of the examples f keeps, by class id.
	Labels(ctx context.Context, f dataset.Filter) ([]string, error)
}

// meta is what an example keeps beside its JPEG.
type meta struct {
	ID     string        `json:"id"`
	Camera string        `json:"camera"`
	Time   time.Time     `json:"time"`
	Width  int           `json:"width"`
	Height int           `json:"height"`
	Boxes  []dataset.Box `json:"boxes"`
	Reason string        `json:"reason"`
}

func metaOf(e dataset.Example) meta {
	return meta{ID: e.ID, Camera: e.Camera, Time: e.Time.UTC(), Width: e.Width, Height: e.Height, Boxes: e.Boxes, Reason: e.Reason}
}

func (m meta) example(jpeg []byte) dataset.Example {
	return dataset.Example{ID: m.ID, Camera: m.Camera, Time: m.Time, JPEG: jpeg, Width: m.Width, Height: m.Height, Boxes: m.Boxes, Reason: m.Reason}
}

// DefaultBucket is the object store bucket of a fleet's examples.
const DefaultBucket = "VIGIL_EXAMPLES"

// metaKey is the object metadata key that holds an example's meta as JSON.
const metaKey = "vigil-example"

// NATSOptions configure OpenNATS.
type NATSOptions struct {
	Bucket   string        // default VIGIL_EXAMPLES
	Replicas int           // copies of the bucket; an existing one is taken as it is (0: 1 when made here)
	MaxBytes int64         // oldest examples are deleted to stay under it; 0: no bound
	MaxAge   time.Duration // examples older than this expire; 0: kept
}

// NATS is a Store in a JetStream object store bucket: object
// "<camera>/<id>.jpg", its example's boxes, reason and time as JSON in
// the object's metadata, so that listing needs no JPEG. Every node of a
// fleet puts into the one bucket.
type NATS struct {
	obs    *jskv.Budgeted
	bucket string
}

var _ Store = (*NATS)(nil)

// OpenNATS creates the bucket, or takes it as it is (another node made it).
// MaxAge and MaxBytes bound the bucket's stream too when made here: the
// bytes with some room over MaxBytes, for Put deletes the oldest
// examples first and the stream refuses what would pass its bound.
func OpenNATS(ctx context.Context, js jetstream.JetStream, o NATSOptions) (*NATS, error) {
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	cfg := jetstream.ObjectStoreConfig{
		Bucket:      o.Bucket,
		Description: "vigil hard examples: object <camera>/<id>.jpg, its pre-labels and reason as JSON in metadata " + metaKey,
		Storage:     jetstream.FileStorage, Replicas: max(o.Replicas, 1), TTL: o.MaxAge,
	}
	obs, err := jskv.OpenBudgeted(ctx, js, cfg, o.MaxBytes, nil)
	if err != nil {
		return nil, fmt.Errorf("examples %w", err)
	}
	return &NATS{obs: obs, bucket: o.Bucket}, nil
}

func objectName(camera, id string) string { return camera + "/" + id + ".jpg" }

// Put stores e, first deleting the bucket's oldest examples while it
// would pass MaxBytes.
func (s *NATS) Put(ctx context.Context, e dataset.Example) error {
	b, err := json.Marshal(metaOf(e))
	if err != nil {
		return err
	}
	if _, err := s.obs.MakeRoom(ctx, int64(len(e.JPEG))); err != nil {
		return err
	}
	name := objectName(e.Camera, e.ID)
	_, err = s.obs.Put(ctx, jetstream.ObjectMeta{Name: name, Metadata: map[string]string{metaKey: string(b)}}, strings.NewReader(string(e.JPEG)))
	if err != nil {
		return fmt.Errorf("put example %s in bucket %s: %w", name, s.bucket, err)
	}
	return nil
}

func (s *NATS) list(ctx context.Context) ([]*jetstream.ObjectInfo, error) {
	infos, err := s.obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list bucket %s: %w", s.bucket, err)
	}
	return infos, nil
}

// Examples yields the bucket's examples, oldest first.
func (s *NATS) Examples(ctx context.Context, f dataset.Filter) iter.Seq2[dataset.Example, error] {
	return func(yield func(dataset.Example, error) bool) {
		infos, err := s.list(ctx)
		if err != nil {
			yield(dataset.Example{}, err)
			return
		}
		var ms []meta
		names := map[string]string{}
		for _, in := range infos {
			var m meta
			if err := json.Unmarshal([]byte(in.Metadata[metaKey]), &m); err != nil {
				continue // not an example vigil put
			}
			if keep(f, m) {
				ms = append(ms, m)
				names[m.ID] = in.Name
			}
		}
		sortMetas(ms)
		for _, m := range ms {
			jpeg, err := s.obs.GetBytes(ctx, names[m.ID])
			if errors.Is(err, jetstream.ErrObjectNotFound) {
				continue // pruned or expired meanwhile
			}
			if err != nil {
				yield(dataset.Example{}, fmt.Errorf("get example %s from bucket %s: %w", names[m.ID], s.bucket, err))
				return
			}
			if !yield(m.example(jpeg), nil) {
				return
			}
		}
	}
}

func keep(f dataset.Filter, m meta) bool {
	return (f.Camera == "" || f.Camera == m.Camera) && (f.Since.IsZero() || !m.Time.Before(f.Since))
}

func sortMetas(ms []meta) {
	sort.Slice(ms, func(i, j int) bool {
		if !ms[i].Time.Equal(ms[j].Time) {
			return ms[i].Time.Before(ms[j].Time)
		}
		return ms[i].ID < ms[j].ID
	})
}

// Labels are the class names the examples' boxes carry, by class id (an
// id no box names is named by its number): what a training set's classes
// are called. It reads the metadata only.
func (s *NATS) Labels(ctx context.Context, f dataset.Filter) ([]string, error) {
	infos, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	var ms []meta
	for _, in := range infos {
		var m meta
		if json.Unmarshal([]byte(in.Metadata[metaKey]), &m) == nil && keep(f, m) {
			ms = append(ms, m)
		}
	}
	return labels(ms), nil
}

func labels(ms []meta) []string {
	var names []string
	for _, m := range ms {
		for _, b := range m.Boxes {
			if b.Class < 0 || b.Class > 1<<16 {
				continue
			}
			for len(names) <= b.Class {
				names = append(names, "")
			}
			if names[b.Class] == "" && b.Label != "" {
				names[b.Class] = b.Label
			}
		}
	}
	for i, n := range names {
		if n == "" {
			names[i] = fmt.Sprint(i)
		}
	}
	return names
}
