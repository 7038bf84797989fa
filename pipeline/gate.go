package pipeline

import (
	"context"
	"image"
	"math"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/motion"
	"github.com/vigil-vision/vigil/rules"
)

// Gate is a camera's motion gating: the detector runs on a frame when
// something moves in it, while the camera has tracks that move (or one
// that stood still and was just lost, for lookAgain detected frames:
// Tracking.Activity), and otherwise once every StationaryInterval (tracks
// standing still) or IdleInterval (no tracks) of frame time. A frame the
// detector does not run on still goes through tracking (Tracking.Hold: its
// tracks are the last detected frame's, and the tracker's clock stands
// still for them; lost tracks age), the rules
// and the sinks, with Result.Skipped set; when the camera has a frame
// waiting for the detector or in its hands, a live camera's held frame is
// dropped instead (the detector's result comes next; counted in
// vigil_frames_dropped_total{stage="gate"}), and a lossless camera waits
// for it, so that its results stay in order and a run is reproducible.
// While the live camera's frame still waits (the detector serves other
// cameras), the newer frame takes its place and the older one is dropped:
// the detector looks at the freshest frame, for the reason and in the
// regions decided on the first (mailbox.replace). Across cameras, frames
// with motion or moving tracks are served first; a recheck, or a frame
// while the motion background forms (settling: at a camera's start, after
// a sudden change of light), joins them once it has waited recheckWait, so
// that cameras starting together do not hold up those where something
// moves (motion-bench, eight cameras: settling frames had been the
// slowest, p99 955 ms against 298 for motion). Among them, a camera with
// an object near a line of Watch goes first (group.pick).
//
// A nil Gate sends every frame to the detector, as without gating.
type Gate struct {
	Motion motion.Options
	// IdleInterval: a camera without tracks gets a detector look at
	// least this often (5s when 0).
	IdleInterval time.Duration
	// StationaryInterval: a camera whose tracks all stand still gets a
	// look at least this often (5s when 0). An object that stands still
	// needs no more: when it moves, or leaves, motion shows it.
	StationaryInterval time.Duration
	// MinSpeed is how fast a track must move, in its box heights per
	// second, to be followed on every frame (0.1 when 0).
	MinSpeed float64
	// Regions, when set, looks at large frames in crops at full
	// resolution; nil: frames go to the detector whole.
	Regions *Regions
	// Watch, when set, is where the camera's rules count
	// (rules.NewWatch). While the camera's last detected frame has an
	// object near one of its lines, a busy detector serves the camera
	// before cameras where things move elsewhere (group.pick), so that
	// the frames around a crossing come close together.
	Watch *rules.Watch
}

func (g Gate) withDefaults() Gate {
	if g.IdleInterval <= 0 {
		g.IdleInterval = 5 * time.Second
	}
	if g.StationaryInterval <= 0 {
		g.StationaryInterval = 5 * time.Second
	}
	if g.MinSpeed <= 0 {
		g.MinSpeed = 0.1
	}
	if g.Regions != nil {
		r := g.Regions.withDefaults()
		g.Regions = &r
	}
	return g
}

// Why a frame went to the detector or not, as in Result.Gate and the
// vigil_gate_frames_total metric.
const (
	GateOff      = "off"      // no gating: every frame
	GateSettling = "settling" // the motion background is forming
	GateMotion   = "motion"   // something moved
	GateTracks   = "tracks"   // the camera has moving tracks, or just lost one
	GateRecheck  = "recheck"  // the interval since the last look passed
	GateStill    = "still"    // skipped: nothing moved; tracks held
	GateDropped  = "dropped"  // skipped and dropped: a detected frame was pending
)

// gateReasons index camEntry.gated.
var gateReasons = [...]string{GateOff, GateSettling, GateMotion, GateTracks, GateRecheck, GateStill, GateDropped}

func gateIndex(reason string) int {
	for i, r := range gateReasons {
		if r == reason {
			return i
		}
	}
	return 0
}

// MotionInfo is what motion detection saw on a frame.
type MotionInfo struct {
	Fraction float64           // share of the unmasked picture that moved
	Boxes    []image.Rectangle // moving blobs, in frame pixels
}

// gater decides, on a camera's goroutine, which of its frames the detector
// sees. It owns the camera's motion.Detector.
type gater struct {
	p     *Pipeline
	e     *camEntry
	cfg   *Gate // the settings det was made for; nil: no gating
	det   *motion.Detector
	last  time.Time // frame time of the last frame handed to the detector
	whole time.Time // of the last one it was to look at whole (Gate.Regions)
	check bool      // the next frame must go to the detector (a new setting)
}

// close frees the motion detector; the camera goroutine calls it on exit.
func (g *gater) close() {
	if g.det != nil {
		g.det.Close()
		g.det = nil
	}
}

// follow picks up a changed setting (SetGate): with other motion options,
// a new motion detector, whose background forms again.
func (g *gater) follow() {
	cfg := g.e.gate.Load()
	if cfg == g.cfg {
		return
	}
	if cfg != nil && g.cfg != nil && reflect.DeepEqual(cfg.Motion, g.cfg.Motion) {
		g.cfg = cfg // intervals, regions, rules: read from cfg on each frame
		return
	}
	g.close()
	g.cfg = cfg
	if cfg != nil {
		g.det = motion.New(cfg.Motion)
	}
	g.check = true
}

