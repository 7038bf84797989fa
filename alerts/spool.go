package alerts

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-vision/vigil/internal/durable"
)

// Spool limits' defaults.
const (
	DefaultSpoolMaxBytes = 64 << 20
	DefaultSpoolMaxAge   = 7 * 24 * time.Hour
)

const (
	segPrefix  = "spool-"
	segSuffix  = ".log"
	cursorFile = "acked"
	headerSize = 8 // u32 body length, u32 crc32c of the body
	maxRecord  = 1 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Entry is one spooled message.
type Entry struct {
	Seq      uint64 // spool order, from 1, never reused in a spool directory
	Subject  string
	MsgID    string
	Data     []byte
	Accepted time.Time
	size     int64
}

// SpoolOptions configure a Spool.
type SpoolOptions struct {
	Dir      string
	MaxBytes int64         // pending entries' bytes on disk; 0 = DefaultSpoolMaxBytes
	MaxAge   time.Duration // older pending entries are dropped; 0 = DefaultSpoolMaxAge
	// SegmentBytes: a segment file is closed and a new one started beyond
	// this size; 0 = MaxBytes/16 (at least 64 KiB).
	SegmentBytes int64
	Now          func() time.Time // default time.Now
	// OnDrop is told of entries dropped because the spool was full or they
	// were too old; it runs with the spool locked and must not call it.
	OnDrop func(n int, reason string)
}

// Spool is an append-only on-disk queue: Append writes and fsyncs an entry,
// Head and Ack consume it in order. Entries acknowledged (or dropped) are
// remembered in a cursor file, so reopening the directory after a crash
// yields exactly the entries not yet acknowledged.
type Spool struct {
	o SpoolOptions

	mu      sync.Mutex
	queue   []Entry // pending, in order
	bytes   int64   // pending bytes
	next    uint64  // seq of the next Append
	acked   uint64  // every seq ≤ acked is done
	segs    []segment
	cur     *os.File // the segment appended to (last of segs)
	cursor  *os.File
	notify  chan struct{}
	closed  bool
	dropped uint64
}

type segment struct {
	path  string
	first uint64 // seq of its first entry
	last  uint64 // seq of its last entry; first-1 while empty
	size  int64
}

// OpenSpool opens (or creates) the spool directory and loads what it holds
// beyond the cursor. A record torn by a crash mid-write ends its segment and
// is cut off.
func OpenSpool(o SpoolOptions) (*Spool, error) {
	if o.Dir == "" {
		return nil, errors.New("spool: no directory; set alerts.spool_dir or data_dir")
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultSpoolMaxBytes
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultSpoolMaxAge
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = max(o.MaxBytes/16, 64<<10)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("spool %s: %w", o.Dir, err)
	}
	s := &Spool{o: o, notify: make(chan struct{}, 1)}
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("spool %s: %w", o.Dir, err)
	}
	return s, nil
}

