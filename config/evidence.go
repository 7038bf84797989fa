package config

import (
	"path/filepath"
	"time"
)

// Evidence configures each rule event's evidence (package evidence): a
// snapshot of the frame, the object highlighted and the rules drawn, and
// a thumbnail of the object, kept in the NATS object store bucket
// VIGIL_EVIDENCE within MaxBytes and MaxAge, and held in a disk spool
// while NATS is away. A rule's own evidence: block picks what it gets.
type Evidence struct {
	Enabled       *bool    `yaml:"enabled"`         // nil: true
	Bucket        string   `yaml:"bucket"`          // object store bucket
	MaxBytes      ByteSize `yaml:"max_bytes"`       // the oldest events' evidence goes first
	MaxAge        Duration `yaml:"max_age"`         // older evidence expires; 0: kept
	Replicas      int      `yaml:"replicas"`        // copies of the bucket when made; a fleet takes its own
	SpoolDir      string   `yaml:"spool_dir"`       // "" = <data_dir>/evidence-spool
	SpoolMaxBytes ByteSize `yaml:"spool_max_bytes"` // beyond it the oldest waiting evidence is dropped
	JPEGQuality   int      `yaml:"jpeg_quality"`
	Thumbnail     int      `yaml:"thumbnail"` // pixels on the thumbnail's longer side
	Clip          Clip     `yaml:"clip"`
}

// Clip says how clips are made: from a ring of each camera's last seconds
// (of the cameras whose rules want clips), encoded to VP8 as frames come
// and cut into a WebM once an event's post-roll has passed.
type Clip struct {
	FPS      int `yaml:"fps"`       // frames a second kept and shown, at most
	MaxWidth int `yaml:"max_width"` // wider cameras are scaled down to it
	Bitrate  int `yaml:"bitrate"`   // VP8, bits a second
}

// RuleEvidence is what evidence one rule's events get.
type RuleEvidence struct {
	Snapshot *bool    `yaml:"snapshot"` // nil: true (evidence.enabled permitting)
	Clip     *bool    `yaml:"clip"`     // nil: true
	Pre      Duration `yaml:"pre"`      // the clip from this long before the event (0: 5s)
	Post     Duration `yaml:"post"`     // to this long after it (0: 5s)
}

func defaultEvidence() Evidence {
	return Evidence{
		Bucket: "VIGIL_EVIDENCE", MaxBytes: 1 << 30, MaxAge: Duration(30 * 24 * time.Hour), Replicas: 1,
		SpoolMaxBytes: 256 << 20, JPEGQuality: 85, Thumbnail: 160,
		Clip: Clip{FPS: 10, MaxWidth: 1280, Bitrate: 1_000_000},
	}
}

// EvidenceOn reports whether events get evidence at all.
func (c *Config) EvidenceOn() bool { return c.Evidence.Enabled == nil || *c.Evidence.Enabled }

// Snapshot reports whether the rule's events get a snapshot, evidence
// being on.
func (r *Rule) Snapshot() bool {
	return r.Evidence == nil || r.Evidence.Snapshot == nil || *r.Evidence.Snapshot
}

// ClipWindow is how much video around its events the rule's clips show;
// ok is false when the rule takes no clip.
func (r *Rule) ClipWindow() (pre, post time.Duration, ok bool) {
	e := r.Evidence
	if e != nil && e.Clip != nil && !*e.Clip {
		return 0, 0, false
	}
	pre, post = DefaultClipPre, DefaultClipPost
	if e != nil && e.Pre > 0 {
		pre = e.Pre.D()
	}
	if e != nil && e.Post > 0 {
		post = e.Post.D()
	}
	return pre, post, true
}

// A clip's default pre-roll and post-roll, and the longest either may be.
const (
	DefaultClipPre  = 5 * time.Second
	DefaultClipPost = 5 * time.Second
	MaxClipRoll     = 30 * time.Second
)

// EvidenceSpoolPath is where evidence waits for NATS.
func (c *Config) EvidenceSpoolPath() string {
	if c.Evidence.SpoolDir != "" {
		return c.Evidence.SpoolDir
	}
	return filepath.Join(c.DataDir, "evidence-spool")
}

func (c *Config) validateEvidence(p *problems) {
	e := c.Evidence
	if !c.EvidenceOn() {
		return
	}
	if !jsNamePattern.MatchString(e.Bucket) {
		p.add("evidence.bucket", "%q; use 1-64 letters, digits, _ or -, e.g. VIGIL_EVIDENCE", e.Bucket)
	}
	if e.MaxBytes != 0 && e.MaxBytes < 1<<20 {
		p.add("evidence.max_bytes", "%s is too small for a snapshot or two; use at least 1MiB, e.g. 1GiB, or 0 for no bound", e.MaxBytes)
	}
	if e.MaxAge < 0 {
		p.add("evidence.max_age", "%s is negative; use a duration such as 720h, or 0 to keep evidence until max_bytes", e.MaxAge)
	}
	if e.Replicas < 1 || e.Replicas > 5 {
		p.add("evidence.replicas", "%d; use 1 to 5 (at most the servers of your NATS cluster)", e.Replicas)
	}
	if e.SpoolMaxBytes < 1<<20 {
		p.add("evidence.spool_max_bytes", "%s is too small; use at least 1MiB, e.g. 256MiB", e.SpoolMaxBytes)
	}
	if e.JPEGQuality < 1 || e.JPEGQuality > 100 {
		p.add("evidence.jpeg_quality", "%d; use 1 to 100, e.g. 85", e.JPEGQuality)
	}
	if e.Thumbnail < 16 || e.Thumbnail > 1024 {
		p.add("evidence.thumbnail", "%d pixels; use 16 to 1024, e.g. 160", e.Thumbnail)
	}
	if e.Clip.FPS < 1 || e.Clip.FPS > 30 {
		p.add("evidence.clip.fps", "%d; use 1 to 30 frames a second, e.g. 10", e.Clip.FPS)
	}
	if e.Clip.MaxWidth < 160 || e.Clip.MaxWidth > 3840 {
		p.add("evidence.clip.max_width", "%d pixels; use 160 to 3840, e.g. 1280", e.Clip.MaxWidth)
	}
	if e.Clip.Bitrate < 50_000 || e.Clip.Bitrate > 20_000_000 {
		p.add("evidence.clip.bitrate", "%d bits a second; use 50000 to 20000000, e.g. 1000000", e.Clip.Bitrate)
	}
}

// validate checks a rule's evidence block; path is the rule's.
func (e *RuleEvidence) validate(p *problems, path string) {
	if e == nil {
		return
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"pre", e.Pre}, {"post", e.Post}} {
		if d.v < 0 || d.v.D() > MaxClipRoll {
			p.add(path+".evidence."+d.key, "%s; use 0s to %s, e.g. 5s", d.v, MaxClipRoll)
		}
	}
}
