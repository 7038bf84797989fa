package alerts

import (
	"errors"
	"syscall"
	"time"
)

// Bounds of the events held in memory while the spool cannot be written.
const (
	DefaultOverflowMaxEvents = 10000
	DefaultOverflowMaxBytes  = 16 << 20
	DefaultOverflowRetry     = time.Second
)

// OverflowOptions bound what the publisher holds in memory while its spool
// cannot be written (a full disk): beyond either bound it drops the oldest
// held event and counts it.
type OverflowOptions struct {
	MaxEvents int           // 0 = DefaultOverflowMaxEvents
	MaxBytes  int64         // the events' JSON; 0 = DefaultOverflowMaxBytes
	Retry     time.Duration // how often writing them to the spool is tried again; 0 = DefaultOverflowRetry
}

func (o OverflowOptions) withDefaults() OverflowOptions {
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultOverflowMaxEvents
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultOverflowMaxBytes
	}
	if o.Retry <= 0 {
		o.Retry = DefaultOverflowRetry
	}
	return o
}

// held is an event the spool could not take.
type held struct {
	n       uint64 // order of arrival, from 1
	subject string
	id      string
	camera  string
	data    []byte
}

// overflow is a FIFO of held events, bounded by count and bytes. The
// publisher may be sending its head straight to JetStream: busy names it,
// and a drop spares it, so that an event counted as dropped is never
// delivered.
type overflow struct {
	o     OverflowOptions
	q     []held
	bytes int64
	next  uint64
	busy  uint64
}

// push appends h and returns how many held events it dropped to stay in
// bounds (h itself when it alone is beyond MaxBytes).
func (q *overflow) push(h held) int {
	size := int64(len(h.data))
	if size > q.o.MaxBytes {
		return 1
	}
	dropped := 0
	for len(q.q) > 0 && (len(q.q)+1 > q.o.MaxEvents || q.bytes+size > q.o.MaxBytes) {
		if q.q[0].n == q.busy && len(q.q) > 1 {
			q.bytes -= int64(len(q.q[1].data))
			q.q = append(q.q[:1], q.q[2:]...)
		} else {
			q.bytes -= int64(len(q.q[0].data))
			q.q[0] = held{}
			q.q = q.q[1:]
		}
		dropped++
	}
	q.next++
	h.n = q.next
	q.q = append(q.q, h)
	q.bytes += size
	return dropped
}

func (q *overflow) head() (held, bool) {
	if len(q.q) == 0 {
		return held{}, false
	}
	return q.q[0], true
}

// pop removes the head if it is event n.
func (q *overflow) pop(n uint64) bool {
	if len(q.q) == 0 || q.q[0].n != n {
		return false
	}
	q.bytes -= int64(len(q.q[0].data))
	q.q[0] = held{}
	q.q = q.q[1:]
	return true
}

// diskFull says whether err is the file system out of space (or quota).
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// spoolFault names a spool write error for logs, metrics and health.
func spoolFault(err error) string {
	if diskFull(err) {
		return "disk_full"
	}
	return "write_error"
}
