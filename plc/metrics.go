package plc

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events       *prometheus.CounterVec
	fenced       *prometheus.CounterVec
	writes       *prometheus.CounterVec
	writeSeconds prometheus.Histogram
	retries      prometheus.Counter
	up           prometheus.Gauge
	latency      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_plc_events_total", Help: "Events handled, by result: written, ignored (no mapping), fenced (an old owner's), malformed, unmappable.",
		}, []string{"result"}),
		fenced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_plc_events_fenced_total", Help: "Events skipped because their lease_epoch is older than one already seen for their camera: a late event of the camera's old owner.",
		}, []string{"camera"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_plc_writes_total", Help: "Modbus writes, by kind (coil, register) and result (ok, error).",
		}, []string{"kind", "result"}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_plc_write_seconds", Help: "One Modbus write, connecting included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_plc_retries_total", Help: "Failed writes retried while the event was held.",
		}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_plc_up", Help: "1 after a successful write, 0 after a failed one.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_plc_event_latency_seconds", Help: "From the event's frame capture to its last write acknowledged.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
	}
	for _, c := range []prometheus.Collector{m.events, m.fenced, m.writes, m.writeSeconds, m.retries, m.up, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
