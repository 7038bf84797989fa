package fleet

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigil-vision/vigil/internal/promreg"
)

type metrics struct {
	held      prometheus.Gauge
	unplaced  prometheus.Gauge
	takeovers prometheus.Counter
	handovers prometheus.Counter
	lost      prometheus.Counter
	renew     prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		held: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_fleet_leases_held",
			Help: "Fleet cameras whose lease this node holds."}),
		unplaced: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_fleet_unplaced_cameras",
			Help: "Fleet cameras no live node can take, as this node sees the fleet."}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_fleet_takeovers_total",
			Help: "Cameras this node took after their holder's lease expired (a node died or was cut off)."}),
		handovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_fleet_handovers_total",
			Help: "Cameras this node gave up on purpose: for balance, or leaving the fleet."}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_fleet_leases_lost_total",
			Help: "Camera leases this node lost (not renewed in time, or taken) and stopped."}),
		renew: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_fleet_renew_seconds",
			Help:    "Time a lease renewal took (a compare-and-swap write to JetStream).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1}}),
	}
	for _, err := range []error{
		promreg.Reuse(reg, &m.held), promreg.Reuse(reg, &m.unplaced), promreg.Reuse(reg, &m.takeovers),
		promreg.Reuse(reg, &m.handovers), promreg.Reuse(reg, &m.lost), promreg.Reuse(reg, &m.renew),
	} {
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}
