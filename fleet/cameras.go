package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"

	"github.com/goccy/go-yaml"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/internal/jskv"
)

// DefaultCamerasBucket is the bucket of the fleet's cameras.
const DefaultCamerasBucket = "VIGIL_CAMERAS"

// Cameras is the fleet's desired cameras.
type Cameras struct {
	kv     jetstream.KeyValue
	bucket string
}

// OpenCameras creates the bucket, or takes it as it is, raising its
// replicas to replicas (0: as it is, 1 when made here).
func OpenCameras(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*Cameras, error) {
	if bucket == "" {
		bucket = DefaultCamerasBucket
	}
	kv, _, err := jskv.Open(ctx, js, jetstream.KeyValueConfig{
		Bucket: bucket, Description: "vigil fleet cameras: key = camera id, value = its block as under cameras:",
		History: 5, Storage: jetstream.FileStorage, Replicas: replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("cameras %w", err)
	}
	return &Cameras{kv: kv, bucket: bucket}, nil
}

// Put stores cameras, all or none: each is checked as under cameras: of
// a config file (cfg gives the rest of the config: detectors, defaults),
// and a URL with a password is refused, before anything is written.
func (c *Cameras) Put(ctx context.Context, cfg *config.Config, cams []config.Camera) error {
	var errs []error
	next := cfg
	values := make([][]byte, len(cams))
	for i, cam := range cams {
		if u, err := url.Parse(cam.URL); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				errs = append(errs, fmt.Errorf("cameras[%d].url: holds a password; the fleet's bucket is readable by every node: name only the user in the URL and give the password in password_file, a file each node has", i))
				continue
			}
		}
		var err error
		if next, err = next.WithCamera(cam); err != nil {
			errs = append(errs, err)
			continue
		}
		if values[i], err = encodeCamera(cam); err != nil {
			errs = append(errs, fmt.Errorf("cameras[%d]: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nothing stored:\n%w", err)
	}
	for i, cam := range cams {
		if _, err := c.kv.Put(ctx, cam.ID, values[i]); err != nil {
			return fmt.Errorf("store camera %q in %s: %w (cameras before it are stored)", cam.ID, c.bucket, err)
		}
	}
	return nil
}

// encodeCamera is a camera's value in the bucket, which entry reads back:
// its block in YAML's JSON form. goccy/go-yaml writes a string holding a
// tab or another control character as plain YAML that reads back without
// it ("test\tsrc" as "testsrc"); JSON's escapes come back whole.
func encodeCamera(cam config.Camera) ([]byte, error) {
	return yaml.MarshalWithOptions(cam, yaml.JSON())
}

// Entry is one camera of the bucket as read back.
type Entry struct {
	ID       string
	Camera   config.Camera
	Revision uint64
	Err      error // the value does not parse as a camera: it is not run
}

// List reads every camera, sorted by id.
func (c *Cameras) List(ctx context.Context) ([]Entry, error) {
	keys, err := c.kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", c.bucket, err)
	}
	sort.Strings(keys)
	out := make([]Entry, 0, len(keys))
	for _, k := range keys {
		e, err := c.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted meanwhile
		}
		if err != nil && e.ID == "" {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Get reads one camera; a value that does not parse comes back in
// Entry.Err, naming the bucket and key.
func (c *Cameras) Get(ctx context.Context, id string) (Entry, error) {
	kve, err := c.kv.Get(ctx, id)
	if err != nil {
		return Entry{}, err
	}
	return c.entry(kve), nil
}

// entry reads a stored value: the camera, or in Err why it does not parse.
func (c *Cameras) entry(kve jetstream.KeyValueEntry) Entry {
	e := Entry{ID: kve.Key(), Revision: kve.Revision()}
	e.Camera, e.Err = config.ParseCameraAs(kve.Value(), fmt.Sprintf("bucket %s key %s", c.bucket, e.ID), e.ID)
	return e
}

// Delete removes a camera; an unknown id is an error that says so.
func (c *Cameras) Delete(ctx context.Context, id string) error {
	if _, err := c.kv.Get(ctx, id); errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("no camera %q in %s", id, c.bucket)
	}
	if err := c.kv.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete camera %q from %s: %w", id, c.bucket, err)
	}
	return nil
}
