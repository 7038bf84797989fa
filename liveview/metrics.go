package liveview

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	viewers          *prometheus.GaugeVec
	encodersRunning  *prometheus.GaugeVec
	encodersStarted  *prometheus.CounterVec
	encodeSeconds    *prometheus.HistogramVec
	framesEncoded    *prometheus.CounterVec
	dropped          *prometheus.CounterVec
	viewerDropped    *prometheus.CounterVec
	keyframeRequests *prometheus.CounterVec
	mjpegClients     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		viewers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_liveview_viewers", Help: "WebRTC viewers per camera.",
		}, []string{"camera"}),
		encodersRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_liveview_encoders_running", Help: "1 while the camera's video encoder runs (it has viewers), else 0.",
		}, []string{"camera"}),
		encodersStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_liveview_encoders_started_total", Help: "Times the camera's encoder was started (by a first viewer).",
		}, []string{"camera"}),
		encodeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_liveview_encode_seconds", Help: "Time to convert and encode one frame.",
			Buckets: []float64{.001, .002, .004, .006, .008, .012, .016, .025, .04, .06, .1, .2},
		}, []string{"camera", "codec"}),
		framesEncoded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_liveview_frames_encoded_total", Help: "Frames encoded for WebRTC viewers.",
		}, []string{"camera"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_liveview_dropped_frames_total",
			Help: "Frames the live view dropped: draw_busy and encoder_busy (a newer frame replaced one not yet taken), viewer_slow (all viewers), mjpeg_slow.",
		}, []string{"camera", "reason"}),
		viewerDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_liveview_viewer_dropped_frames_total", Help: "Encoded frames dropped for one viewer that fell behind; the series goes when the viewer leaves.",
		}, []string{"camera", "viewer"}),
		keyframeRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_liveview_keyframe_requests_total", Help: "Keyframes requested: viewer_joined, pli, fir, resync (a slow viewer dropped frames).",
		}, []string{"camera", "reason"}),
		mjpegClients: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_liveview_mjpeg_clients", Help: "Open MJPEG streams per camera.",
		}, []string{"camera"}),
	}
	reg.MustRegister(m.viewers, m.encodersRunning, m.encodersStarted, m.encodeSeconds, m.framesEncoded,
		m.dropped, m.viewerDropped, m.keyframeRequests, m.mjpegClients)
	return m
}

// initCamera makes a camera's series show before anyone watches.
func (m *metrics) initCamera(id string) {
	m.viewers.WithLabelValues(id).Set(0)
	m.encodersRunning.WithLabelValues(id).Set(0)
	m.encodersStarted.WithLabelValues(id)
	m.framesEncoded.WithLabelValues(id)
	m.mjpegClients.WithLabelValues(id).Set(0)
}

// deleteCamera deletes every series of a removed camera.
func (m *metrics) deleteCamera(id string) {
	l := prometheus.Labels{"camera": id}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.viewers, m.encodersRunning, m.encodersStarted, m.encodeSeconds, m.framesEncoded,
		m.dropped, m.viewerDropped, m.keyframeRequests, m.mjpegClients,
	} {
		v.DeletePartialMatch(l)
	}
}
