package modelstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// Dir is a Store in a local folder: <dir>/<name>/<version>.onnx and
// <dir>/<name>/entry.json (written atomically: temp file + rename). Each
// change holds an flock on <dir>/<name>/.lock, so that two processes (or
// goroutines) pushing to one folder never take the same version number.
type Dir struct {
	root string
	// Poll is how often Watch reads entry.json (default 1 s).
	Poll time.Duration
	now  func() time.Time
}

var _ Store = (*Dir)(nil)

// OpenDir makes the folder if it is missing.
func OpenDir(dir string) (*Dir, error) {
	if dir == "" {
		return nil, errors.New("model store: no folder given")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("model store %s: %w", dir, pathErr(err))
	}
	return &Dir{root: dir, Poll: time.Second, now: time.Now}, nil
}

func (d *Dir) entryPath(name string) string { return filepath.Join(d.root, name, "entry.json") }

func (d *Dir) filePath(name string, version int) string {
	return filepath.Join(d.root, name, strconv.Itoa(version)+".onnx")
}

// Push checks the file, then, holding the name's lock, moves the checked
// copy to <name>/<version>.onnx and records it.
func (d *Dir) Push(ctx context.Context, name, path string) (Version, error) {
	if err := CheckName(name); err != nil {
		return Version{}, fmt.Errorf("push: %w", err)
	}
	// The checked copy is made in the store's folder, so that it moves
	// into place with a rename.
	c, err := check(name, path, d.root)
	if err != nil {
		return Version{}, err
	}
	defer os.Remove(c.tmp) // after the rename, nothing
	if err := os.MkdirAll(filepath.Join(d.root, name), 0o755); err != nil {
		return Version{}, fmt.Errorf("push %q: %w", name, err)
	}
	v := c.v
	err = d.update(name, true, func(r *record) error {
		v.Version = r.take()
		v.PushedAt = d.now().UTC().Truncate(time.Millisecond)
		if err := os.Rename(c.tmp, d.filePath(name, v.Version)); err != nil {
			return fmt.Errorf("push %s: %w", v.Ref(), err)
		}
		r.add(v)
		return nil
	})
	if err != nil {
		return Version{}, err
	}
	return v, nil
}

// update applies fn to the name's record under its lock and writes it back.
func (d *Dir) update(name string, create bool, fn func(*record) error) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if !create {
		if _, err := os.Stat(d.entryPath(name)); errors.Is(err, os.ErrNotExist) {
			return notFound(name, "folder "+d.root)
		}
	}
	unlock, err := d.lock(name)
	if err != nil {
		return err
	}
	defer unlock()
	r, err := d.read(name)
	if errors.Is(err, ErrNotFound) && create {
		r, err = &record{Entry: Entry{Name: name}}, nil
	}
	if err != nil {
		return err
	}
	if err := fn(r); err != nil {
		return err
	}
	r.normalize()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := writeTemp(filepath.Join(d.root, name), ".entry-*.json", append(b, '\n'))
	if err != nil {
		return fmt.Errorf("model %q: %w", name, err)
	}
	if err := os.Rename(tmp, d.entryPath(name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("model %q: %w", name, err)
	}
	return nil
}

// lock takes the name's exclusive lock; flock locks are per open file, so
// it holds between goroutines of one process as between processes.
func (d *Dir) lock(name string) (func(), error) {
	p := filepath.Join(d.root, name, ".lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("model %q: lock: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("model %q: lock %s: %w", name, p, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func (d *Dir) read(name string) (*record, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	p := d.entryPath(name)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, notFound(name, "folder "+d.root)
	}
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	r := &record{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("model %q: %s is damaged: %w; restore it from a backup or push the model again under a new name", name, p, err)
	}
	r.Name = name
	r.normalize()
	return r, nil
}

// List is every name's entry, sorted by name.
func (d *Dir) List(ctx context.Context) ([]Entry, error) {
	des, err := os.ReadDir(d.root)
	if err != nil {
		return nil, fmt.Errorf("model store %s: %w", d.root, err)
	}
	out := []Entry{}
	for _, de := range des {
		if !de.IsDir() || CheckName(de.Name()) != nil {
			continue
		}
		r, err := d.read(de.Name())
		if errors.Is(err, ErrNotFound) {
			continue // a folder that holds no model
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r.Entry)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get is the name's entry.
func (d *Dir) Get(ctx context.Context, name string) (Entry, error) {
	r, err := d.read(name)
	if err != nil {
		return Entry{}, err
	}
	return r.Entry, nil
}

// Promote makes version the one that detectors following name run.
func (d *Dir) Promote(ctx context.Context, name string, version int) error {
	return d.update(name, false, func(r *record) error { return r.promote(version) })
}

// SetCandidate puts version on trial in shadow; 0 ends the trial.
func (d *Dir) SetCandidate(ctx context.Context, name string, version int) error {
	return d.update(name, false, func(r *record) error { return r.candidate(version) })
}

// Rollback promotes the version promoted before the current one.
func (d *Dir) Rollback(ctx context.Context, name string) (int, error) {
	var v int
	err := d.update(name, false, func(r *record) (err error) { v, err = r.rollback(); return err })
	return v, err
}

// Fetch copies the version (0: the promoted one) to dir/<sha256>.onnx.
func (d *Dir) Fetch(ctx context.Context, name string, version int, dir string) (string, Version, error) {
	e, err := d.Get(ctx, name)
	if err != nil {
		return "", Version{}, err
	}
	v, err := pick(e, version)
	if err != nil {
		return "", Version{}, err
	}
	p, err := fetchInto(ctx, v, dir, func(context.Context) (io.ReadCloser, error) {
		f, err := os.Open(d.filePath(v.Name, v.Version))
		if err != nil {
			return nil, fmt.Errorf("model %q@%d: the file is missing from %s: %w; push it again", v.Name, v.Version, d.root, pathErr(err))
		}
		return f, nil
	})
	return p, v, err
}

// Watch reads the name's entry.json every Poll and reports it when it
// changed, until ctx ends.
func (d *Dir) Watch(ctx context.Context, name string) (<-chan Entry, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	poll := d.Poll
	if poll <= 0 {
		poll = time.Second
	}
	ch := make(chan Entry, 1)
	go func() {
		defer close(ch)
		t := time.NewTicker(poll)
		defer t.Stop()
		var last *Entry
		for {
			r, err := d.read(name)
			if errors.Is(err, ErrNotFound) {
				r, err = &record{Entry: Entry{Name: name}}, nil
				r.normalize()
			}
			// A damaged or half-readable file is read again at the next tick.
			if err == nil && (last == nil || !reflect.DeepEqual(*last, r.Entry)) {
				e := r.Entry
				last = &e
				latest(ch, e)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return ch, nil
}
