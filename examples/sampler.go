package examples

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-vision/vigil/dataset"
)

// Strategies say which frames a camera wants; the zero value wants none.
// Strategies combine: a frame is taken when any wants it, with every
// reason that did.
type Strategies struct {
	// CloseToThreshold takes a frame with a detection whose score is
	// within ± this of its class's threshold; 0: off.
	CloseToThreshold float64
	// Random takes this fraction of frames; 0: off.
	Random float64
	// Classes takes a frame with a detection of any of these labels (or
	// class ids).
	Classes []string
	// CountMin and CountMax take a frame with at least CountMin and at
	// most CountMax detections (0: no upper bound); both 0: off.
	CountMin, CountMax int
	// TrackerMissed takes a frame in which a confirmed track of the last
	// frame went unmatched away from the picture's edge: likely a false
	// negative.
	TrackerMissed bool
	// TrackerUnmatched takes a frame with a detection that no track took
	// for UnmatchedFrames frames in a row at about the same place: a
	// tracker would have confirmed a real object by then, so likely a
	// false positive.
	TrackerUnmatched bool
	// Shadow takes the frames on which a shadow candidate model and the
	// live one disagree. The shadow sees a sample of frames later than
	// Decide does, so it hands them in itself (Capture.Take); Decide never
	// gives this reason.
	Shadow bool
}

// UnmatchedFrames is how many frames in a row a detection stays out of
// every track before TrackerUnmatched takes it: one more than the
// tracker's default min_hits.
const UnmatchedFrames = 4

// Reason names, the first word of each reason and the metrics' label.
const (
	ReasonCloseToThreshold = "close_to_threshold"
	ReasonRandom           = "random"
	ReasonClasses          = "classes"
	ReasonCount            = "count"
	ReasonTrackerMissed    = "tracker_missed"
	ReasonTrackerUnmatched = "tracker_unmatched"
	ReasonShadow           = "shadow"
)

// Track is a confirmed track matched in the frame, its box the detection
// it matched.
type Track struct {
	ID  uint64
	Box dataset.Box
}

// Frame is what the Sampler looks at: one processed frame, without its
// picture.
type Frame struct {
	Camera        string
	Time          time.Time
	Width, Height int
	// Detections are the live model's, in pixels, down to the tracker's
	// low threshold: close_to_threshold looks at them all, the other
	// strategies and the pre-labels at those at or above their class's
	// Threshold (Labels).
	Detections []dataset.Box
	Tracks     []Track
	// Threshold is the confidence threshold of a class; nil: every
	// detection counts, and no close_to_threshold.
	Threshold func(class int, label string) float64
}

// Labels are the detections at or above their class's threshold: what
// the live model reports, the example's pre-labels.
func (f *Frame) Labels() []dataset.Box {
	if f.Threshold == nil {
		return slices.Clone(f.Detections)
	}
	out := make([]dataset.Box, 0, len(f.Detections))
	for _, d := range f.Detections {
		if d.Score >= f.Threshold(d.Class, d.Label) {
			out = append(out, d)
		}
	}
	return out
}

// Limits cap the examples taken per camera; 0: no cap.
type Limits struct {
	PerMinute, PerHour, PerDay int
}

// Sampler decides which frames to take. It keeps, per camera, the last
// frame's tracks, the detections no track took, the times of the
// examples taken in the last day and the last example's hash. Safe for
// use by several goroutines.
type Sampler struct {
	Limits Limits
	// MaxDistance is how many of a Hash's 64 bits may differ for a frame
	// to count as a duplicate of the camera's last example, whose boxes it
	// must also repeat (a fixed camera's thumbnails all look alike: what
	// moves is the objects); negative: no duplicate skip.
	MaxDistance int
	Now         func() time.Time // the limits' clock; nil: time.Now
	Rand        func() float64   // the random strategy's draw in [0,1); nil: math/rand

	mu   sync.Mutex
	cams map[string]*camState
}

type camState struct {
	tracks    map[uint64]dataset.Box // the last frame's confirmed tracks
	pending   []pendingDet           // detections no track took, and for how many frames
	taken     []time.Time            // in the last day, oldest first
	last      Hash
	lastBoxes []dataset.Box
	hasLast   bool
}