func (s *Spool) load() error {
	var err error
	s.cursor, err = os.OpenFile(filepath.Join(s.o.Dir, cursorFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	var buf [16]byte
	if n, _ := s.cursor.ReadAt(buf[:], 0); n == 16 && crc32.Checksum(buf[:8], crcTable) == binary.LittleEndian.Uint32(buf[8:12]) {
		s.acked = binary.LittleEndian.Uint64(buf[:8])
	}
	names, err := filepath.Glob(filepath.Join(s.o.Dir, segPrefix+"*"+segSuffix))
	if err != nil {
		return err
	}
	for _, name := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue // not ours
		}
		s.segs = append(s.segs, segment{path: name, first: first, last: first - 1})
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].first < s.segs[j].first })
	s.next = s.acked + 1
	for i := range s.segs {
		if err := s.readSegment(&s.segs[i], i == len(s.segs)-1); err != nil {
			return err
		}
		if s.segs[i].last >= s.next {
			s.next = s.segs[i].last + 1
		}
		if s.segs[i].first > s.next {
			s.next = s.segs[i].first
		}
	}
	s.removeDone()
	if len(s.segs) > 0 {
		last := &s.segs[len(s.segs)-1]
		if s.cur, err = os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// readSegment loads the segment's pending entries; a bad record ends it and,
// in the last segment, is truncated away so that appends follow good data.
func (s *Spool) readSegment(seg *segment, last bool) error {
	f, err := os.Open(seg.path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var off int64
	for {
		e, n, err := readRecord(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			if last {
				if terr := os.Truncate(seg.path, off); terr != nil {
					return terr
				}
			}
			break
		}
		off += n
		e.size = n
		seg.last = e.Seq
		if e.Seq > s.acked {
			s.queue = append(s.queue, e)
			s.bytes += n
		}
	}
	seg.size = off
	return nil
}

func readRecord(r io.Reader) (Entry, int64, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return Entry{}, 0, errors.New("torn header")
		}
		return Entry{}, 0, err
	}
	n := binary.LittleEndian.Uint32(h[:4])
	if n > maxRecord || n < 20 {
		return Entry{}, 0, errors.New("bad length")
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return Entry{}, 0, errors.New("torn body")
	}
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(h[4:]) {
		return Entry{}, 0, errors.New("bad checksum")
	}
	e := Entry{Seq: binary.LittleEndian.Uint64(body), Accepted: time.Unix(0, int64(binary.LittleEndian.Uint64(body[8:])))}
	rest := body[16:]
	sl := int(binary.LittleEndian.Uint16(rest))
	if 2+sl+2 > len(rest) {
		return Entry{}, 0, errors.New("bad subject")
	}
	e.Subject = string(rest[2 : 2+sl])
	rest = rest[2+sl:]
	il := int(binary.LittleEndian.Uint16(rest))
	if 2+il > len(rest) {
		return Entry{}, 0, errors.New("bad id")
	}
	e.MsgID = string(rest[2 : 2+il])
	e.Data = append([]byte(nil), rest[2+il:]...)
	return e, int64(headerSize + n), nil
}

func encodeRecord(e Entry) []byte {
	n := 16 + 2 + len(e.Subject) + 2 + len(e.MsgID) + len(e.Data)
	b := make([]byte, headerSize+n)
	body := b[headerSize:]
	binary.LittleEndian.PutUint64(body, e.Seq)
	binary.LittleEndian.PutUint64(body[8:], uint64(e.Accepted.UnixNano()))
	p := body[16:]
	binary.LittleEndian.PutUint16(p, uint16(len(e.Subject)))
	p = p[2+copy(p[2:], e.Subject):]
	binary.LittleEndian.PutUint16(p, uint16(len(e.MsgID)))
	copy(p[2+copy(p[2:], e.MsgID):], e.Data)
	binary.LittleEndian.PutUint32(b, uint32(n))
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(body, crcTable))
	return b
}

// Append's errors that no retry mends; any other is the disk's.
var (
	ErrSpoolClosed   = errors.New("spool closed")
	ErrEntryTooLarge = errors.New("spool: entry too large")
)

// Append writes an entry and syncs it to disk before it returns: an entry
// appended is not lost by a crash. When the spool would grow beyond its
// size, it drops the oldest pending entries first.
func (s *Spool) Append(subject, msgID string, data []byte) (uint64, error) {
	if len(subject) > 0xffff || len(msgID) > 0xffff {
		return 0, fmt.Errorf("%w: subject or id longer than 65535 bytes", ErrEntryTooLarge)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrSpoolClosed
	}
	e := Entry{Seq: s.next, Subject: subject, MsgID: msgID, Data: data, Accepted: s.o.Now()}
	rec := encodeRecord(e)
	e.size = int64(len(rec))
	if e.size > min(s.o.MaxBytes, maxRecord) {
		return 0, fmt.Errorf("%w: %d bytes, beyond the spool's %d bytes or a record's %d", ErrEntryTooLarge, e.size, s.o.MaxBytes, maxRecord)
	}
	s.expire()
	dropped := 0
	for len(s.queue) > 0 && s.bytes+e.size > s.o.MaxBytes {
		s.popLocked()
		dropped++
	}
	if dropped > 0 {
		s.dropped += uint64(dropped)
		if s.o.OnDrop != nil {
			s.o.OnDrop(dropped, "spool full")
		}
		if err := s.writeCursor(); err != nil {
			return 0, err
		}
	}
	if s.cur == nil || s.segs[len(s.segs)-1].size >= s.o.SegmentBytes {
		if err := s.rotate(); err != nil {
			return 0, err
		}
	}
	seg := &s.segs[len(s.segs)-1]
	if _, err := s.cur.Write(rec); err != nil {
		return 0, s.unwrite(seg, fmt.Errorf("spool: %w", err))
	}
	if err := s.cur.Sync(); err != nil {
		return 0, s.unwrite(seg, fmt.Errorf("spool: %w", err))
	}
	seg.size += e.size
	seg.last = e.Seq
	s.next++
	s.queue = append(s.queue, e)
	s.bytes += e.size
	s.removeDone()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return e.Seq, nil
}

