package main

import (
	"context"
	"sync"
	"time"
)

// point is what one read of /metrics says of the things that come and go.
type point struct {
	at      time.Time
	up      map[string]float64 // vigil_camera_up by camera
	viewers float64            // vigil_liveview_viewers
	pending float64            // vigil_alerts_spool_pending
}

// watch reads vigil's /metrics every second: points for the cameras,
// viewers and spool, and a sample every -sample.
type watch struct {
	sc    *scraper
	pid   int // vigil's
	every time.Duration
	state *state

	mu      sync.Mutex
	points  []point
	samples []sample
	last    scrape // the last read that worked
	fails   int
}

func (w *watch) run(ctx context.Context, begin time.Time) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	next := begin
	for {
		if sc, err := w.sc.get(ctx); err == nil {
			st := w.state.now()
			p := point{at: sc.at, up: map[string]float64{}, viewers: sc.value("vigil_liveview_viewers"), pending: sc.value("vigil_alerts_spool_pending")}
			for _, id := range cameraIDs {
				p.up[id], _ = sc.label("vigil_camera_up", "camera", id)
			}
			w.mu.Lock()
			w.points = append(w.points, p)
			w.last = sc
			if !sc.at.Before(next) {
				w.samples = append(w.samples, w.sample(sc, begin, st))
				for !next.After(sc.at) {
					next = next.Add(w.every)
				}
			}
			w.mu.Unlock()
		} else if ctx.Err() == nil {
			w.mu.Lock()
			w.fails++
			w.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sample makes a sample of a read; w.mu held. It is quiet only when vigil
// too shows no viewer and every camera up.
func (w *watch) sample(sc scrape, begin time.Time, st worldState) sample {
	s := newSample(sc.at.Sub(begin), sc, st)
	s.rssAnon, s.rssFile = procStatus(w.pid)
	s.quiet = st.quiet && s.viewers == 0 && s.camerasUp == float64(len(cameraIDs))
	return s
}

// latest is the last point read.
func (w *watch) latest() (point, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.points) == 0 {
		return point{}, false
	}
	return w.points[len(w.points)-1], true
}

// final reads /metrics once more, after run ended, and keeps it as the
// last sample (the state before SIGTERM); it returns that read, or the
// last one that worked.
func (w *watch) final(begin time.Time) scrape {
	sc, err := w.sc.get(context.Background())
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		return w.last
	}
	w.last = sc
	w.samples = append(w.samples, w.sample(sc, begin, w.state.now()))
	return sc
}

// pointsFrom are the points read at or after t.
func (w *watch) pointsFrom(t time.Time) []point {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, p := range w.points {
		if !p.at.Before(t) {
			return w.points[i:]
		}
	}
	return nil
}