type pendingDet struct {
	box    dataset.Box
	frames int
}

// Decide returns why the camera wants f under s: one reason per strategy
// that takes it, nil when none does. It updates the tracker strategies'
// state, so call it once per frame, in order.
func (sm *Sampler) Decide(s Strategies, f *Frame) []string {
	var why []string
	if eps := s.CloseToThreshold; eps > 0 && f.Threshold != nil {
		for _, d := range f.Detections {
			th := f.Threshold(d.Class, d.Label)
			if d.Score >= th-eps && d.Score <= th+eps {
				why = append(why, fmt.Sprintf("%s: %s %.2f (threshold %.2f ± %.2f)", ReasonCloseToThreshold, name(d), d.Score, th, eps))
				break
			}
		}
	}
	if s.Random > 0 && sm.draw() < s.Random {
		why = append(why, fmt.Sprintf("%s: 1 in %.0f frames", ReasonRandom, 1/s.Random))
	}
	labels := f.Labels()
	if len(s.Classes) > 0 {
		var hit []string
		for _, d := range labels {
			if n := name(d); !slices.Contains(hit, n) && (slices.Contains(s.Classes, d.Label) || slices.Contains(s.Classes, fmt.Sprint(d.Class))) {
				hit = append(hit, n)
			}
		}
		if len(hit) > 0 {
			sort.Strings(hit)
			why = append(why, fmt.Sprintf("%s: %s", ReasonClasses, strings.Join(hit, ", ")))
		}
	}
	if n := len(labels); (s.CountMin > 0 || s.CountMax > 0) && n >= s.CountMin && (s.CountMax == 0 || n <= s.CountMax) {
		why = append(why, fmt.Sprintf("%s: %d objects (range %d-%s)", ReasonCount, n, s.CountMin, upper(s.CountMax)))
	}
	why = append(why, sm.trackerReasons(s, f, labels)...)
	return why
}

func name(d dataset.Box) string {
	if d.Label != "" {
		return d.Label
	}
	return fmt.Sprint(d.Class)
}

func upper(max int) string {
	if max == 0 {
		return "any"
	}
	return fmt.Sprint(max)
}

// edgeMargin is how close to the picture's edge, in pixels, a track may
// end without counting as missed: it probably left the scene.
const edgeMargin = 8

func (sm *Sampler) trackerReasons(s Strategies, f *Frame, labels []dataset.Box) []string {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	cs := sm.cam(f.Camera)
	var why []string

	now := make(map[uint64]dataset.Box, len(f.Tracks))
	for _, t := range f.Tracks {
		now[t.ID] = t.Box
	}
	if s.TrackerMissed {
		var missed []string
		for id, b := range cs.tracks {
			if _, ok := now[id]; !ok && !nearEdge(b, f.Width, f.Height) {
				missed = append(missed, fmt.Sprintf("track %d %s", id, name(b)))
			}
		}
		if len(missed) > 0 {
			sort.Strings(missed)
			why = append(why, fmt.Sprintf("%s: %s not detected", ReasonTrackerMissed, strings.Join(missed, ", ")))
		}
	}
	cs.tracks = now

	// A detection no track took continues the pending one at about its
	// place; the others are forgotten.
	var next []pendingDet
	var flagged []string
	for _, d := range labels {
		if tookByTrack(d, f.Tracks) {
			continue
		}
		p := pendingDet{box: d, frames: 1}
		for _, q := range cs.pending {
			if q.box.Class == d.Class && iou(q.box, d) >= 0.5 {
				p.frames = q.frames + 1
				break
			}
		}
		if p.frames == UnmatchedFrames {
			flagged = append(flagged, fmt.Sprintf("%s %.2f", name(d), d.Score))
		}
		next = append(next, p)
	}
	cs.pending = next
	if s.TrackerUnmatched && len(flagged) > 0 {
		why = append(why, fmt.Sprintf("%s: %s in no track for %d frames", ReasonTrackerUnmatched, strings.Join(flagged, ", "), UnmatchedFrames))
	}
	return why
}