// unwrite cuts a record that failed to write or sync (a full disk writes
// part of it) off the segment, so that the next append follows good data;
// the record's seq is used again. Should the cut fail too, the next append
// starts a new segment: a torn record only ends the segment it is in.
func (s *Spool) unwrite(seg *segment, err error) error {
	if terr := s.cur.Truncate(seg.size); terr != nil {
		s.cur.Close()
		s.cur = nil
		seg.size = s.o.SegmentBytes // never appended to again
	}
	return err
}

// rotate starts a new segment named after the next seq.
func (s *Spool) rotate() error {
	if s.cur != nil {
		s.cur.Close()
		s.cur = nil
	}
	path := filepath.Join(s.o.Dir, fmt.Sprintf("%s%020d%s", segPrefix, s.next, segSuffix))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := durable.SyncDir(s.o.Dir); err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	s.cur = f
	s.segs = append(s.segs, segment{path: path, first: s.next, last: s.next - 1})
	return nil
}

// popLocked drops the head; the caller persists the cursor.
func (s *Spool) popLocked() {
	e := s.queue[0]
	s.queue[0] = Entry{}
	s.queue = s.queue[1:]
	s.bytes -= e.size
	s.acked = e.Seq
}

// expire drops pending entries older than MaxAge; they count as dropped.
func (s *Spool) expire() {
	now := s.o.Now()
	n := 0
	for len(s.queue) > 0 && now.Sub(s.queue[0].Accepted) > s.o.MaxAge {
		s.popLocked()
		n++
	}
	if n > 0 {
		s.dropped += uint64(n)
		if s.o.OnDrop != nil {
			s.o.OnDrop(n, "older than the spool's max age")
		}
		s.writeCursor()
	}
}

// writeCursor records s.acked durably: 8 bytes and their checksum, written
// in place (a 16-byte write does not tear) and synced.
func (s *Spool) writeCursor() error {
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:8], s.acked)
	binary.LittleEndian.PutUint32(buf[8:12], crc32.Checksum(buf[:8], crcTable))
	if _, err := s.cursor.WriteAt(buf[:], 0); err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	if err := s.cursor.Sync(); err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	return nil
}

// removeDone deletes the segments, but the one appended to, whose entries
// are all done.
func (s *Spool) removeDone() {
	keep := s.segs[:0]
	for i, seg := range s.segs {
		if i < len(s.segs)-1 && seg.last <= s.acked {
			os.Remove(seg.path)
			continue
		}
		keep = append(keep, seg)
	}
	s.segs = keep
}

// Head returns the oldest pending entry, after dropping those too old.
func (s *Spool) Head() (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	if len(s.queue) == 0 {
		return Entry{}, false
	}
	return s.queue[0], true
}

// Ack marks the entry seq, and every one before it, done.
func (s *Spool) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.acked || s.closed {
		return nil // dropped meanwhile, or already done
	}
	for len(s.queue) > 0 && s.queue[0].Seq <= seq {
		s.popLocked()
	}
	s.acked = seq
	err := s.writeCursor()
	s.removeDone()
	return err
}

// Ready is signalled after an Append.
func (s *Spool) Ready() <-chan struct{} { return s.notify }

// Stats of a spool.
type SpoolStats struct {
	Pending int
	Bytes   int64
	Dropped uint64 // since open: full or too old
}

// Stats returns the pending count and bytes.
func (s *Spool) Stats() SpoolStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SpoolStats{Pending: len(s.queue), Bytes: s.bytes, Dropped: s.dropped}
}

// Close closes the files; pending entries stay on disk for the next open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.closeFiles()
	return nil
}

func (s *Spool) closeFiles() {
	if s.cur != nil {
		s.cur.Close()
	}
	if s.cursor != nil {
		s.cursor.Close()
	}
}
