package pipeline

import (
	"math"
	"slices"
	"time"

	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/track"
)

// Tracking turns each camera's detections into tracks, one tracker (one ID
// space) per camera. The pipeline's tracking stage and `vigil track` both go
// through it, so a tracker tuned offline behaves the same live.
//
// UpdateAt runs the trackers on frame time (track.Tracker.UpdateAt): a
// camera's frames reach tracking at whatever rate detection keeps up with
// (latest wins), so the lost-track buffer and the motion model should count
// the time between the frames, not the frames. Update counts frames.
//
// Hold is a frame the detector was not run on because nothing moved
// (motion gating): the tracker does not see it, its clock stands still
// over it for the tracks in view, and the camera's tracks stay as the last
// detected frame left them. So a person standing still for a minute of
// held frames is neither lost nor predicted away when the detector next
// looks. Lost tracks age over held frames as over detected ones, so one
// that left is forgotten after the buffer time either way.
type Tracking struct {
	cfg  track.Config
	cams map[string]*camTracking
	buf  []track.Detection
}

// camTracking is one camera's tracker and clock.
type camTracking struct {
	tr *track.Tracker
	// held is the time spent in held frames, which the tracker's clock
	// skips: it is given at − held.
	held time.Duration
	// seq is the camera's frame number (capture.Frame.Seq) of the last
	// update, heldN the frames held since: the frames between that were
	// neither are skipped, for the tracker (UpdateFrame).
	seq   uint64
	heldN int
	at    time.Time     // the camera's last frame time, updated or held
	tat   time.Time     // the tracker's time of its last update
	dt    time.Duration // tracker time between its last two updates; 0 after the first
	last  []track.Track // what the last update reported
	// gone are the tracks an update reported and a later one did not, by
	// id: for the next lookAgain updates the camera counts as active
	// (Activity), so that a person a recheck missed is looked for again at
	// once, not after the interval. They leave it when found again, or
	// when the tracker's buffer time has passed since.
	gone map[uint64]goneTrack
}

// goneTrack is when a track went, in camera time, how fast it moved in
// its box heights a second at its last update, and how many updates have
// looked for it since.
type goneTrack struct {
	at    time.Time
	box   track.Box // where it was last seen
	speed float64
	looks int
}

// lookAgain is how many detected frames a camera gets after one of its
// tracks that stood still went (Activity): an object still there but
// missed once is most likely found on one of them; one that left needs no
// more, and held frames age it out (track.Tracker.AgeLost) as every frame
// would. A track that was moving when it went gets none: if it still moves
// in view, motion shows it.
const lookAgain = 3

// NewTracking makes per-camera trackers with cfg, which must be valid.
func NewTracking(cfg track.Config) *Tracking {
	return &Tracking{cfg: cfg, cams: map[string]*camTracking{}}
}

// Update runs camera's tracker on one frame's detections and returns the
// confirmed tracks matched in that frame; each call counts as one frame at
// track.BaseFPS.
func (t *Tracking) Update(camera string, dets []detect.Detection) []track.Track {
	c := t.prepare(camera, dets)
	c.last = c.tr.Update(t.buf)
	return c.last
}

// UpdateAt is Update for a frame of time at, capture.Frame.Time: tracks are
// predicted by the time since the camera's previous frame, and a lost track
// is kept for buffer_frames frames at track.BaseFPS of time, held frames
// included (Hold). Time spent in held frames does not move the tracks in
// view.
func (t *Tracking) UpdateAt(camera string, dets []detect.Detection, at time.Time) []track.Track {
	return t.UpdateFrame(camera, dets, at, 0)
}

// UpdateFrame is UpdateAt for the camera's frame number seq
// (capture.Frame.Seq; 0: unknown): the frames since its last update that
// were neither updated nor held were skipped (dropped while the detector
// was busy), and the tracker allows for the motion they hid
// (track.Tracker.AppendUpdateAtSkipped).
func (t *Tracking) UpdateFrame(camera string, dets []detect.Detection, at time.Time, seq uint64) []track.Track {
	c := t.prepare(camera, dets)
	if c.at.IsZero() || at.After(c.at) {
		c.at = at
	}
	skipped := 0
	if seq > c.seq && c.seq > 0 {
		skipped = max(0, int(seq-c.seq)-1-c.heldN)
	}
	if seq > 0 {
		c.seq = seq
	}
	c.heldN = 0
	tat := at.Add(-c.held)
	prevDt := c.dt
	if !c.tat.IsZero() {
		c.dt = tat.Sub(c.tat)
	}
	c.tat = tat
	prev := c.last
	c.last = c.tr.AppendUpdateAtSkipped(nil, t.buf, tat, skipped)
	t.noteGone(c, prev, prevDt)
	return c.last
}

