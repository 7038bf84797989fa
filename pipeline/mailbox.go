package pipeline

import (
	"sync"

	"github.com/vigil-vision/vigil/capture"
)

// mailbox is one camera's hand-off to the detector. Latest-wins mailboxes
// hold one frame and replace it; lossless ones hold up to size frames and
// make the camera wait.
type mailbox struct {
	camera   string
	lossless bool
	size     int
	ready    chan<- struct{} // shared wake-up for the scheduler
	onDrop   func(camera, reason string)

	mu      sync.Mutex
	notFull *sync.Cond
	q       []*capture.Frame
	done    bool // the camera will put no more
	aborted bool // the pipeline takes no more: puts are dropped
}

func newMailbox(camera string, lossless bool, size int, ready chan<- struct{}, onDrop func(string, string)) *mailbox {
	if !lossless || size < 1 {
		size = 1
	}
	m := &mailbox{camera: camera, lossless: lossless, size: size, ready: ready, onDrop: onDrop}
	m.notFull = sync.NewCond(&m.mu)
	return m
}

// put hands a frame over; the mailbox owns it from here.
func (m *mailbox) put(f *capture.Frame) {
	m.mu.Lock()
	if m.lossless && !f.Lossless {
		m.lossless = false // a source that turned live (not expected) stops blocking
	}
	for m.lossless && len(m.q) >= m.size && !m.aborted {
		m.notFull.Wait()
	}
	if m.aborted {
		m.mu.Unlock()
		f.Close()
		m.onDrop(m.camera, "shutdown")
		return
	}
	var old *capture.Frame
	if !m.lossless && len(m.q) >= m.size {
		old = m.q[0]
		m.q = m.q[1:]
	}
	m.q = append(m.q, f)
	m.mu.Unlock()
	if old != nil {
		old.Close()
		m.onDrop(m.camera, "detector_busy")
	}
	m.wake()
}

func (m *mailbox) wake() {
	select {
	case m.ready <- struct{}{}:
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

// finished says the camera is done and nothing waits.
func (m *mailbox) finished() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.done && len(m.q) == 0
}

func (m *mailbox) close() {
	m.mu.Lock()
	m.done = true
	m.mu.Unlock()
	m.wake()
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
		m.onDrop(m.camera, "shutdown")
	}
	m.wake()
}
