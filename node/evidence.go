package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/dataset"
	"github.com/vigil-vision/vigil/evidence"
	"github.com/vigil-vision/vigil/liveview"
	"github.com/vigil-vision/vigil/pipeline"
	"gocv.io/x/gocv"
)

// startEventsAPI serves the events and their evidence over HTTP
// (evidence.API), from an index that follows the events stream: in a
// fleet, every node's events. Without JetStream there is no stream to
// follow, and no API.
func (n *Node) startEventsAPI(cfg *config.Config, mux *http.ServeMux) error {
	if cfg.NATS.URL == "" && cfg.NATS.JetStream != nil && !*cfg.NATS.JetStream {
		return nil
	}
	js, err := jetstream.New(n.nc)
	if err != nil {
		return fmt.Errorf("events API: %w", err)
	}
	x := evidence.NewIndex(js, evidence.IndexOptions{Stream: cfg.Alerts.Stream.Name, Prefix: cfg.NATS.SubjectPrefix, Logger: n.log})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); x.Run(ctx) }()
	n.stopIndex = func() { cancel(); wg.Wait() }
	api := &evidence.API{Index: x, JS: js, CountsBucket: cfg.Alerts.CountsBucket, Done: ctx.Done(), OnReview: n.reviewExample}
	api.Register(mux)
	// Reviews: opened once NATS answers, then followed.
	replicas := cfg.Alerts.Stream.Replicas
	if cfg.Fleet.Enabled {
		replicas = max(replicas, fleetReplicas(cfg))
	}
	go func() {
		defer wg.Done()
		for wait := time.Second; ctx.Err() == nil; wait = min(2*wait, 30*time.Second) {
			octx, cancel := context.WithTimeout(ctx, 10*time.Second)
			kv, err := evidence.OpenReviews(octx, js, evidence.DefaultReviewBucket, replicas)
			cancel()
			if err == nil {
				api.SetReviews(kv)
				x.FollowReviews(ctx, kv)
				return
			}
			n.log.Debug().Err(err).Msg("events API: reviews bucket not open yet")
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}()
	return nil
}

// startEvidence starts the events' evidence: its spool and the uploader
// to the bucket. It runs with the alerts, once a camera has rules.
func (n *Node) startEvidence(cfg *config.Config) error {
	if !cfg.EvidenceOn() || n.evidence.Load() != nil {
		return nil
	}
	e := cfg.Evidence
	b := evidence.BucketOptions{Name: e.Bucket, Replicas: e.Replicas, MaxBytes: int64(e.MaxBytes), MaxAge: e.MaxAge.D()}
	b.Replicas = max(b.Replicas, cfg.Alerts.Stream.Replicas) // as durable as the events
	if cfg.Fleet.Enabled {
		b.Replicas = max(b.Replicas, fleetReplicas(cfg)) // evidence outlives the node that took it
	}
	r, err := evidence.New(evidence.Options{
		Conn: n.nc, Prefix: cfg.NATS.SubjectPrefix, Bucket: b,
		SpoolDir: cfg.EvidenceSpoolPath(), SpoolMaxBytes: int64(e.SpoolMaxBytes),
		Quality: e.JPEGQuality, Thumbnail: e.Thumbnail, Registerer: n.reg, Logger: n.log,
		Clip:      evidence.ClipOptions{FPS: float64(e.Clip.FPS), MaxWidth: e.Clip.MaxWidth, Bitrate: e.Clip.Bitrate},
		KeepFrame: cfg.ExamplesUsed(), // a reviewed event's frame becomes a hard example
	})
	if err != nil {
		return err
	}
	r.SetClipCameras(clipCameras(cfg))
	r.Start()
	n.evidence.Store(r)
	n.log.Info().Str("bucket", e.Bucket).Str("spool", cfg.EvidenceSpoolPath()).
		Str("records", alerts.EvidenceFilter(cfg.NATS.SubjectPrefix)).Msg("evidence ready")
	return nil
}

// clipCameras are the cameras whose rules want clips, each with how much
// video its ring keeps: its rules' longest pre-roll and post-roll, and two
// seconds for the frames on their way.
func clipCameras(cfg *config.Config) map[string]time.Duration {
	keep := map[string]time.Duration{}
	if !cfg.EvidenceOn() {
		return keep
	}
	for _, c := range cfg.Cameras {
		if c.Enabled != nil && !*c.Enabled {
			continue
		}
		for i := range c.Rules {
			if pre, post, ok := c.Rules[i].ClipWindow(); ok {
				keep[c.ID] = max(keep[c.ID], pre+post+2*time.Second)
			}
		}
	}
	return keep
}

