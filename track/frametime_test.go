package track

import (
	"math"
	"testing"
	"time"
)

// epoch is an arbitrary stream start; UpdateAt only looks at differences.
var epoch = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

// seconds is epoch plus s seconds.
func seconds(s float64) time.Time {
	return epoch.Add(time.Duration(s * float64(time.Second)))
}

// TestUpdateAtKeepsLostTracksForBufferTime: the buffer is BufferFrames
// frames at BaseFPS of time, one second by default, however many updates
// the stream makes in it.
func TestUpdateAtKeepsLostTracksForBufferTime(t *testing.T) {
	tests := []struct {
		name     string
		interval float64 // seconds between updates
		hidden   float64 // seconds the object is not detected
		wantSame bool
	}{
		{name: "30 fps, 0.9 s", interval: 1.0 / 30, hidden: 0.9, wantSame: true},
		{name: "30 fps, 1.2 s", interval: 1.0 / 30, hidden: 1.2},
		{name: "10 fps, 0.9 s", interval: 0.1, hidden: 0.9, wantSame: true},
		{name: "10 fps, 1.2 s", interval: 0.1, hidden: 1.2},
		{name: "4 fps, 0.75 s", interval: 0.25, hidden: 0.75, wantSame: true},
		{name: "4 fps, 1.25 s", interval: 0.25, hidden: 1.25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(DefaultConfig())
			d := at(300, 200, 40, 90, 0.9, person)
			now := 0.0
			var id uint64
			for i := 0; i < 6; i++ {
				got := tr.UpdateAt([]Detection{d}, seconds(now))
				if len(got) == 1 {
					id = got[0].ID
				}
				now += tc.interval
			}
			// The last update without the object is at now + hidden − interval.
			for end := now + tc.hidden - tc.interval/2; now < end; now += tc.interval {
				if got := tr.UpdateAt(nil, seconds(now)); len(got) != 0 {
					t.Fatalf("at %.2f s: got %+v from no detections", now, got)
				}
			}
			var again uint64
			for i := 0; i < 4; i++ {
				if got := tr.UpdateAt([]Detection{d}, seconds(now)); len(got) == 1 {
					again = got[0].ID
				}
				now += tc.interval
			}
			if id == 0 || again == 0 {
				t.Fatalf("IDs before %d and after %d: the object was not reported", id, again)
			}
			if (again == id) != tc.wantSame {
				t.Fatalf("ID %d before, %d after %.2f s hidden; want the same: %v", id, again, tc.hidden, tc.wantSame)
			}
		})
	}
}

// TestUpdateAtPredictsByTime: an object crossing at a steady speed is
// followed when the rate of updates drops from 30 to 10 a second, as
// latest-wins does to a busy pipeline; counting updates, the tracker would
// predict a third of the motion and lose it.
func TestUpdateAtPredictsByTime(t *testing.T) {
	const speed = 450.0 // px/s: 15 px per frame at 30 fps, 45 at 10
	pos := func(s float64) Detection { return at(100+speed*s, 300, 30, 80, 0.9, person) }
	// run reports the IDs seen, in how many of the 20 updates at 10 a second
	// the object was reported, and its last velocity.
	run := func(timed bool) (ids map[uint64]bool, slow int, lastVelocity float64) {
		tr := New(DefaultConfig())
		ids = map[uint64]bool{}
		now, step := 0.0, 1.0/30
		for i := 0; i < 40; i++ {
			if i == 20 {
				step = 0.1
			}
			d := []Detection{pos(now)}
			var got []Track
			if timed {
				got = tr.UpdateAt(d, seconds(now))
			} else {
				got = tr.Update(d)
			}
			for _, g := range got {
				ids[g.ID] = true
				lastVelocity = g.Velocity.CX
				if i >= 20 {
					slow++
				}
			}
			now += step
		}
		return ids, slow, lastVelocity
	}
	ids, slow, v := run(true)
	if len(ids) != 1 || slow != 20 {
		t.Fatalf("by frame time: IDs %v, reported in %d of 20 updates at 10 fps; want one ID in all", ids, slow)
	}
	// Velocity is per update: 45 px at 10 updates a second.
	if math.Abs(v-speed/10) > 3 {
		t.Fatalf("by frame time: velocity %.1f px per update at 10 fps, want about %.0f", v, speed/10)
	}
	if _, slow, _ := run(false); slow > 10 {
		t.Fatalf("counting updates: reported in %d of 20 updates at 10 fps; the scene no longer shows the difference", slow)
	}
}

// TestUpdateAtFullRateIsUpdate: at BaseFPS, frame time and update counting
// are the same tracker.
func TestUpdateAtFullRateIsUpdate(t *testing.T) {
	s := newScene(30)
	byCount, byTime := New(DefaultConfig()), New(DefaultConfig())
	var dets []Detection
	for k := 1; k <= 200; k++ {
		dets = s.frame(k, dets[:0])
		a := byCount.Update(dets)
		b := byTime.UpdateAt(dets, seconds(float64(k-1)/BaseFPS))
		if len(a) != len(b) {
			t.Fatalf("frame %d: %d tracks counting updates, %d by frame time", k, len(a), len(b))
		}
		for i := range a {
			va, vb := a[i].Velocity, b[i].Velocity
			ea, eb := a[i].Estimate, b[i].Estimate
			a[i].Velocity, b[i].Velocity = Velocity{}, Velocity{}
			a[i].Estimate, b[i].Estimate = Box{}, Box{}
			if a[i] != b[i] || math.Abs(va.CX-vb.CX) > 1e-6 || math.Abs(va.CY-vb.CY) > 1e-6 || !near(ea, eb, 1e-6) {
				t.Fatalf("frame %d: %+v counting updates, %+v by frame time", k, a[i], b[i])
			}
		}
	}
}

// TestUpdateAtTimeStandingStill: a repeated or earlier time predicts
// nothing and expires nothing.
func TestUpdateAtTimeStandingStill(t *testing.T) {
	tr := New(DefaultConfig())
	d := at(300, 200, 40, 90, 0.9, person)
	for i := 0; i < 5; i++ {
		tr.UpdateAt([]Detection{d}, seconds(float64(i)/10))
	}
	for _, when := range []float64{0.4, 0.4, 0.1, -5} {
		if got := tr.UpdateAt(nil, seconds(when)); len(got) != 0 {
			t.Fatalf("at %v s: got %+v from no detections", when, got)
		}
	}
	got := tr.UpdateAt([]Detection{d}, seconds(0.5))
	if len(got) != 1 || got[0].ID != 1 || got[0].Box != d.Box {
		t.Fatalf("got %+v, want track 1 at %v", got, d.Box)
	}
	if len(tr.tracks) != 1 {
		t.Fatalf("%d tracks, want 1", len(tr.tracks))
	}
}

// near: every corner of a is within tol of b's.
func near(a, b Box, tol float64) bool {
	return math.Abs(a.X1-b.X1) <= tol && math.Abs(a.Y1-b.Y1) <= tol && math.Abs(a.X2-b.X2) <= tol && math.Abs(a.Y2-b.Y2) <= tol
}
