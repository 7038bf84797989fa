package main

import (
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vigil-vision/vigil/detect"
)

// The real-time scenes' references (every frame detected, lossless) take
// most of a run's time and do not change between runs: with -ref-cache
// their detections are kept in files named by what they depend on, the
// scene file's and the model's bytes and the format below, and read back
// when both are the same. The events are not kept: they are the
// detections tracked and ruled again (replay), so a change to the tracker
// or the rules needs no new reference. (Files written before held events
// too; gob skips them.)

// refCacheVersion names the cached format; change it with cachedRef.
const refCacheVersion = "motion-bench ref v1"

type cachedRef struct {
	Frames []cachedFrame
}

type cachedFrame struct {
	Skipped bool
	Gate    string
	Persons int
	Dets    []detect.Detection
	W, H    int
}

// refKey is the cache name of a scene's reference with a model.
func refKey(scene, model string) (string, error) {
	h := sha256.New()
	io.WriteString(h, refCacheVersion+"\x00")
	for _, p := range []string{scene, model} {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", p, err)
		}
		io.WriteString(h, "\x00")
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// loadRef reads a cached reference; false when there is none.
func loadRef(dir, key string) ([]frame, bool) {
	f, err := os.Open(filepath.Join(dir, key+".gob"))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var c cachedRef
	if err := gob.NewDecoder(f).Decode(&c); err != nil {
		progress("reference cache %s unreadable (%v): computing it again", f.Name(), err)
		return nil, false
	}
	frames := make([]frame, len(c.Frames))
	for i, cf := range c.Frames {
		frames[i] = frame{skipped: cf.Skipped, gate: cf.Gate, persons: cf.Persons, dets: cf.Dets, w: cf.W, h: cf.H}
	}
	return frames, true
}

// saveRef writes a reference to the cache, through a temporary file so
// that a run stopped halfway leaves nothing half written.
func saveRef(dir, key string, frames []frame) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var c cachedRef
	for _, f := range frames {
		c.Frames = append(c.Frames, cachedFrame{f.skipped, f.gate, f.persons, f.dets, f.w, f.h})
	}
	tmp, err := os.CreateTemp(dir, key+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := gob.NewEncoder(tmp).Encode(&c); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, key+".gob"))
}
