package evidence

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vigil-vision/vigil/internal/durable"
)

// Item is one event's evidence: its Record and the bytes of its objects.
// An object whose bytes are nil is not in the item: a clip's item names
// the event's snapshot, stored with an earlier item.
type Item struct {
	Record    Record
	Snapshot  []byte
	Thumbnail []byte
	Clip      []byte
	Frame     []byte
}

func (it *Item) size() int64 {
	return int64(len(it.Snapshot) + len(it.Thumbnail) + len(it.Clip) + len(it.Frame) + 1024)
}

// Spool keeps evidence on disk until the bucket has it: a folder per
// event, "<sequence>-<event id>", holding record.json and the objects,
// each fsync'd, written under a temporary name and renamed into place, so
// that a crash leaves an event's evidence whole or absent. It is bounded
// by bytes: beyond MaxBytes the oldest events go, and Add says how many.
type Spool struct {
	dir      string
	maxBytes int64

	mu      sync.Mutex
	entries []spoolEntry // oldest first
	bytes   int64
	next    uint64
	notify  chan struct{}
}

type spoolEntry struct {
	name  string
	bytes int64
}

const (
	recordFile    = "record.json"
	snapshotFile  = "snapshot.jpg"
	thumbnailFile = "thumbnail.jpg"
	clipFile      = "clip.webm"
	frameFile     = "frame.jpg"
	tmpPrefix     = ".tmp-"
)

// OpenSpool opens (or creates) the spool in dir, taking back what an
// earlier run left, and removing what it left half written.
func OpenSpool(dir string, maxBytes int64) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("evidence spool %s: %w; give evidence.spool_dir a folder vigil can write", dir, err)
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, notify: make(chan struct{}, 1)}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("evidence spool %s: %w", dir, err)
	}
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			os.RemoveAll(filepath.Join(dir, name))
			continue
		}
		seq, ok := entrySeq(name)
		if !ok || !de.IsDir() {
			continue
		}
		size, err := dirSize(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("evidence spool %s: %w", dir, err)
		}
		s.entries = append(s.entries, spoolEntry{name: name, bytes: size})
		s.bytes += size
		s.next = max(s.next, seq+1)
	}
	sort.Slice(s.entries, func(i, j int) bool { return s.entries[i].name < s.entries[j].name })
	if len(s.entries) > 0 {
		s.signal()
	}
	return s, nil
}

// entrySeq parses the sequence of a folder name "<20 digits>-<id>".
func entrySeq(name string) (uint64, bool) {
	if len(name) < 22 || name[20] != '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(name[:20], 10, 64)
	return n, err == nil
}

func dirSize(dir string) (int64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, de := range des {
		in, err := de.Info()
		if err != nil {
			return 0, err
		}
		n += in.Size()
	}
	return n, nil
}

// Add writes it to disk; once it returns nil the evidence survives a crash.
// It returns how many older events it removed to stay within MaxBytes.
func (s *Spool) Add(it *Item) (dropped int, err error) {
	if err := checkID(it.Record.Event.ID); err != nil {
		return 0, err
	}
	rec, err := json.Marshal(it.Record)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	seq := s.next
	s.next++
	s.mu.Unlock()
	name := fmt.Sprintf("%020d-%s", seq, it.Record.Event.ID)
	tmp := filepath.Join(s.dir, tmpPrefix+name)
	if err := os.Mkdir(tmp, 0o750); err != nil {
		return 0, fmt.Errorf("evidence spool: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{{snapshotFile, it.Snapshot}, {thumbnailFile, it.Thumbnail}, {clipFile, it.Clip}, {frameFile, it.Frame}, {recordFile, rec}}
	var size int64
	for _, f := range files {
		if f.data == nil {
			continue
		}
		if err := durable.WriteNew(filepath.Join(tmp, f.name), f.data); err != nil {
			os.RemoveAll(tmp)
			return 0, fmt.Errorf("evidence spool: %w", err)
		}
		size += int64(len(f.data))
	}
	if err := durable.SyncDir(tmp); err != nil {
		os.RemoveAll(tmp)
		return 0, fmt.Errorf("evidence spool: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		os.RemoveAll(tmp)
		return 0, fmt.Errorf("evidence spool: %w", err)
	}
	if err := durable.SyncDir(s.dir); err != nil {
		return 0, fmt.Errorf("evidence spool: %w", err)
	}

	s.mu.Lock()
	s.entries = append(s.entries, spoolEntry{name: name, bytes: size})
	s.bytes += size
	var drop []string
	for s.bytes > s.maxBytes && len(s.entries) > 1 {
		drop = append(drop, s.entries[0].name)
		s.bytes -= s.entries[0].bytes
		s.entries = s.entries[1:]
	}
	s.mu.Unlock()
	for _, d := range drop {
		os.RemoveAll(filepath.Join(s.dir, d))
	}
	s.signal()
	return len(drop), nil
}

func (s *Spool) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Ready receives when an event was added.
func (s *Spool) Ready() <-chan struct{} { return s.notify }

// Head reads the oldest event back; ok is false when the spool is empty.
// An event whose files cannot be read is removed, and returned as err.
func (s *Spool) Head() (it *Item, name string, ok bool, err error) {
	s.mu.Lock()
	if len(s.entries) == 0 {
		s.mu.Unlock()
		return nil, "", false, nil
	}
	name = s.entries[0].name
	s.mu.Unlock()
	it, err = readItem(filepath.Join(s.dir, name))
	if err != nil {
		s.Remove(name)
		return nil, name, true, fmt.Errorf("evidence spool: %s is unreadable, dropped: %w", name, err)
	}
	return it, name, true, nil
}

func readItem(dir string) (*Item, error) {
	rec, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return nil, err
	}
	it := &Item{}
	if err := json.Unmarshal(rec, &it.Record); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		into *[]byte
	}{{snapshotFile, &it.Snapshot}, {thumbnailFile, &it.Thumbnail}, {clipFile, &it.Clip}, {frameFile, &it.Frame}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		*f.into = b
	}
	return it, nil
}

// Remove deletes an event's folder, once the bucket holds it; Len counts
// it until the folder is gone.
func (s *Spool) Remove(name string) {
	os.RemoveAll(filepath.Join(s.dir, name))
	s.mu.Lock()
	for i, e := range s.entries {
		if e.name == name {
			s.bytes -= e.bytes
			s.entries = append(s.entries[:i], s.entries[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
}

// Len is how many events wait, and Bytes their size.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Bytes is the size of what waits.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}
