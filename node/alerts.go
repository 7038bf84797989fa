package node

import (
	"time"

	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/rules"
)

// startAlerts starts the rules' events: the spool, the stream and the
// counts bucket, with the cameras that have rules now (their counts are
// restored from the bucket, as after a restart). A node starts them once,
// when a camera first has rules.
func (n *Node) startAlerts(cfg *config.Config, compiled map[string][]rules.Rule) error {
	var cams []alerts.CameraRules
	for _, c := range cfg.Cameras {
		if rs := compiled[c.ID]; len(rs) > 0 {
			cams = append(cams, alerts.CameraRules{Camera: c.ID, Rules: rs})
		}
	}
	a := cfg.Alerts
	o := alerts.Options{
		Conn: n.nc, Prefix: cfg.NATS.SubjectPrefix, Cameras: cams,
		Spool: alerts.SpoolOptions{Dir: cfg.SpoolPath(), MaxBytes: int64(a.SpoolMaxBytes), MaxAge: a.SpoolMaxAge.D()},
		Stream: alerts.StreamOptions{Name: a.Stream.Name, MaxAge: a.Stream.MaxAge.D(), MaxBytes: int64(a.Stream.MaxBytes),
			Duplicates: a.Stream.DuplicateWindow.D(), Replicas: a.Stream.Replicas},
		CountsBucket: a.CountsBucket, RestoreCounts: a.RestoreCounts == nil || *a.RestoreCounts,
		Registerer: n.reg, Logger: n.log,
	}
	if cfg.Fleet.Enabled {
		// A camera's events and counts must survive the node that wrote
		// them: in a fleet they get the fleet's copies, unless the file
		// asks for more.
		o.Fence = n.fence
		r := fleetReplicas(cfg)
		o.Stream.Replicas = max(o.Stream.Replicas, r)
		o.CountsReplicas = r
	}
	al, err := alerts.New(o)
	if err != nil {
		return err
	}
	if err := al.Start(3 * time.Second); err != nil {
		al.Close(0)
		return err
	}
	n.alerts.Store(al)
	if err := n.startEvidence(cfg); err != nil {
		return err
	}
	rs := 0
	for _, c := range cams {
		rs += len(c.Rules)
	}
	n.log.Info().Int("rules", rs).Str("subjects", alerts.EventSubject(cfg.NATS.SubjectPrefix, "<camera>", "<rule>")).
		Str("stream", a.Stream.Name).Str("counts_bucket", a.CountsBucket).Str("spool", cfg.SpoolPath()).
		Str("commands", alerts.CommandSubject(cfg.NATS.SubjectPrefix, "<camera>")).Msg("alerts ready")
	return nil
}
