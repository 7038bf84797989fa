package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/infer"
	"github.com/vigil-vision/vigil/model"
)

// remoteRunner is a detector whose model runs on another node
// (model.remote): an infer.Remote with the head and the fallback it
// owns.
type remoteRunner struct {
	*infer.Remote
	head     *detect.Head
	fallback *detect.Detector
	name     string // the detector's
	subject  string
	mode     string    // "jpeg" or "split"
	remotes  *sync.Map // the node's remote detectors by name, for remoteCollector
	// watch probes the link and, with model.remote.plan.goal, checks the
	// plan; stop ends it and waits.
	watch *infer.Watch
	stop  func()
}

func (r *remoteRunner) Close() error {
	if r.remotes != nil {
		r.remotes.CompareAndDelete(r.name, r)
	}
	if r.stop != nil {
		r.stop()
	}
	var errs []error
	if r.Remote != nil {
		errs = append(errs, r.Remote.Close())
	}
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
	r := &remoteRunner{name: d.Name, subject: rc.Subject, mode: "jpeg"}
	ro := infer.RemoteOptions{Conn: n.nc, Subject: rc.Subject, Timeout: rc.Timeout.D(), Transport: transport, JPEGQuality: rc.JPEGQuality}
	switch part {
	case "head":
		if r.head, err = detect.NewHead(o); err != nil {
			return nil, detectorError(d.Name, err)
		}
		ro.Head = r.head
		r.mode = "split"
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
	if err := r.startWatch(rc.Plan, key+".plan", n.log.With().Str("detector", d.Name).Logger()); err != nil {
		r.Close()
		return nil, detectorError(d.Name, err)
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

// startWatch starts the detector's infer.Watch: it probes the link every
// plan.every and, with plan.goal, re-runs the planner on the profiles
// plan names.
func (r *remoteRunner) startWatch(plan config.RemotePlan, key string, log zerolog.Logger) error {
	wo := infer.WatchOptions{Remote: r.Remote, Goal: plan.Goal, Every: plan.Every.D(), Margin: plan.Margin, Logger: log}
	if plan.Goal != "" {
		var err error
		if wo.Local, err = readProfile(plan.Profile, key+".profile", "here"); err != nil {
			return err
		}
		if wo.Server, err = readProfile(plan.RemoteProfile, key+".remote_profile", "on the server"); err != nil {
			return err
		}
	}
	w, err := infer.NewWatch(wo)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	r.watch, r.stop = w, func() { cancel(); <-done }
	return nil
}

// readProfile reads the JSON of `vigil model cuts MODEL --profile --json`.
func readProfile(path, key, where string) (*model.CutReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; write it with `vigil model cuts MODEL --profile --json > %s` %s", key, err, filepath.Base(path), where)
	}
	r := &model.CutReport{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%s: %s is not the JSON of `vigil model cuts MODEL --profile --json`: %w", key, path, err)
	}
	return r, nil
}

// RemoteReport is one remote detector (model.remote) as GET
// /api/models/remote shows it: its requests, the link it measured, and
// with model.remote.plan.goal the last check of its plan.
type RemoteReport struct {
	Detector string            `json:"detector"`
	Subject  string            `json:"subject"`
	Mode     string            `json:"mode"` // jpeg (whole frames) or split (the head here)
	Requests uint64            `json:"requests"`
	Bytes    uint64            `json:"bytes"`
	Fallback uint64            `json:"fallbacks"`
	Failed   uint64            `json:"failures"`
	Link     *RemoteLink       `json:"link,omitempty"` // nil until requests and probes were answered
	Plan     *infer.PlanStatus `json:"plan,omitempty"` // nil without plan.goal
}

// RemoteLink is an infer.LinkEstimate in the units the API speaks.
type RemoteLink struct {
	RTTMS         float64 `json:"rtt_ms"`
	MbitPerSecond float64 `json:"mbit_per_s"`
	Requests      int     `json:"requests"`
	Probes        int     `json:"probes"`
}

func (r *remoteRunner) report() RemoteReport {
	st := r.Stats()
	out := RemoteReport{Detector: r.name, Subject: r.subject, Mode: r.mode, Requests: st.Sent, Bytes: st.Bytes, Fallback: st.Fallback, Failed: st.Failed}
	if l := r.Link(); l.Known() {
		out.Link = &RemoteLink{RTTMS: float64(l.RTT.Microseconds()) / 1000, MbitPerSecond: l.BitsPerSecond / 1e6, Requests: l.Requests, Probes: l.Probes}
	}
	if r.watch != nil && r.watch.Planning() {
		ps := r.watch.Status()
		out.Plan = &ps
	}
	return out
}

// RemoteReports are the node's remote detectors, by name.
func (n *Node) RemoteReports() []RemoteReport {
	var out []RemoteReport
	n.remotes.Range(func(_, v any) bool {
		out = append(out, v.(*remoteRunner).report())
		return true
	})
	slices.SortFunc(out, func(a, b RemoteReport) int { return strings.Compare(a.Detector, b.Detector) })
	return out
}

func (n *Node) serveRemotes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"remotes": n.RemoteReports()})
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
	linkRTT        = prometheus.NewDesc("vigil_remote_link_rtt_seconds", "A remote detector's link: the least round trip of its probes over the last two minutes, the server's time taken out.", []string{"detector"}, nil)
	linkRate       = prometheus.NewDesc("vigil_remote_link_bits_per_second", "A remote detector's link: the median effective rate of its requests over the last two minutes (bytes over the round trip less the server's time and the link's round trip).", []string{"detector"}, nil)
	planMismatch   = prometheus.NewDesc("vigil_remote_plan_mismatch", "1 while the planner (model.remote.plan), over the measured link, picks another way than the configured one for the goal, worse by more than the margin; else 0.", []string{"detector"}, nil)
	planChoice     = prometheus.NewDesc("vigil_remote_plan_choice", "The planner's last choice for a remote detector (model.remote.plan): always 1, the labels say which.", []string{"detector", "goal", "configured", "choice"}, nil)
)

