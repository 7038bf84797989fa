package track

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Box is an axis-aligned box in pixels, corners (X1,Y1) top-left, (X2,Y2)
// bottom-right.
type Box struct{ X1, Y1, X2, Y2 float64 }

// Detection is one detector output for one frame.
type Detection struct {
	Box   Box
	Score float64
	Class int
}

// Track is a confirmed track as reported for a frame.
type Track struct {
	ID    uint64  // per-Tracker ID space, increasing from 1, never reused
	Class int     // class of the detection matched this frame
	Score float64 // score of the detection matched this frame
	Box   Box     // the matched detection's box, not the Kalman estimate
	// Estimate is the Kalman filter's box after this frame's match: the
	// detection smoothed by the track's history, as SORT and ByteTrack
	// report their tracks. It is where the object most likely is; Box is
	// what the detector saw. `vigil track` writes Estimate, and it is what
	// the MOTChallenge scores measure (track/README.md).
	Estimate Box
	Hits     int // frames matched so far
	Age      int // frames since the track was born: 0 in its first frame
	// Velocity is the Kalman filter's motion estimate after this frame's
	// match, per Update: with UpdateAt, over the time since the previous
	// update. Predict moves Box with it.
	Velocity Velocity
	// First is the box of the detection the track was born from, given on
	// the frame the track is first reported and zero on every later one:
	// where the object was before it was confirmed. A counting line needs
	// it when the object crossed while being confirmed, which takes
	// longer on frames further apart (rules.Engine).
	First Box
}

type trackState uint8

const (
	stateUnconfirmed trackState = iota // born, fewer than MinHits matches, no ID yet
	stateTracked                       // confirmed and matched in the last frame
	stateLost                          // confirmed, unmatched for up to BufferFrames frames
	stateRemoved                       // dropped at the end of this Update
)

type strack struct {
	kf    kalman
	pred  Box    // the Kalman prediction for the current frame, matched against
	id    uint64 // 0 until first reported
	state trackState
	class int
	score float64
	box   Box
	hits  int
	// span is the camera frames its consecutive matches cover (gap): a
	// track seen on every frame gains 1 a match, one seen on every third 3
	// (confirmIfDue).
	span  float64
	born  int // frame of the first match
	first Box // the detection it was born from
	seen  int // frame of the last match
	// seenAt is the tracker's clock at the last match, in frames at
	// BaseFPS (UpdateAt) or in updates (Update).
	seenAt float64
	// logOdds is the sum of its detections' scores as log-odds
	// (confidence.go).
	logOdds float64
}

// Tracker is ByteTrack over one camera's frames. Create it with New.
type Tracker struct {
	cfg    Config
	frame  int // updates so far
	lastID uint64
	tracks []strack

	// The clock: now advances by one per Update, and by the time since the
	// previous update in frames at BaseFPS per UpdateAt; step is the last
	// advance. at is the time UpdateAt was last given.
	now, step float64
	at        time.Time
	// gap is how many camera frames the last update came after the one
	// before: 1 for the next frame, more after frames skipped
	// (AppendUpdateAtSkipped).
	gap float64

	// Scratch reused by every Update, so a steady scene does not allocate.
	high, low []int // indices into the frame's detections
	detUsed   []bool
	pool      []int // indices into tracks
	cost      []float64
	pairs     []pair
	assign    assigner

	// scores are the detector's scores for followed objects, per class,
	// which decide what is reported (confidence.go). Reset keeps them: the
	// detector is the same.
	scores []scoreStats
}

// New returns a Tracker with cfg. It panics if cfg.Validate fails: configs
// come from the config package, which validates them at load time, so an
// invalid one here is a programming error.
func New(cfg Config) *Tracker {
	if err := cfg.Validate(); err != nil {
		panic("track.New: " + err.Error())
	}
	return &Tracker{cfg: cfg}
}

// SetConfig changes the tracker's settings from its next Update on; the
// tracks it holds are kept. It panics if cfg.Validate fails, as New does.
func (t *Tracker) SetConfig(cfg Config) {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	t.cfg = cfg
}

// Reset forgets every track, as after a camera reconnect or a scene cut. IDs
// keep increasing from where they were so that none is ever reused.
func (t *Tracker) Reset() {
	t.tracks = t.tracks[:0]
	t.frame = 0
	t.now, t.step, t.at = 0, 0, time.Time{}
	t.gap = 0
}

