package pipeline

import (
	"sync"
	"time"

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
	q        []queued
	aborted  bool      // the pipeline takes no more: puts are dropped
	served   time.Time // when the detector last took a frame (made: when the mailbox was)
}

// queued is a frame waiting for the detector, with why it goes there and
// since when the camera waits for that look (the first frame's read time:
// a frame put in place of another one keeps it).
type queued struct {
	f     *capture.Frame
	d     decision
	since time.Time
}

func newMailbox(e *camEntry, lossless bool, size int, onDrop func(reason string)) *mailbox {
	m := &mailbox{entry: e, lossless: lossless, size: max(size, 1), onDrop: onDrop, served: time.Now()}
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

// drained says whether the camera has no frame waiting for the detector
// and none in its hands (held frames in flight do not count: they keep
// their order behind those); take counts a frame in the detector's hands
// before it leaves the queue, so no frame is between the two.
func (m *mailbox) drained() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.q) == 0 && m.entry.detecting.Load() == 0
}

// recheckWait is how long a look the detector takes for no known motion
// (a periodic recheck, or a frame while the motion background forms)
// waits behind the frames that show motion before it is served as one of
// them: a busy detector still looks at a still camera, and cameras that
// start together do not keep it from those where something moves.
const recheckWait = time.Second

// urgent says whether the oldest waiting frame goes to the detector for
// something that moves, or is a check (recheck, settling) that has waited
// recheckWait.
func (m *mailbox) urgent() bool {
	_, urgent, _ := m.offer(time.Now())
	return urgent
}

// offer says, at now, whether a frame waits, whether it is urgent, and how
// long ago the detector last took one of the camera's frames.
func (m *mailbox) offer(now time.Time) (waiting, urgent bool, wait time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.q) == 0 {
		return false, false, 0
	}
	return true, !m.q[0].d.check() || now.Sub(m.q[0].since) >= recheckWait, now.Sub(m.served)
}

// put hands a frame over, with the gate's decision on it; the mailbox owns
// it from here.
func (m *mailbox) put(f *capture.Frame, d decision) {
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
		old = append(old, m.q[0].f)
		m.q[0] = queued{}
		m.q = m.q[1:]
	}
	m.q = append(m.q, queued{f, d, f.Read})
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

// replace puts a live camera's newer frame in place of the one waiting
// for the detector, keeping that one's decision (why the detector looks,
// and where: its regions) and its place in line, with the newer frame's
// motion; it returns the frame replaced, for the caller to drop. It
// returns nil, and keeps nothing, when no frame waits (the detector has
// it already: its result comes next), the camera is lossless, or the
// frame's size changed (the regions were planned for the other size).
// A gated camera whose frame waits behind other cameras' thus hands the
// detector its freshest frame, as a latest-wins camera without gating
// does, rather than the one that showed motion first.
func (m *mailbox) replace(f *capture.Frame, motion *MotionInfo) *capture.Frame {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.q) == 0 || m.lossless || f.Lossless {
		return nil
	}
	last := &m.q[len(m.q)-1]
	old := last.f
	if old.Image.Cols() != f.Image.Cols() || old.Image.Rows() != f.Image.Rows() {
		return nil
	}
	last.f = f
	if motion != nil {
		last.d.motion = motion
	}
	return old
}

// take returns the oldest waiting frame and its decision, or nil, and
// counts the frame in flight for its camera.
func (m *mailbox) take() (*capture.Frame, decision) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.q) == 0 {
		return nil, decision{}
	}
	q := m.q[0]
	m.q[0] = queued{}
	m.q = m.q[1:]
	m.served = time.Now()
	m.entry.inflight.Add(1)
	m.entry.detecting.Add(1)
	m.notFull.Signal()
	return q.f, q.d
}

// abort drops what waits and makes later puts drop; blocked puts return.
func (m *mailbox) abort() {
	m.mu.Lock()
	m.aborted = true
	q := m.q
	m.q = nil
	m.notFull.Broadcast()
	m.mu.Unlock()
	for _, q := range q {
		q.f.Close()
		m.onDrop("shutdown")
	}
	m.wake()
}
