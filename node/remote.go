package node

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/infer"
)

// remoteRunner is a detector whose model runs on another node
// (model.remote): an infer.Remote with the head and the fallback it
// owns.
type remoteRunner struct {
	*infer.Remote
	head     *detect.Head
	fallback *detect.Detector
	name     string    // the detector's
	remotes  *sync.Map // the node's remote detectors by name, for remoteCollector
}

func (r *remoteRunner) Close() error {
	if r.remotes != nil {
		r.remotes.CompareAndDelete(r.name, r)
	}
	var errs []error
	if r.head != nil {
		errs = append(errs, r.head.Close())
	}
	if r.fallback != nil {
		errs = append(errs, r.fallback.Close())
	}
	return errors.Join(errs...)
}

// loadRemote loads a detector whose model.remote names a subject: with
// model.path a split's head, the head runs here; with a whole model, frames
// go out whole to a server of that model. remote.fallback, when set, is a
// whole model loaded here for the frames no server answers in time.
func (n *Node) loadRemote(cfg *config.Config, d config.Detector, o detect.Options, cameras []string) (*detector, error) {
	key := modelKey(cfg, d.Name) + ".remote"
	rc := d.Model.Remote
	part, err := detect.PartOf(o.Model)
	if err != nil {
		return nil, detectorError(d.Name, fmt.Errorf("%s.path: %w", modelKey(cfg, d.Name), err))
	}
	transport, err := infer.ParseDType(rc.Transport)
	if err != nil {
		return nil, detectorError(d.Name, fmt.Errorf("%s.transport: %w", key, err))
	}
	r := &remoteRunner{name: d.Name}
	ro := infer.RemoteOptions{Conn: n.nc, Subject: rc.Subject, Timeout: rc.Timeout.D(), Transport: transport, JPEGQuality: rc.JPEGQuality}
	switch part {
	case "head":
		if r.head, err = detect.NewHead(o); err != nil {
			return nil, detectorError(d.Name, err)
		}
		ro.Head = r.head
	case "":
		if ro.Source, err = infer.FileSource(o.Model); err != nil {
			return nil, detectorError(d.Name, fmt.Errorf("%s.path: %w", modelKey(cfg, d.Name), err))
		}
	default:
		return nil, detectorError(d.Name, fmt.Errorf("%s.path: %s is the %s of a split model; here give its head.onnx (the tail runs on the server: vigil serve infer --model tail.onnx)",
			modelKey(cfg, d.Name), o.Model, part))
	}
	if rc.Fallback != "" {
		fo := o
		fo.Model = rc.Fallback
		fo.ConfigPath = key + ".fallback"
		if r.fallback, err = detect.New(fo); err != nil {
			r.Close()
			return nil, detectorError(d.Name, err)
		}
		ro.Fallback = r.fallback
	}
	if r.Remote, err = infer.NewRemote(ro); err != nil {
		r.Close()
		return nil, detectorError(d.Name, fmt.Errorf("%s: %w", key, err))
	}
	sum, err := detect.FileSHA256(o.Model)
	if err != nil {
		r.Close()
		return nil, detectorError(d.Name, fmt.Errorf("%s.path: %w", modelKey(cfg, d.Name), err))
	}
	r.remotes = &n.remotes
	n.remotes.Store(d.Name, r)
	mode := "frames as JPEG"
	if r.head != nil {
		mode = "split: the head here, the cut as " + transport.String()
	}
	n.log.Info().Str("detector", d.Name).Str("model", o.Model).Str("subject", rc.Subject).Str("mode", mode).
		Str("fallback", rc.Fallback).Int("classes", len(r.Labels())).Strs("cameras", cameras).Msg("remote detector ready")
	return &detector{det: r, spec: specOf(cfg, d.Model), sum: sum, model: filepath.Base(o.Model) + "@" + sum[:8]}, nil
}

// remoteCollector exports the remote detectors' request counts
// (infer.RemoteStats) as metrics, by detector.
type remoteCollector struct{ remotes *sync.Map }

var (
	remoteRequests = prometheus.NewDesc("vigil_remote_requests_total", "Requests a remote detector (model.remote) sent: frames, or their cut tensors.", []string{"detector"}, nil)
	remoteBytes    = prometheus.NewDesc("vigil_remote_request_bytes_total", "Bytes of the requests a remote detector sent.", []string{"detector"}, nil)
	remoteFallback = prometheus.NewDesc("vigil_remote_fallbacks_total", "Frames a remote detector's local fallback model detected, no server having answered in time.", []string{"detector"}, nil)
	remoteFailed   = prometheus.NewDesc("vigil_remote_failures_total", "Frames a remote detector failed on: no answer and no fallback, or an error reply (dropped, counted in vigil_frames_dropped_total too).", []string{"detector"}, nil)
	remoteRTT      = prometheus.NewDesc("vigil_remote_rtt_seconds", "The round trip of a remote detector's last answered request, server time included.", []string{"detector"}, nil)
)

func (c remoteCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{remoteRequests, remoteBytes, remoteFallback, remoteFailed, remoteRTT} {
		ch <- d
	}
}

func (c remoteCollector) Collect(ch chan<- prometheus.Metric) {
	c.remotes.Range(func(k, v any) bool {
		name, st := k.(string), v.(*remoteRunner).Stats()
		ch <- prometheus.MustNewConstMetric(remoteRequests, prometheus.CounterValue, float64(st.Sent), name)
		ch <- prometheus.MustNewConstMetric(remoteBytes, prometheus.CounterValue, float64(st.Bytes), name)
		ch <- prometheus.MustNewConstMetric(remoteFallback, prometheus.CounterValue, float64(st.Fallback), name)
		ch <- prometheus.MustNewConstMetric(remoteFailed, prometheus.CounterValue, float64(st.Failed), name)
		ch <- prometheus.MustNewConstMetric(remoteRTT, prometheus.GaugeValue, st.RTT.Seconds(), name)
		return true
	})
}