// decision is a gater's verdict on one frame.
type decision struct {
	detect  bool
	reason  string
	motion  *MotionInfo
	regions []image.Rectangle // crops to look in (Gate.Regions); none: the whole frame
}

// check says whether the detector looks for no known motion: a periodic
// recheck, or a frame while the background forms.
func (d decision) check() bool { return d.reason == GateRecheck || d.reason == GateSettling }

// decide looks at a frame. For a lossless camera with nothing moving it
// first waits until the frames the detector took before it are through
// tracking, so that the decision rests on their tracks, the same in every
// run; it returns false when ctx ended meanwhile.
func (g *gater) decide(ctx context.Context, f *capture.Frame) (decision, bool) {
	g.follow()
	if g.cfg == nil {
		return decision{detect: true, reason: GateOff}, true
	}
	m := g.det.Detect(f.Image)
	info := &MotionInfo{Fraction: m.Fraction, Boxes: m.Boxes}
	g.e.motionFrac.Store(math.Float64bits(m.Fraction))
	d := decision{detect: true, motion: info}
	switch {
	case m.Settling || g.check:
		d.reason = GateSettling
	case m.Moving():
		d.reason = GateMotion
	default:
		if f.Lossless && !g.e.waitDrained(ctx) {
			return d, false
		}
		tracks, moving := int(g.e.tracks.Load()), int(g.e.moving.Load())
		interval := g.cfg.IdleInterval
		if tracks > 0 {
			interval = g.cfg.StationaryInterval
		}
		switch {
		case moving > 0:
			d.reason = GateTracks
		case g.last.IsZero() || f.Time.Sub(g.last) >= interval || f.Time.Before(g.last):
			d.reason = GateRecheck
		case g.e.box.drained():
			d.detect, d.reason = false, GateStill
		default:
			d.detect, d.reason = false, GateDropped
		}
	}
	if !d.detect {
		return d, true
	}
	g.last, g.check = f.Time, false
	var ok bool
	d.regions, ok = g.regions(ctx, f, d)
	return d, ok
}

// SetGate sets a camera's motion gating (nil: none) from its next frame;
// when the motion options changed, the motion background forms again. A
// camera the pipeline does not have yet gets it when added.
func (p *Pipeline) SetGate(camera string, g *Gate) error {
	if g != nil {
		d := g.withDefaults()
		g = &d
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state >= stopping {
		return ErrStopped
	}
	if old := p.gates[camera]; reflect.DeepEqual(old, g) {
		return nil
	}
	if g == nil {
		delete(p.gates, camera)
	} else {
		p.gates[camera] = g
	}
	if e := p.cams[camera]; e != nil {
		e.gate.Store(g)
	}
	return nil
}

// GateCounts are a camera's frames by gate reason (GateOff … GateDropped),
// and the share of its picture that moved in its last frame.
type GateCounts struct {
	Frames   map[string]uint64
	Motion   float64
	Gated    bool // the camera has a Gate
	Tracks   int  // tracks of its last detected frame
	Moving   int  // tracks moving, or standing ones just lost
	Near     bool // its last detected frame had an object near a line of Gate.Watch
	Interval time.Duration
	// RegionFrames were looked at in Crops crops at full resolution
	// (Gate.Regions) rather than whole.
	RegionFrames, Crops uint64
}

// Gating is a camera's GateCounts; false for a camera the pipeline does
// not have.
func (p *Pipeline) Gating(camera string) (GateCounts, bool) {
	p.mu.Lock()
	e := p.cams[camera]
	p.mu.Unlock()
	if e == nil {
		return GateCounts{}, false
	}
	c := GateCounts{Frames: map[string]uint64{}, Motion: math.Float64frombits(e.motionFrac.Load()),
		Tracks: int(e.tracks.Load()), Moving: int(e.moving.Load()), Near: e.near.Load(),
		RegionFrames: e.regionFrames.Load(), Crops: e.crops.Load()}
	for i, r := range gateReasons {
		if n := e.gated[i].Load(); n > 0 {
			c.Frames[r] = n
		}
	}
	if g := e.gate.Load(); g != nil {
		c.Gated = true
		c.Interval = g.IdleInterval
		if c.Tracks > 0 {
			c.Interval = g.StationaryInterval
		}
	}
	return c, true
}

// hold sends a frame the detector does not run on straight to tracking;
// the camera has nothing pending, so it comes after the camera's earlier
// frames.
func (p *Pipeline) hold(e *camEntry, f *capture.Frame, d decision) {
	e.inflight.Add(1)
	p.results <- &Result{Frame: f, Skipped: true, Gate: d.reason, Motion: d.motion, cam: e}
}

// gateCounters are a camEntry's counts by reason.
type gateCounters [len(gateReasons)]atomic.Uint64

// NearLine says whether one of dets, in a frame of width × height, is
// near a line of w (rules.Watch.Near): what marks a camera's detected
// frame for Gate.Watch. Detections rather than tracks: an object the
// tracker has not confirmed yet may be about to cross, and its crossing
// counts once it is (track.Track.First).
func NearLine(w *rules.Watch, dets []detect.Detection, width, height int) bool {
	for _, d := range dets {
		if w.Near(trackBox(d.Box), d.Class, width, height) {
			return true
		}
	}
	return false
}