// AgeLost ages the lost tracks by d of time the tracker saw no frame of
// (frames a motion-gated camera held because nothing moved): they expire
// after BufferFrames frames at BaseFPS of time, held or not, as if every
// frame had been updated, while the tracks in view, and the clock their
// motion is predicted by, stay as they are. For trackers fed by UpdateAt.
func (t *Tracker) AgeLost(d time.Duration) {
	if d <= 0 {
		return
	}
	age := d.Seconds() * BaseFPS
	t.tracks = slices.DeleteFunc(t.tracks, func(tr strack) bool {
		return tr.state == stateLost && t.now-tr.seenAt+age > float64(t.cfg.BufferFrames)+clockSlack
	})
	for i := range t.tracks {
		if t.tracks[i].state == stateLost {
			t.tracks[i].seenAt -= age
		}
	}
}

// Update advances the tracker by one frame with that frame's detections and
// returns the confirmed tracks matched in it, sorted by ID. The slice is newly
// allocated and belongs to the caller.
func (t *Tracker) Update(dets []Detection) []Track {
	return t.AppendUpdate(make([]Track, 0, len(dets)), dets)
}

// AppendUpdate is Update appending to dst, for callers that reuse a slice;
// with a dst of enough capacity a steady scene makes no allocations.
func (t *Tracker) AppendUpdate(dst []Track, dets []Detection) []Track {
	return t.advance(dst, dets, 1, 1)
}

// UpdateAt is Update for a frame taken at time at, for streams whose frame
// rate varies or is not known in advance: tracks are predicted by the time
// since the previous update, and a lost track is kept for BufferFrames
// frames at BaseFPS of time (30 frames: one second) however many updates
// that is. Velocities are per Update, that is over the time since the
// previous update. A time that does not move forward predicts nothing; the
// first update after New or Reset counts as one frame at BaseFPS.
func (t *Tracker) UpdateAt(dets []Detection, at time.Time) []Track {
	return t.AppendUpdateAt(make([]Track, 0, len(dets)), dets, at)
}

// AppendUpdateAt is UpdateAt appending to dst.
func (t *Tracker) AppendUpdateAt(dst []Track, dets []Detection, at time.Time) []Track {
	return t.AppendUpdateAtSkipped(dst, dets, at, 0)
}

// AppendUpdateAtSkipped is AppendUpdateAt for a frame that comes after
// skipped frames of the camera the tracker was not given (dropped before
// detection, say, while the detector was busy with other cameras). Their
// objects moved meanwhile, unseen: the association widens the boxes for
// them (buffer), and a new track's match counts for the frames it spans
// towards MinHits, so that it is confirmed as soon in the camera's frames
// as one seen on every frame.
func (t *Tracker) AppendUpdateAtSkipped(dst []Track, dets []Detection, at time.Time, skipped int) []Track {
	step := 1.0
	if !t.at.IsZero() {
		step = max(0, at.Sub(t.at).Seconds()*BaseFPS)
	}
	t.at = at
	return t.advance(dst, dets, step, 1+float64(max(0, skipped)))
}

