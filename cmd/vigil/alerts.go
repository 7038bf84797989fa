package main

import (
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/pipeline"
)

// alertsFlush bounds how long a stopping vigil waits for the spool to reach
// NATS; what is left stays on disk for the next start.
const alertsFlush = 5 * time.Second

// startAlerts runs the cameras' rules and publishes their events, when any
// camera has rules; otherwise it returns nil. labelsOf gives each detector's
// class names: a camera's rules are checked against its detector's.
func startAlerts(cfg *config.Config, nc *nats.Conn, labelsOf func(detector string) []string, reg prometheus.Registerer, log zerolog.Logger) (*alerts.Alerts, error) {
	if !cfg.HasRules() {
		return nil, nil
	}
	compiled, err := cfg.CompileRulesFor(labelsOf)
	if err != nil {
		return nil, err
	}
	var cams []alerts.CameraRules
	for _, c := range cfg.Cameras {
		if rs := compiled[c.ID]; len(rs) > 0 {
			cams = append(cams, alerts.CameraRules{Camera: c.ID, Rules: rs})
		}
	}
	a := cfg.Alerts
	al, err := alerts.New(alerts.Options{
		Conn: nc, Prefix: cfg.NATS.SubjectPrefix, Cameras: cams,
		Spool: alerts.SpoolOptions{Dir: cfg.SpoolPath(), MaxBytes: int64(a.SpoolMaxBytes), MaxAge: a.SpoolMaxAge.D()},
		Stream: alerts.StreamOptions{Name: a.Stream.Name, MaxAge: a.Stream.MaxAge.D(), MaxBytes: int64(a.Stream.MaxBytes),
			Duplicates: a.Stream.DuplicateWindow.D(), Replicas: a.Stream.Replicas},
		CountsBucket: a.CountsBucket, RestoreCounts: a.RestoreCounts == nil || *a.RestoreCounts,
		Registerer: reg, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if err := al.Start(3 * time.Second); err != nil {
		al.Close(0)
		return nil, err
	}
	n := 0
	for _, c := range cams {
		n += len(c.Rules)
	}
	log.Info().Int("rules", n).Str("subjects", alerts.EventSubject(cfg.NATS.SubjectPrefix, "<camera>", "<rule>")).
		Str("stream", a.Stream.Name).Str("counts_bucket", a.CountsBucket).Str("spool", cfg.SpoolPath()).
		Str("commands", alerts.CommandSubject(cfg.NATS.SubjectPrefix, "<camera>")).Msg("alerts ready")
	return al, nil
}

// alertsSink runs the rules on every processed frame, in the pipeline's sink
// goroutine; an event costs one synced spool write.
func alertsSink(al *alerts.Alerts) pipeline.Sink {
	return pipeline.SinkFunc(func(r *pipeline.Result) {
		f := r.Frame
		al.Observe(f.Camera, f.Seq, f.Time, f.Image.Cols(), f.Image.Rows(), r.Tracks, r.Labels)
	})
}

// mqttListen is the embedded server's MQTT address, "" when off.
func mqttListen(cfg *config.Config) string {
	if !cfg.NATS.MQTT.Enabled {
		return ""
	}
	return cfg.NATS.MQTT.Listen
}
