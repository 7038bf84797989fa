package examples

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-vision/vigil/dataset"
)

// Folder is a Store in a folder: <Dir>/<camera>/<id>.jpg and, beside it,
// <id>.json with the boxes, reason and time. Put deletes the oldest
// examples past MaxAge or beyond MaxBytes.
type Folder struct {
	Dir      string
	MaxBytes int64            // 0: no bound
	MaxAge   time.Duration    // 0: kept
	Now      func() time.Time // MaxAge's clock; nil: time.Now

	mu sync.Mutex
}

var _ Store = (*Folder)(nil)

type folderEntry struct {
	jpg, js string
	m       meta
	size    int64
}

// Put writes e's JPEG, then its JSON (the JSON makes it an example: a
// crash between the two leaves a JPEG that Examples skips).
func (s *Folder) Put(ctx context.Context, e dataset.Example) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.prune(int64(len(e.JPEG))); err != nil {
		return err
	}
	dir := filepath.Join(s.Dir, e.Camera)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("examples folder: %w", err)
	}
	b, err := json.MarshalIndent(metaOf(e), "", "  ")
	if err != nil {
		return err
	}
	base := filepath.Join(dir, e.ID)
	if err := os.WriteFile(base+".jpg", e.JPEG, 0o644); err != nil {
		return fmt.Errorf("examples folder: %w", err)
	}
	if err := os.WriteFile(base+".json", b, 0o644); err != nil {
		return fmt.Errorf("examples folder: %w", err)
	}
	return nil
}

// entries reads every example's JSON in the folder.
func (s *Folder) entries() ([]folderEntry, error) {
	var out []folderEntry
	cams, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("examples folder: %w", err)
	}
	for _, c := range cams {
		if !c.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(s.Dir, c.Name()))
		if err != nil {
			return nil, fmt.Errorf("examples folder: %w", err)
		}
		for _, f := range files {
			if !strings.HasSuffix(f.Name(), ".json") {
				continue
			}
			js := filepath.Join(s.Dir, c.Name(), f.Name())
			jpg := strings.TrimSuffix(js, ".json") + ".jpg"
			b, err := os.ReadFile(js)
			if err != nil {
				return nil, fmt.Errorf("examples folder: %w", err)
			}
			var m meta
			if json.Unmarshal(b, &m) != nil || m.ID == "" {
				continue // not an example vigil wrote
			}
			st, err := os.Stat(jpg)
			if err != nil {
				continue
			}
			out = append(out, folderEntry{jpg: jpg, js: js, m: m, size: st.Size() + int64(len(b))})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].m.Time.Equal(out[j].m.Time) {
			return out[i].m.Time.Before(out[j].m.Time)
		}
		return out[i].m.ID < out[j].m.ID
	})
	return out, nil
}

// prune deletes expired examples, then the oldest while adding bytes
// would pass MaxBytes; s.mu held.
func (s *Folder) prune(adding int64) error {
	if s.MaxBytes <= 0 && s.MaxAge <= 0 {
		return nil
	}
	ents, err := s.entries()
	if err != nil {
		return err
	}
	var total int64
	for _, e := range ents {
		total += e.size
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	for _, e := range ents {
		expired := s.MaxAge > 0 && now.Sub(e.m.Time) > s.MaxAge
		full := s.MaxBytes > 0 && total+adding > s.MaxBytes
		if !expired && !full {
			break // oldest first: the rest are younger, and fit
		}
		for _, p := range []string{e.js, e.jpg} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("examples folder: %w", err)
			}
		}
		total -= e.size
	}
	return nil
}

// Examples yields the folder's examples, oldest first.
func (s *Folder) Examples(ctx context.Context, f dataset.Filter) iter.Seq2[dataset.Example, error] {
	return func(yield func(dataset.Example, error) bool) {
		s.mu.Lock()
		ents, err := s.entries()
		s.mu.Unlock()
		if err != nil {
			yield(dataset.Example{}, err)
			return
		}
		for _, e := range ents {
			if err := ctx.Err(); err != nil {
				yield(dataset.Example{}, err)
				return
			}
			if !keep(f, e.m) {
				continue
			}
			jpeg, err := os.ReadFile(e.jpg)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				yield(dataset.Example{}, fmt.Errorf("examples folder: %w", err))
				return
			}
			if !yield(e.m.example(jpeg), nil) {
				return
			}
		}
	}
}

// Labels are as NATS.Labels says, from the folder's JSON files.
func (s *Folder) Labels(ctx context.Context, f dataset.Filter) ([]string, error) {
	s.mu.Lock()
	ents, err := s.entries()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var ms []meta
	for _, e := range ents {
		if keep(f, e.m) {
			ms = append(ms, e.m)
		}
	}
	return labels(ms), nil
}