// advance runs one update whose frame comes step clock units after the
// previous one, and gap camera frames after it (1: the next frame).
func (t *Tracker) advance(dst []Track, dets []Detection, step, gap float64) []Track {
	t.frame++
	t.now += step
	t.step = step
	t.gap = gap
	t.splitDetections(dets)
	for i := range t.tracks {
		tr := &t.tracks[i]
		// ByteTrack stops height growth while a track is unseen, so a box
		// that was shrinking or growing does not run away during occlusion.
		if tr.state == stateLost {
			tr.kf.mean[7] = 0
		}
		tr.kf.predictAhead(step)
		tr.pred = tr.kf.box()
	}

	// Stage 1: high-score detections against the tracks seen last frame,
	// first those it reports, then those whose detections score too low to
	// be reported (confidence.go): a track the tracker does not believe in
	// never takes a detection from one it does.
	t.poolOf(stateTracked)
	t.pool = slices.DeleteFunc(t.pool, func(i int) bool { return !t.plausible(&t.tracks[i]) })
	t.associate(dets, t.high, t.cfg.MatchThreshold, true)
	t.poolOf(stateTracked)
	t.pool = slices.DeleteFunc(t.pool, func(i int) bool { return t.tracks[i].seen == t.frame })
	t.high = slices.DeleteFunc(t.high, func(d int) bool { return t.detUsed[d] })
	t.associate(dets, t.high, t.cfg.MatchThreshold, true)

	// From here on, only a detection confident enough to start a track
	// (NewTrackThreshold) may confirm one or find a lost one again: those
	// are as uncertain as a birth. The rest of the high ones, like the low
	// ones, can only extend a track that is being followed, and already had
	// their chance to.
	t.high = slices.DeleteFunc(t.high, func(d int) bool {
		return t.detUsed[d] || dets[d].Score < t.cfg.NewTrackThreshold
	})

	// Stage 1b: lost tracks take what is left, so an object coming out of
	// occlusion gets its ID back but never takes a detection from a track
	// that is in view (a matching cascade, as DeepSORT's by age).
	t.poolOf(stateLost)
	t.associate(dets, t.high, t.cfg.MatchThreshold, true)

	// Stage 2: low-score detections only extend tracks seen last frame; a
	// low-score box near a lost track is more likely clutter than the object.
	t.poolOf(stateTracked)
	t.pool = slices.DeleteFunc(t.pool, func(i int) bool { return t.tracks[i].seen == t.frame })
	t.associate(dets, t.low, t.cfg.SecondMatchThreshold, false)
	// A track it does not report is not kept to be found again: the buffer
	// is there to give objects their IDs back.
	for _, i := range t.pool {
		tr := &t.tracks[i]
		switch {
		case tr.seen == t.frame:
		case t.plausible(tr):
			tr.state = stateLost
		default:
			tr.state = stateRemoved
		}
	}

	// Stage 3: tracks still unconfirmed take what confident detections are
	// left; one that misses a frame is dropped, so confirmation needs
	// MinHits consecutive matches.
	t.poolOf(stateUnconfirmed)
	t.high = slices.DeleteFunc(t.high, func(d int) bool { return t.detUsed[d] })
	t.associate(dets, t.high, t.cfg.UnconfirmedMatchThreshold, true)
	for _, i := range t.pool {
		if t.tracks[i].seen != t.frame {
			t.tracks[i].state = stateRemoved
		}
	}

	// Stage 4: confident detections nobody claimed start tracks.
	for _, d := range t.high {
		if t.detUsed[d] {
			continue
		}
		t.tracks = append(t.tracks, strack{})
		t.start(&t.tracks[len(t.tracks)-1], dets[d])
	}

	// Stage 5: drop what expired, keeping the slice in birth order.
	t.tracks = slices.DeleteFunc(t.tracks, func(tr strack) bool {
		return tr.state == stateRemoved || tr.state == stateLost && t.now-tr.seenAt > float64(t.cfg.BufferFrames)+clockSlack
	})

	n := len(dst)
	for i := range t.tracks {
		tr := &t.tracks[i]
		if tr.state != stateTracked || tr.seen != t.frame || !t.plausible(tr) {
			continue
		}
		var first Box
		if tr.id == 0 {
			t.lastID++
			tr.id = t.lastID
			first = tr.first
		}
		dst = append(dst, Track{
			ID: tr.id, Class: tr.class, Score: tr.score, Box: tr.box, Estimate: tr.kf.box(),
			Hits: tr.hits, Age: t.frame - tr.born, Velocity: tr.kf.velocity().times(t.step), First: first,
		})
	}
	slices.SortFunc(dst[n:], func(a, b Track) int { return cmp.Compare(a.ID, b.ID) })
	return dst
}

// splitDetections sorts the frame's usable detections into t.high and t.low.
func (t *Tracker) splitDetections(dets []Detection) {
	t.high, t.low = t.high[:0], t.low[:0]
	t.detUsed = growBools(t.detUsed, len(dets))
	clear(t.detUsed)
	for i, d := range dets {
		if !d.Box.Valid() {
			continue
		}
		switch {
		case d.Score >= t.cfg.HighThreshold:
			t.high = append(t.high, i)
		case d.Score >= t.cfg.LowThreshold:
			t.low = append(t.low, i)
		}
	}
}

// poolOf sets t.pool to the tracks in state s, in birth order.
func (t *Tracker) poolOf(s trackState) {
	t.pool = t.pool[:0]
	for i := range t.tracks {
		if t.tracks[i].state == s {
			t.pool = append(t.pool, i)
		}
	}
}

// associate optimally matches the tracks in t.pool with dets[detIdx] by IoU
// of the predicted box, applies the matches, and marks matched detections
// used. With fuse the IoU is weighted by the detection's score, as
// ByteTrack does in its first association (fuse_score): a pair is allowed
// at IoU × score >= minIoU, so a weak detection must overlap more, and of
// two detections equally placed the surer one wins.
func (t *Tracker) associate(dets []Detection, detIdx []int, minIoU float64, fuse bool) {
	rows, cols := len(t.pool), len(detIdx)
	if rows == 0 || cols == 0 {
		return
	}
	t.cost = growFloats(t.cost, rows*cols)
	buf := t.buffer()
	for r, ti := range t.pool {
		tr := &t.tracks[ti]
		row := t.cost[r*cols : (r+1)*cols]
		for c, di := range detIdx {
			d := &dets[di]
			if t.cfg.ClassAware && d.Class != tr.class {
				row[c] = math.Inf(1)
				continue
			}
			sim := iou(tr.pred.grown(buf), d.Box.grown(buf))
			if fuse {
				sim *= d.Score
			}
			row[c] = 1 - sim
		}
	}
	t.pairs = t.assign.match(t.cost, rows, cols, 1-minIoU, t.pairs[:0])
	for _, p := range t.pairs {
		di := detIdx[p.c]
		t.detUsed[di] = true
		t.apply(&t.tracks[t.pool[p.r]], dets[di])
	}
}

