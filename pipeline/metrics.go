package pipeline

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigil-vision/vigil/internal/promreg"
)

type metrics struct {
	captured  *prometheus.CounterVec
	processed *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	stage     *prometheus.HistogramVec
	latency   *prometheus.HistogramVec
	cameraUp  *prometheus.GaugeVec
	inference *prometheus.HistogramVec
	errors    *prometheus.CounterVec
	gated     *prometheus.CounterVec
	motion    *prometheus.GaugeVec
	crops     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	ms := []float64{.001, .0025, .005, .01, .025, .05, .075, .1, .15, .2, .3, .5, .75, 1, 2, 5}
	m := &metrics{
		captured: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_frames_captured_total", Help: "Frames read from the camera.",
		}, []string{"camera"}),
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_frames_processed_total", Help: "Frames that went through tracking to the sinks: detected, or held by motion gating (vigil_gate_frames_total says which).",
		}, []string{"camera"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_frames_dropped_total", Help: "Frames dropped, by camera, stage and reason.",
		}, []string{"camera", "stage", "reason"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_stage_seconds", Help: "Time a frame spent in each stage.", Buckets: ms,
		}, []string{"stage"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_capture_to_publish_seconds", Help: "From capture to the sinks, per camera, of the frames the detector ran on.", Buckets: ms,
		}, []string{"camera"}),
		inference: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_detector_inference_seconds", Help: "Model run time per frame, by detector (camera group).", Buckets: ms,
		}, []string{"detector"}),
		cameraUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_camera_up", Help: "1 while the camera streams, 0 otherwise.",
		}, []string{"camera"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_stage_errors_total", Help: "Frames a stage failed on.",
		}, []string{"camera", "stage"}),
		gated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_gate_frames_total",
			Help: "Frames by motion gating's decision: to the detector (off, settling, motion, tracks, recheck) or not (still: tracks held and published; dropped: held while a detected frame was pending, counted in vigil_frames_dropped_total{stage=\"gate\"} too).",
		}, []string{"camera", "reason"}),
		motion: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_motion_fraction", Help: "Share of the camera's unmasked picture that moved in its last frame (motion gating).",
		}, []string{"camera"}),
		crops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_detector_crops_total", Help: "Crops at full resolution the detector looked at frames in (motion gating's regions: one inference each); frames looked at whole are not counted.",
		}, []string{"camera"}),
	}
	if err := errors.Join(promreg.Reuse(reg, &m.captured), promreg.Reuse(reg, &m.processed), promreg.Reuse(reg, &m.dropped),
		promreg.Reuse(reg, &m.stage), promreg.Reuse(reg, &m.latency), promreg.Reuse(reg, &m.inference),
		promreg.Reuse(reg, &m.cameraUp), promreg.Reuse(reg, &m.errors), promreg.Reuse(reg, &m.gated), promreg.Reuse(reg, &m.motion),
		promreg.Reuse(reg, &m.crops)); err != nil {
		panic(err) // a metric of the same name and other labels: a programming error
	}
	return m
}

// perCamera are the vecs with a camera label, whose series go with the
// camera.
func (m *metrics) perCamera() []interface {
	DeletePartialMatch(prometheus.Labels) int
} {
	return []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.captured, m.processed, m.dropped, m.latency, m.cameraUp, m.errors, m.gated, m.motion, m.crops}
}