// tookByTrack: a track's box is the detection it matched, so a match is
// (about) the same box.
func tookByTrack(d dataset.Box, tracks []Track) bool {
	for _, t := range tracks {
		if iou(d, t.Box) >= 0.9 {
			return true
		}
	}
	return false
}

func nearEdge(b dataset.Box, w, h int) bool {
	return b.X <= edgeMargin || b.Y <= edgeMargin || b.X+b.W >= float64(w)-edgeMargin || b.Y+b.H >= float64(h)-edgeMargin
}

func iou(a, b dataset.Box) float64 {
	x1, y1 := max(a.X, b.X), max(a.Y, b.Y)
	x2, y2 := min(a.X+a.W, b.X+b.W), min(a.Y+a.H, b.Y+b.H)
	if x2 <= x1 || y2 <= y1 {
		return 0
	}
	inter := (x2 - x1) * (y2 - y1)
	return inter / (a.W*a.H + b.W*b.H - inter)
}

func (sm *Sampler) draw() float64 {
	if sm.Rand != nil {
		return sm.Rand()
	}
	return rand.Float64()
}

func (sm *Sampler) now() time.Time {
	if sm.Now != nil {
		return sm.Now()
	}
	return time.Now()
}

// cam is the camera's state; sm.mu held.
func (sm *Sampler) cam(id string) *camState {
	if sm.cams == nil {
		sm.cams = map[string]*camState{}
	}
	cs := sm.cams[id]
	if cs == nil {
		cs = &camState{}
		sm.cams[id] = cs
	}
	return cs
}

// Skip reasons, as Admit returns them and the metrics label them.
const (
	SkipLimit     = "limit"
	SkipDuplicate = "duplicate"
	SkipQueueFull = "queue_full"
	SkipError     = "error"
)

// Allowed says whether the camera's limits leave room for an example now
// ("" when they do, else SkipLimit); it takes nothing.
func (sm *Sampler) Allowed(camera string) string {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	cs := sm.cam(camera)
	now := sm.now()
	cs.expire(now)
	for _, l := range []struct {
		n   int
		win time.Duration
	}{{sm.Limits.PerMinute, time.Minute}, {sm.Limits.PerHour, time.Hour}, {sm.Limits.PerDay, 24 * time.Hour}} {
		if l.n > 0 && cs.since(now.Add(-l.win)) >= l.n {
			return SkipLimit
		}
	}
	return ""
}

// Duplicate says whether a frame hashed h with these boxes looks like the
// camera's last example: h within MaxDistance of its hash, and every box
// of either matched by one of the same class at about the same place in
// the other.
func (sm *Sampler) Duplicate(camera string, h Hash, boxes []dataset.Box) bool {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	cs := sm.cam(camera)
	return sm.MaxDistance >= 0 && cs.hasLast && h.Distance(cs.last) <= sm.MaxDistance &&
		covered(boxes, cs.lastBoxes) && covered(cs.lastBoxes, boxes)
}

func covered(a, b []dataset.Box) bool {
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y dataset.Box) bool { return x.Class == y.Class && iou(x, y) >= 0.5 }) {
			return false
		}
	}
	return true
}

// Took records an example of the camera, taken now with hash h and these
// boxes: it counts against the limits and is what the next frames are
// compared to.
func (sm *Sampler) Took(camera string, h Hash, boxes []dataset.Box) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	cs := sm.cam(camera)
	cs.taken = append(cs.taken, sm.now())
	cs.last, cs.lastBoxes, cs.hasLast = h, slices.Clone(boxes), true
}

// Forget drops a camera's state, for a camera that stopped.
func (sm *Sampler) Forget(camera string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	delete(sm.cams, camera)
}

func (cs *camState) expire(now time.Time) {
	cut := now.Add(-24 * time.Hour)
	i := 0
	for i < len(cs.taken) && !cs.taken[i].After(cut) {
		i++
	}
	cs.taken = cs.taken[i:]
}

// since counts the examples taken after t.
func (cs *camState) since(t time.Time) int {
	i := sort.Search(len(cs.taken), func(i int) bool { return cs.taken[i].After(t) })
	return len(cs.taken) - i
}
