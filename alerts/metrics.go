package alerts

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigil-vision/vigil/internal/promreg"
)

type metrics struct {
	accepted   *prometheus.CounterVec
	published  prometheus.Counter
	duplicates prometheus.Counter
	errors     *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	pending    prometheus.Gauge
	bytes      prometheus.Gauge
	append     prometheus.Histogram
	events     *prometheus.CounterVec
	// The spool's write failures (a full disk): events held in memory.
	unspooled    prometheus.Counter
	held         prometheus.Gauge
	spoolFailing prometheus.Gauge
	// countsFenced: counts values a newer owner's value kept out of the
	// bucket.
	countsFenced prometheus.Counter
}

func (m *metrics) errorsVec() *prometheus.CounterVec {
	if m == nil {
		return nil
	}
	return m.errors
}

// newMetrics registers the alert metrics, or reuses those registered before.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerts_accepted_total", Help: "Rule events written to the spool.",
		}, []string{"camera"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alerts_published_total", Help: "Rule events acknowledged by JetStream.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alerts_duplicates_total", Help: "Re-sent events JetStream already held (dropped by Nats-Msg-Id).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerts_errors_total", Help: "Failed spool writes and publish attempts (publishes are retried).",
		}, []string{"op"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerts_dropped_total",
			Help: "Events dropped before delivery, by reason: the spool full or too old, or held in memory while the spool could not be written (disk_full, write_error) beyond the memory's bounds.",
		}, []string{"reason"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_alerts_spool_pending", Help: "Events in the spool not yet acknowledged by JetStream.",
		}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_alerts_spool_bytes", Help: "Bytes of the pending events.",
		}),
		append: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_alerts_spool_append_seconds", Help: "Writing and syncing one event to the spool.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_rule_events_total", Help: "Events reported by the rules.",
		}, []string{"camera", "rule", "type"}),
		unspooled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alerts_unspooled_total",
			Help: "Events the spool could not write when they came (a full disk): held in memory, then spooled late, published from memory or dropped.",
		}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_alerts_held", Help: "Events held in memory because the spool could not write them.",
		}),
		spoolFailing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_alerts_spool_failing", Help: "1 while the spool cannot be written (a full disk): new events are held in memory.",
		}),
		countsFenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alerts_counts_fenced_total",
			Help: "Counts values not written because the bucket held one of a greater lease epoch (a newer owner's).",
		}),
	}
	if err := errors.Join(promreg.Reuse(reg, &m.accepted), promreg.Reuse(reg, &m.published), promreg.Reuse(reg, &m.duplicates),
		promreg.Reuse(reg, &m.errors), promreg.Reuse(reg, &m.dropped), promreg.Reuse(reg, &m.pending), promreg.Reuse(reg, &m.bytes),
		promreg.Reuse(reg, &m.append), promreg.Reuse(reg, &m.events), promreg.Reuse(reg, &m.countsFenced),
		promreg.Reuse(reg, &m.unspooled), promreg.Reuse(reg, &m.held), promreg.Reuse(reg, &m.spoolFailing)); err != nil {
		return nil, err
	}
	return m, nil
}