func (c remoteCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{remoteRequests, remoteBytes, remoteFallback, remoteFailed, remoteRTT, linkRTT, linkRate, planMismatch, planChoice} {
		ch <- d
	}
}

func (c remoteCollector) Collect(ch chan<- prometheus.Metric) {
	c.remotes.Range(func(k, v any) bool {
		r := v.(*remoteRunner)
		name, st := k.(string), r.Stats()
		ch <- prometheus.MustNewConstMetric(remoteRequests, prometheus.CounterValue, float64(st.Sent), name)
		ch <- prometheus.MustNewConstMetric(remoteBytes, prometheus.CounterValue, float64(st.Bytes), name)
		ch <- prometheus.MustNewConstMetric(remoteFallback, prometheus.CounterValue, float64(st.Fallback), name)
		ch <- prometheus.MustNewConstMetric(remoteFailed, prometheus.CounterValue, float64(st.Failed), name)
		ch <- prometheus.MustNewConstMetric(remoteRTT, prometheus.GaugeValue, st.RTT.Seconds(), name)
		if l := r.Link(); l.Known() {
			ch <- prometheus.MustNewConstMetric(linkRTT, prometheus.GaugeValue, l.RTT.Seconds(), name)
			ch <- prometheus.MustNewConstMetric(linkRate, prometheus.GaugeValue, l.BitsPerSecond, name)
		}
		if r.watch != nil && r.watch.Planning() {
			if ps := r.watch.Status(); ps.Choice != "" {
				v := 0.0
				if ps.Mismatch {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(planMismatch, prometheus.GaugeValue, v, name)
				ch <- prometheus.MustNewConstMetric(planChoice, prometheus.GaugeValue, 1, name, ps.Goal, ps.Configured, ps.Choice)
			}
		}
		return true
	})
}