// setClipCameras follows a changed config: cameras and rules that want
// clips keep a ring from now on, the others drop theirs.
func (n *Node) setClipCameras(cfg *config.Config) {
	if r := n.evidence.Load(); r != nil {
		r.SetClipCameras(clipCameras(cfg))
	}
}

// evidenceTap hands every captured frame to the evidence recorder's clip
// rings, once there is a recorder.
type evidenceTap struct{ n *Node }

func (t evidenceTap) Frame(f *capture.Frame) {
	if r := t.n.evidence.Load(); r != nil {
		r.Frame(f)
	}
}

func (n *Node) stopEvidence() {
	if r := n.evidence.Load(); r != nil {
		r.Close(alertsFlush)
		st := r.Spool()
		n.log.Info().Int("spooled", st.Len()).Msg("evidence stopped")
	}
}

// captureEvidence asks for the evidence of the events accepted on a
// frame, as each event's rule wants it: a snapshot (the event's track
// highlighted among the frame's others, the camera's rules drawn) and a
// clip around it.
func (n *Node) captureEvidence(r *pipeline.Result, msgs []alerts.Message) {
	rec := n.evidence.Load()
	if rec == nil {
		return
	}
	f := r.Frame
	cfg := n.Config()
	var rules []config.Rule
	for _, c := range cfg.Cameras {
		if c.ID == f.Camera {
			rules = c.Rules
			break
		}
	}
	rule := func(name string) *config.Rule {
		for i := range rules {
			if rules[i].Name == name {
				return &rules[i]
			}
		}
		return nil // a rule removed meanwhile
	}
	w, h := f.Image.Cols(), f.Image.Rows()
	overlay := n.overlay(f.Camera, w, h)
	var reqs []evidence.Request
	for _, m := range msgs {
		ru := rule(m.Rule)
		if ru == nil {
			continue
		}
		q := evidence.Request{Event: m}
		if pre, post, ok := ru.ClipWindow(); ok {
			q.Clip = &evidence.Window{Pre: pre, Post: post}
		}
		if ru.Snapshot() {
			s := &evidence.Shot{Overlay: func(img *gocv.Mat) { overlay.Draw(img) }, Caption: caption(m)}
			for _, t := range r.Tracks {
				o := evidence.Object{Box: liveview.Rect(t.Box), Class: t.Class, Label: liveview.TrackLabel(t, r.Labels),
					Score: t.Score, TrackID: t.ID}
				if t.Class >= 0 && t.Class < len(r.Labels) {
					o.Name = r.Labels[t.Class]
				}
				if t.ID == m.TrackID && m.TrackID != 0 {
					s.Box, s.Label, s.Object = o.Box, o.Label, &o
					continue
				}
				s.Others = append(s.Others, o)
			}
			q.Shot = s
		}
		if q.Shot != nil || q.Clip != nil {
			reqs = append(reqs, q)
		}
	}
	rec.Capture(f.Image, reqs)
}

// reviewExample makes a hard example of a reviewed event's frame, where
// hard examples are captured: the frame as captured, its tracks as
// pre-labels (without the event's object when it was a false alarm), the
// verdict as the reason.
func (n *Node) reviewExample(ctx context.Context, e evidence.Event, rv evidence.Review, frame []byte) (string, error) {
	if n.examples == nil {
		return "", nil // no hard examples here
	}
	rec := e.Evidence
	if rec == nil || frame == nil {
		return "", errors.New("no frame of this event is kept (it has no snapshot, or came before hard examples were on)")
	}
	ex := dataset.Example{ID: "review-" + e.ID, Camera: e.Camera, Time: e.Time, JPEG: frame, Width: rec.Width, Height: rec.Height,
		Reason: fmt.Sprintf("review %s: %s %s", rv.Verdict, e.Rule, e.Type)}
	for _, o := range rec.Objects {
		if rv.Verdict == evidence.VerdictFalseAlarm && e.TrackID != 0 && o.TrackID == e.TrackID {
			continue // what the person said was not there
		}
		b := o.XYXY
		ex.Boxes = append(ex.Boxes, dataset.Box{Class: o.Class, Label: o.Name, Score: o.Score,
			X: float64(b[0]), Y: float64(b[1]), W: float64(b[2] - b[0]), H: float64(b[3] - b[1])})
	}
	if err := n.examples.capture.Store.Put(ctx, ex); err != nil {
		return "", fmt.Errorf("hard example: %w", err)
	}
	return ex.ID, nil
}

// caption names the event on its snapshot: the rule, what happened and
// when.
func caption(m alerts.Message) string {
	what := string(m.Type)
	if m.Direction != "" {
		what += " " + m.Direction
	}
	return fmt.Sprintf("%s  %s: %s  %s", m.Camera, m.Rule, what, m.Time.Local().Format(time.DateTime+".000"))
}