// start makes tr a new track born from d in this frame.
func (t *Tracker) start(tr *strack, d Detection) {
	*tr = strack{state: stateUnconfirmed, class: d.Class, score: d.Score, box: d.Box, hits: 1, span: 1, born: t.frame, first: d.Box, seen: t.frame, seenAt: t.now,
		logOdds: logOdds(d.Score)}
	tr.kf.initiate(measurement(d.Box))
	tr.pred = d.Box
	t.confirmIfDue(tr)
}

// apply records that tr matched d in this frame.
func (t *Tracker) apply(tr *strack, d Detection) {
	weight := stdWeightPosition
	if tr.hits >= settleHits {
		weight = stdWeightSettled
	}
	if !tr.kf.updateWeighted(measurement(d.Box), weight) {
		tr.kf.initiate(measurement(d.Box))
	}
	if tr.state != stateUnconfirmed {
		t.noteScore(d)
	}
	tr.logOdds += logOdds(d.Score)
	tr.class, tr.score, tr.box = d.Class, d.Score, d.Box
	tr.hits++
	tr.span += t.gap
	tr.seen, tr.seenAt = t.frame, t.now
	if tr.state == stateLost {
		tr.state = stateTracked
	}
	t.confirmIfDue(tr)
}

// confirmIfDue confirms tr once its matches span MinHits frames. Its ID
// comes with its first report, so that a confirmed track never reported
// (confidence.go) leaves no gap in the IDs.
func (t *Tracker) confirmIfDue(tr *strack) {
	if tr.state == stateUnconfirmed && tr.span >= float64(t.cfg.MinHits)-clockSlack {
		tr.state = stateTracked
	}
}

// buffer is how much association widens boxes on this update (Box.grown):
// nothing for the camera's next frame, gapBuffer of a box's size for each
// frame skipped since the last update, up to maxBuffer. An object moves
// further between updates that are further apart, most of all a new
// track's, whose velocity the filter does not know yet: matched by plain
// IoU, a walker seen on every third frame is lost to a new track at most
// updates (the buffered IoU of C-BIoU, Yang et al., WACV 2023, here scaled
// by the frames skipped). motion-bench's motion_stride_<k> lines measure
// what it keeps.
func (t *Tracker) buffer() float64 {
	return min(maxBuffer, gapBuffer*max(0, t.gap-1))
}

// The widening a skipped frame, and its limit: chosen on motion-bench's
// scenes (0.1 to 0.25 tried; 0.2 kept the most crossings on frames two to
// five apart, precision 0.96 or more).
const (
	gapBuffer = 0.2
	maxBuffer = 1.0
)

// clockSlack absorbs rounding in UpdateAt's clock, so that a track lost for
// exactly BufferFrames frames' time is kept as it is with Update.
const clockSlack = 1e-6

// Valid says whether b is a box the filter can represent: no NaN or
// infinite corner, and some area (the aspect ratio divides by the
// height). A zero Box, as Track.First after a track's first report, is
// not valid.
func (b Box) Valid() bool {
	for _, x := range [4]float64{b.X1, b.Y1, b.X2, b.Y2} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return b.X2 > b.X1 && b.Y2 > b.Y1
}

// iou is the intersection over union of two boxes, 0 when either has no area.
func iou(a, b Box) float64 {
	areaA := (a.X2 - a.X1) * (a.Y2 - a.Y1)
	areaB := (b.X2 - b.X1) * (b.Y2 - b.Y1)
	if !(a.X2 > a.X1 && a.Y2 > a.Y1 && b.X2 > b.X1 && b.Y2 > b.Y1) {
		return 0
	}
	w := min(a.X2, b.X2) - max(a.X1, b.X1)
	h := min(a.Y2, b.Y2) - max(a.Y1, b.Y1)
	if w <= 0 || h <= 0 {
		return 0
	}
	inter := w * h
	return inter / (areaA + areaB - inter)
}

// grown is b widened by f of its width on the left and on the right, and
// by f of its height above and below.
func (b Box) grown(f float64) Box {
	if f == 0 {
		return b
	}
	dw, dh := f*(b.X2-b.X1), f*(b.Y2-b.Y1)
	return Box{X1: b.X1 - dw, Y1: b.Y1 - dh, X2: b.X2 + dw, Y2: b.Y2 + dh}
}
