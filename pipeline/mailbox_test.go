package pipeline

import (
	"testing"
	"time"

	"github.com/vigil-vision/vigil/capture"
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
		m.q = []queued{{f: &capture.Frame{Read: time.Now().Add(-c.age)}, d: decision{detect: true, reason: c.why}}}
		if got := m.urgent(); got != c.urgent {
			t.Errorf("%s frame %v old: urgent %v, want %v", c.why, c.age, got, c.urgent)
		}
	}
}
