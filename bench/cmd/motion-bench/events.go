package main

import (
	"slices"
	"time"

	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/rules"
	"github.com/vigil-vision/vigil/track"
)

// sceneFPS is the scenes' frame rate: a frame's sequence number is its
// place in the file, in tenths of a second.
const sceneFPS = 10

// matchWindow is how far apart in media time a reported event and the
// reference's may be and still be the same event (issue 16).
const matchWindow = time.Second

// sceneRules are every camera's rules: two counting lines where vtest.avi's
// walkers cross most (on the whole video, every frame detected: 31
// crossings of the first, 33 of the second), persons only, both directions.
func sceneRules() []rules.Rule {
	line := func(name string, x1, y1, x2, y2 float64, aToB, bToA string) rules.Rule {
		return rules.Rule{Name: name, Kind: rules.KindLine, Points: []rules.Point{{X: x1, Y: y1}, {X: x2, Y: y2}},
			Classes: []int{0}, Hysteresis: 10, AToB: aToB, BToA: bToA}
	}
	return []rules.Rule{
		line("across", 0, 300, 768, 300, "down", "up"),
		line("along", 500, 0, 500, 576, "left", "right"),
	}
}

// event is one rule event, where it happened in its scene.
type event struct {
	key string        // rule/type/direction: what must agree
	at  time.Duration // media time: the frame's place in its file
}

// watcher runs one camera's rules on each frame the pipeline publishes,
// held ones too, as vigil's node does, and keeps their events. Sinks run
// on one goroutine: it needs no lock of its own.
type watcher struct {
	engine *rules.Engine
	events []event
}

func newWatcher(camera string) (*watcher, error) {
	e, err := rules.New(camera, sceneRules())
	if err != nil {
		return nil, err
	}
	return &watcher{engine: e}, nil
}

func (w *watcher) observe(r *pipeline.Result) {
	f := r.Frame
	// A file's Time is its media clock from the wall clock at its first
	// frame, which differs by run; its Seq counts every frame read,
	// published or dropped, from 1.
	w.update(f.Seq, f.Time, f.Image.Cols(), f.Image.Rows(), r.Tracks)
}

// update runs the rules on the tracks of the seq-th frame of a scene.
func (w *watcher) update(seq uint64, at time.Time, width, height int, tracks []track.Track) {
	for _, ev := range w.engine.Update(at, width, height, tracks) {
		w.events = append(w.events, event{key: ev.Rule + "/" + string(ev.Type) + "/" + ev.Direction,
			at: time.Duration(seq-1) * time.Second / sceneFPS})
	}
}

// match counts the reported events that pair with a reference event of the
// same rule, type and direction at most matchWindow away, each reference
// event used once. Taking the reported events in time order, each pairs
// with the earliest reference event still free within its window: as the
// windows all have one length, no pairing has more pairs.
func match(ref, got []event) int {
	byKey := func(evs []event) map[string][]time.Duration {
		m := map[string][]time.Duration{}
		for _, e := range evs {
			m[e.key] = append(m[e.key], e.at)
		}
		for _, ts := range m {
			slices.Sort(ts)
		}
		return m
	}
	refs := byKey(ref)
	n := 0
	for key, ts := range byKey(got) {
		free := refs[key]
		for _, t := range ts {
			for len(free) > 0 && free[0] < t-matchWindow {
				free = free[1:] // too early for this and every later event
			}
			if len(free) > 0 && free[0] <= t+matchWindow {
				free = free[1:]
				n++
			}
		}
	}
	return n
}

// share is a/b for recall and precision: 1 when b is 0, as nothing was
// there to miss, or nothing reported was wrong.
func share(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