// noteGone keeps c.gone after an update: the tracks of prev (reported
// with velocities over dt) missing from c.last join it, those found again
// leave it, the others count one more look.
func (t *Tracking) noteGone(c *camTracking, prev []track.Track, dt time.Duration) {
	for id, g := range c.gone {
		if slices.ContainsFunc(c.last, func(tr track.Track) bool { return tr.ID == id }) {
			delete(c.gone, id)
		} else {
			g.looks++
			c.gone[id] = g
		}
	}
	for _, p := range prev {
		if !slices.ContainsFunc(c.last, func(tr track.Track) bool { return tr.ID == p.ID }) {
			if c.gone == nil {
				c.gone = map[uint64]goneTrack{}
			}
			c.gone[p.ID] = goneTrack{at: c.at, box: p.Box, speed: speed(p, dt)}
		}
	}
	t.expireGone(c)
}

// expireGone drops from c.gone the tracks gone longer than the tracker's
// buffer time, in camera time.
func (t *Tracking) expireGone(c *camTracking) {
	keep := time.Duration(float64(t.cfg.BufferFrames) / track.BaseFPS * float64(time.Second))
	for id, g := range c.gone {
		if c.at.Sub(g.at) > keep {
			delete(c.gone, id)
		}
	}
}

// Hold is a frame of time at that the detector did not run on: the
// tracker's clock stands still from the camera's previous frame to at,
// except for lost tracks, which age as if the frame had been updated
// (track.Tracker.AgeLost), and the tracks are those the last update
// reported (none before the first). The returned slice is shared: read
// it, do not change it.
func (t *Tracking) Hold(camera string, at time.Time) []track.Track {
	c := t.cams[camera]
	if c == nil {
		return nil
	}
	if !c.at.IsZero() && at.After(c.at) {
		c.held += at.Sub(c.at)
		c.tr.AgeLost(at.Sub(c.at))
	}
	c.heldN++
	if c.at.IsZero() || at.After(c.at) {
		c.at = at
	}
	t.expireGone(c)
	return c.last
}

// Activity counts the tracks of camera's last update, and the active ones:
// those moving at least minSpeed box heights a second by the tracker's
// velocity estimate, and those that stood still and were lost in the last
// lookAgain updates (an object the detector missed once is looked for
// again on the next frames).
// Before the tracker has two updates to measure a speed over, every track
// counts as moving.
func (t *Tracking) Activity(camera string, minSpeed float64) (tracks, active int) {
	c := t.cams[camera]
	if c == nil {
		return 0, 0
	}
	moving := 0
	for _, g := range c.gone {
		if g.looks < lookAgain && g.speed < minSpeed {
			moving++
		}
	}
	for _, tr := range c.last {
		if speed(tr, c.dt) >= minSpeed {
			moving++
		}
	}
	return len(c.last), moving
}

// Looking appends to dst where camera's tracks that Activity counts as
// just lost were last seen: the places the next detected frames look for
// them (regions at full resolution must cover them).
func (t *Tracking) Looking(dst []track.Box, camera string, minSpeed float64) []track.Box {
	c := t.cams[camera]
	if c == nil {
		return dst
	}
	for _, g := range c.gone {
		if g.looks < lookAgain && g.speed < minSpeed {
			dst = append(dst, g.box)
		}
	}
	return dst
}

// speed is how fast tr moves, in its box heights a second, by the
// tracker's velocity over dt, the time between the update that reported it
// and the one before; +Inf when there was none before (dt 0).
func speed(tr track.Track, dt time.Duration) float64 {
	h := tr.Box.Y2 - tr.Box.Y1
	if dt <= 0 || !(h > 0) {
		return math.Inf(1)
	}
	return math.Hypot(tr.Velocity.CX, tr.Velocity.CY) / dt.Seconds() / h
}

// prepare converts dets into t.buf and returns camera's tracker, made on
// its first frame.
func (t *Tracking) prepare(camera string, dets []detect.Detection) *camTracking {
	c := t.cams[camera]
	if c == nil {
		c = &camTracking{tr: track.New(t.cfg)}
		t.cams[camera] = c
	}
	t.buf = t.buf[:0]
	for _, d := range dets {
		t.buf = append(t.buf, track.Detection{
			Box:   trackBox(d.Box),
			Score: float64(d.Score), Class: d.Class,
		})
	}
	return c
}

// trackBox is a detection's box as the tracker and the rules take it.
func trackBox(b detect.Box) track.Box {
	return track.Box{X1: float64(b.X1), Y1: float64(b.Y1), X2: float64(b.X2), Y2: float64(b.Y2)}
}

// Forget drops a camera's tracker: its next frame starts a new ID space.
func (t *Tracking) Forget(camera string) { delete(t.cams, camera) }

// SetConfig changes the settings of every camera's tracker, from its next
// frame on; tracks and their ids are kept. cfg must be valid.
func (t *Tracking) SetConfig(cfg track.Config) {
	t.cfg = cfg
	for _, c := range t.cams {
		c.tr.SetConfig(cfg)
	}
}
