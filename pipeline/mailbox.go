package pipeline

import (
	"sync"

	"github.com/vigil-vision/vigil/capture"
)

// mailbox is one camera's hand-off to the detector. Latest-wins mailboxes
// hold one frame and replace it; lossless ones hold up to size frames and
// make the camera wait.
type mailbox struct {
	entry  *camEntry
	size   int // lossless depth
	onDrop func(reason string)

	mu       sync.Mutex
	notFull  *sync.Cond
	lossless bool
	ready    chan<- struct{} // the group's wake-up for its scheduler
	q        []*capture.Frame
	aborted  bool // the pipeline takes no more: puts are dropped
}

func newMailbox(e *camEntry, lossless bool, size int, onDrop func(reason string)) *mailbox {
	m := &mailbox{entry: e, lossless: lossless, size: max(size, 1), onDrop: onDrop}
	m.notFull = sync.NewCond(&m.mu)
	return m
}

// setReady hands the mailbox to a group's scheduler, and wakes it.
func (m *mailbox) setReady(ready chan<- struct{}) {
	m.mu.Lock()
	m.ready = ready
	m.mu.Unlock()
	m.wake()
}

func (m *mailbox) isLossless() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lossless
}

func (m *mailbox) waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.q)
}

// depth is how many frames the mailbox holds; m.mu held.
func (m *mailbox) depth() int {
	if m.lossless {
		return m.size
	}
	return 1
}

// put hands a frame over; the mailbox owns it from here.
func (m *mailbox) put(f *capture.Frame) {
	m.mu.Lock()
	if m.lossless != f.Lossless {
		m.lossless = f.Lossless // the camera's source changed (Camera.Reconfigure)
		m.notFull.Broadcast()
	}
	for m.lossless && len(m.q) >= m.depth() && !m.aborted {
		m.notFull.Wait()
	}
	if m.aborted {
		m.mu.Unlock()
		f.Close()
		m.onDrop("shutdown")
		return
	}
	var old []*capture.Frame
	for !m.lossless && len(m.q) >= m.depth() {
		old = append(old, m.q[0])
		m.q[0] = nil
		m.q = m.q[1:]
	}
	m.q = append(m.q, f)
	m.mu.Unlock()
	for _, o := range old {
		o.Close()
		m.onDrop("detector_busy")
	}
	m.wake()
}

func (m *mailbox) wake() {
	m.mu.Lock()
	ready := m.ready
	m.mu.Unlock()
	select {
	case ready <- struct{}{}:
	default:
	}
}

// take returns the oldest waiting frame, or nil.
func (m *mailbox) take() *capture.Frame {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.q) == 0 {
		return nil
	}
	f := m.q[0]
	m.q[0] = nil
	m.q = m.q[1:]
	m.notFull.Signal()
	return f
}

// abort drops what waits and makes later puts drop; blocked puts return.
func (m *mailbox) abort() {
	m.mu.Lock()
	m.aborted = true
	q := m.q
	m.q = nil
	m.notFull.Broadcast()
	m.mu.Unlock()
	for _, f := range q {
		f.Close()
		m.onDrop("shutdown")
	}
	m.wake()
}
