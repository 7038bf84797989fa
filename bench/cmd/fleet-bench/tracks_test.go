package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func tracks(camera, node string, epoch, seq uint64) *nats.Msg {
	data := fmt.Sprintf(`{"camera":%q,"seq":%d,"captured_at":"2026-12-02T08:00:%02d.000Z","node":%q,"lease_epoch":%d}`,
		camera, seq, seq%60, node, epoch)
	return &nats.Msg{Subject: "vigil." + camera + ".tracks", Data: []byte(data)}
}

func TestRecorderCountsStaleOwnersOnceAndUnfencedMessages(t *testing.T) {
	cases := []struct {
		name                   string
		msgs                   []*nats.Msg
		total, unfenced, stale int
	}{
		{"one owner", []*nats.Msg{tracks("c", "n1", 5, 1), tracks("c", "n1", 5, 2)}, 2, 0, 0},
		{"a new owner, then the old one again", []*nats.Msg{tracks("c", "n1", 5, 1), tracks("c", "n2", 9, 1), tracks("c", "n1", 5, 2)}, 3, 0, 1},
		{"the same message through two servers", []*nats.Msg{tracks("c", "n1", 5, 1), tracks("c", "n1", 5, 1)}, 1, 0, 0},
		{"a stale message received twice counts once", []*nats.Msg{tracks("c", "n2", 9, 1), tracks("c", "n1", 5, 7), tracks("c", "n1", 5, 7)}, 2, 0, 1},
		{"epochs are per camera", []*nats.Msg{tracks("a", "n1", 9, 1), tracks("b", "n2", 5, 1)}, 2, 0, 0},
		{"no node or epoch", []*nats.Msg{tracks("c", "", 5, 1), tracks("c", "n1", 0, 2)}, 2, 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRecorder()
			for _, m := range c.msgs {
				r.receive(m)
			}
			total, unfenced, bad, stale := r.counts()
			if total != c.total || unfenced != c.unfenced || len(stale) != c.stale || bad != 0 {
				t.Errorf("total %d unfenced %d stale %d bad %d, want %d %d %d 0", total, unfenced, len(stale), bad, c.total, c.unfenced, c.stale)
			}
		})
	}
}

func TestRecorderTimes(t *testing.T) {
	r := newRecorder()
	t0 := time.Now()
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	r.msgs["c"] = []arrival{
		{node: "n1", epoch: 1, at: at(0)}, {node: "n1", epoch: 1, at: at(0.5)},
		{node: "n2", epoch: 3, at: at(4.5)}, {node: "n2", epoch: 3, at: at(5)},
	}
	if a, ok := r.firstFromOther("c", "n1", at(1)); !ok || a.node != "n2" || !a.at.Equal(at(4.5)) {
		t.Errorf("firstFromOther = %+v, %v", a, ok)
	}
	if _, ok := r.firstFromOther("c", "n2", at(1)); ok {
		t.Error("firstFromOther found a message from n1 after it stopped")
	}
	for _, c := range []struct {
		from, to, want float64
	}{
		{0, 6, 4},       // the silence from 0.5 to 4.5
		{1, 2, 4},       // under way at 2: lasts until 4.5
		{4.6, 10, 5},    // nothing after 5
		{4.6, 4.9, 0.5}, // 4.5 → 5 spans the window
	} {
		if got := r.maxGap("c", at(c.from), at(c.to)); got.Seconds() < c.want-1e-6 || got.Seconds() > c.want+1e-6 {
			t.Errorf("maxGap(%g, %g) = %s, want %gs", c.from, c.to, got, c.want)
		}
	}
	gaps := r.moveGaps(func(_, _ time.Time) bool { return false })
	if len(gaps) != 1 || gaps[0] < 3.999 || gaps[0] > 4.001 {
		t.Errorf("moveGaps = %v, want [4]", gaps)
	}
	if gaps := r.moveGaps(func(_, _ time.Time) bool { return true }); len(gaps) != 0 {
		t.Errorf("moveGaps with every move caused = %v", gaps)
	}
}
