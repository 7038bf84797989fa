package pipeline

import (
	"image"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/capture"
	"gocv.io/x/gocv"
)

// A look for no known motion (a recheck, a frame while the background
// forms) waits behind frames that show motion for recheckWait, then
// joins them; motion and moving tracks are urgent at once.
func TestChecksWaitBehindMotion(t *testing.T) {
	m := newMailbox(&camEntry{}, false, 1, func(string) {})
	if m.urgent() {
		t.Fatal("an empty mailbox is urgent")
	}
	for _, c := range []struct {
		why    string
		age    time.Duration
		urgent bool
	}{
		{GateMotion, 0, true},
		{GateTracks, 0, true},
		{GateSettling, 0, false},
		{GateRecheck, 0, false},
		{GateSettling, 2 * recheckWait, true},
		{GateRecheck, 2 * recheckWait, true},
	} {
		m.q = []queued{{f: &capture.Frame{}, d: decision{detect: true, reason: c.why}, since: time.Now().Add(-c.age)}}
		if got := m.urgent(); got != c.urgent {
			t.Errorf("%s frame %v old: urgent %v, want %v", c.why, c.age, got, c.urgent)
		}
	}
}

// A live camera's newer frame takes the place of the one still waiting
// for the detector, with that one's decision and place in line; once the
// detector has taken it, or for a lossless camera, nothing is replaced.
func TestReplaceKeepsTheDecisionWithTheFreshestFrame(t *testing.T) {
	frame := func(seq uint64, read time.Time, w, h int) *capture.Frame {
		return &capture.Frame{Seq: seq, Read: read, Image: gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)}
	}
	t0 := time.Now().Add(-2 * recheckWait)
	m := newMailbox(&camEntry{}, false, 1, func(string) {})
	if old := m.replace(frame(1, t0, 64, 48), nil); old != nil {
		t.Fatal("an empty mailbox replaced a frame")
	}
	regions := []image.Rectangle{image.Rect(0, 0, 32, 32)}
	m.put(frame(2, t0, 64, 48), decision{detect: true, reason: GateRecheck, regions: regions})
	later := &MotionInfo{Fraction: 0.01}
	old := m.replace(frame(3, time.Now(), 64, 48), later)
	if old == nil || old.Seq != 2 {
		t.Fatalf("replaced %v, want frame 2", old)
	}
	old.Close()
	if !m.urgent() {
		t.Error("a recheck put 2 s ago and replaced now is not urgent: the replacement reset its wait")
	}
	f4 := frame(4, time.Now(), 32, 48)
	defer f4.Close()
	if old := m.replace(f4, nil); old != nil {
		t.Error("a frame of another size replaced one whose regions were planned for the old size")
	}
	f, d := m.take()
	if f == nil || f.Seq != 3 {
		t.Fatalf("took %v, want frame 3", f)
	}
	f.Close()
	if d.reason != GateRecheck || len(d.regions) != 1 || d.regions[0] != regions[0] || d.motion != later {
		t.Errorf("decision %+v: want the first frame's reason and regions with the newer frame's motion", d)
	}
	f5 := frame(5, time.Now(), 64, 48)
	defer f5.Close()
	if old := m.replace(f5, nil); old != nil {
		t.Error("a frame in the detector's hands was replaced")
	}
	l := newMailbox(&camEntry{}, true, 2, func(string) {})
	lf := frame(6, t0, 64, 48)
	lf.Lossless = true
	l.put(lf, decision{detect: true, reason: GateMotion})
	nf := frame(7, time.Now(), 64, 48)
	nf.Lossless = true
	if old := l.replace(nf, nil); old != nil {
		t.Error("a lossless camera's frame was replaced")
	}
	nf.Close()
	l.abort()
}

// The detector takes the urgent frame of the camera it served longest
// ago; a camera with an object near a rule's line counts nearWeight times
// its wait; checks come after urgent frames whatever they waited.
func TestPickServesCamerasNearALineFirst(t *testing.T) {
	now := time.Now()
	g := &group{}
	box := func(name string, why string, served time.Duration) *mailbox {
		m := newMailbox(&camEntry{}, false, 1, func(string) {})
		m.q = []queued{{f: &capture.Frame{Camera: name}, d: decision{detect: true, reason: why}, since: now}}
		m.served = now.Add(-served)
		g.boxes = append(g.boxes, m)
		return m
	}
	a := box("a", GateMotion, 100*time.Millisecond)
	b := box("b", GateMotion, 300*time.Millisecond)
	c := box("c", GateTracks, 200*time.Millisecond)
	d := box("d", GateRecheck, 10*time.Second)
	name := func(m *mailbox) string {
		if m == nil {
			return "none"
		}
		return m.q[0].f.Camera
	}
	steps := []struct {
		near  *mailbox // the camera with an object near a line, if any
		empty *mailbox // a camera whose frame is taken before the step
		want  *mailbox
	}{
		{want: b},                    // round-robin: longest since served
		{near: d, want: b},           // a check waits behind motion, near or not
		{near: a, want: a},           // 4 × 100 ms > 300 ms
		{near: c, want: c},           // 4 × 200 ms
		{near: a, empty: a, want: b}, // near, but nothing waiting
		{empty: b, want: c},          // the next longest
		{near: d, empty: c, want: d}, // only a check left: it goes, near or not
		{empty: d, want: nil},        // nothing waits
	}
	for i, s := range steps {
		for _, m := range g.boxes {
			m.entry.near.Store(m == s.near)
		}
		if s.empty != nil {
			s.empty.q = nil
		}
		if got := g.pick(now); got != s.want {
			t.Errorf("step %d: picked %s, want %s", i, name(got), name(s.want))
		}
	}
}
