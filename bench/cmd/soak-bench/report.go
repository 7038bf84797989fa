package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-vision/vigil/bench/internal/results"
)

// minQuiet is the fewest quiet samples a trend is fitted on; with fewer,
// every sample after the warm-up is used.
const minQuiet = 10

type reportInput struct {
	ran                      time.Duration
	interrupted, exitedEarly bool
	exitTook                 time.Duration
	killed                   bool
	last                     scrape // the last /metrics read before SIGTERM
	events                   streamEvents
	eventsErr                error
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func (s *soak) report(r *results.Report, in reportInput) {
	o := s.o
	run := fmt.Sprintf("%.0f (planned %.0f)", in.ran.Seconds(), o.duration.Seconds())
	if in.interrupted {
		run += ", interrupted"
	}
	if in.exitedEarly {
		run += ", vigil exited by itself"
	}
	r.Add("soak_duration_s", "%s", run)
	r.Add("soak_warmup_s", "%.0f", o.warmup.Seconds())

	samples := s.watch.samples
	after := func(x sample) bool { return x.t >= o.warmup }
	quiet := func(x sample) bool { return after(x) && x.quiet }
	nAfter, nQuiet := 0, 0
	for _, x := range samples {
		if after(x) {
			nAfter++
			if x.quiet {
				nQuiet++
			}
		}
	}
	r.Add("soak_samples", "%d every %s (%d after the warm-up, %d of them quiet); /metrics reads failed: %d", len(samples), o.sample, nAfter, nQuiet, s.watch.fails)
	keep, on := quiet, "quiet samples after the warm-up"
	if nQuiet < minQuiet {
		keep, on = after, fmt.Sprintf("every sample after the warm-up: fewer than %d quiet ones", minQuiet)
	}
	flat := true
	var judged []string
	for _, se := range trended {
		name := "soak_" + se.name
		unit := "_per_h"
		if se.unit != "" {
			unit = "_" + se.unit + "_per_h"
		}
		all := fitSeries(samples, se, after)
		tr := fitSeries(samples, se, keep)
		if all.n == 0 {
			r.Add(name, "no samples after the warm-up")
			flat = false
			continue
		}
		r.Add(name+strings.TrimSuffix(unit, "_per_h"), "first %.1f last %.1f min %.1f max %.1f mean %.1f (every sample after the warm-up)",
			all.first, all.last, all.min, all.max, all.mean)
		r.Add(name+"_slope"+unit, "%.2f ± %.2f (%s, n=%d)", tr.slopePerH, tr.slopeSEPerH, on, tr.n)
		r.Add(name+"_slope_pct_per_h", "%.2f", tr.slopePct())
		r.Add(name+"_slope_all"+unit, "%.2f ± %.2f (every sample after the warm-up, n=%d)", all.slopePerH, all.slopeSEPerH, all.n)
		if se.judge {
			lim := tr.limit(o.flatPct, se.floor)
			ok := tr.n >= 3 && math.Abs(tr.slopePerH) <= lim
			flat = flat && ok
			rule := fmt.Sprintf("%g %% of the mean", o.flatPct)
			if se.floor > 0 {
				rule = fmt.Sprintf("the larger of %g %% of the mean and %g", o.flatPct, se.floor)
			}
			judged = append(judged, se.name)
			word := ""
			if se.unit == "mib" {
				word = " MiB"
			}
			r.Add("soak_flat_"+se.name, "%s (slope |%.2f| %s %.2f%s per hour: %s)", yes(ok), tr.slopePerH,
				map[bool]string{true: "≤", false: ">"}[ok], lim, word, rule)
		}
	}
	r.Add("soak_flat", "%s (%s: each |slope| within %g %% of its mean per hour, or 2 per hour for the counts when that is larger; on %s)",
		yes(flat), strings.Join(judged, ", "), o.flatPct, on)
	if span := in.ran - o.warmup; span < 30*time.Minute {
		r.Add("soak_note", "the trends span %.0f min after the warm-up: too short to tell a slow leak from noise and warm-up; the verdict is the hour's (make soak)", span.Minutes())
	}

	stopped := s.vigil.logs.line("vigil stopped")
	if m, err := number(stopped, "mats_open"); err == nil {
		r.Add("soak_mats_open_at_exit", "%.0f (goal 0: %s; vigil's \"vigil stopped\" line)", m, met(m == 0))
	} else {
		r.Add("soak_mats_open_at_exit", "unknown: %v", err)
	}

	s.reportEvents(r, in)
	s.reportCameras(r)
	s.reportNATS(r)
	s.reportViewers(r)

	if in.exitedEarly {
		r.Add("soak_vigil_exit_code", "%d (exited by itself during the soak)", s.vigil.exitCode())
	} else {
		r.Add("soak_vigil_exit_code", "%d (SIGTERM → exited after %.1f s%s)", s.vigil.exitCode(), in.exitTook.Seconds(),
			map[bool]string{true: "; did not exit within 1 min: killed", false: ""}[in.killed])
	}
	if p, err := number(stopped, "processed"); err == nil {
		var per []string
		for _, id := range cameraIDs {
			if v, ok := stopped["camera_"+id].(string); ok {
				per = append(per, id+": "+v)
			}
		}
		r.Add("soak_vigil_frames", "processed %.0f (%s)", p, strings.Join(per, "; "))
	}
	w := s.vigil.logs
	r.Add("soak_vigil_log_lines", "warn %d, error %d, not JSON %d", w.count("warn"), w.count("error"), w.nonJSON)
	for i, l := range w.top(8) {
		r.Add(fmt.Sprintf("soak_vigil_log_top_%d", i+1), "%s", l)
	}
}

func (s *soak) reportEvents(r *results.Report, in reportInput) {
	st := s.vigil.logs.line("alerts stopped")
	accepted, aerr := number(st, "accepted")
	if aerr == nil {
		pub, _ := number(st, "published")
		spooled, _ := number(st, "spooled")
		dropped, _ := number(st, "dropped")
		r.Add("soak_events_accepted", "%.0f (vigil's \"alerts stopped\" line: published %.0f, spooled %.0f, dropped %.0f)", accepted, pub, spooled, dropped)
	} else {
		r.Add("soak_events_accepted", "unknown: no \"alerts stopped\" line (%v)", aerr)
	}
	var per []string
	for _, id := range cameraIDs {
		v, _ := in.last.label("vigil_alerts_accepted_total", "camera", id)
		per = append(per, fmt.Sprintf("%s=%.0f", id, v))
	}
	metric := in.last.value("vigil_alerts_accepted_total")
	r.Add("soak_events_accepted_metric", "%.0f (vigil_alerts_accepted_total at the last read before SIGTERM: %s; the pipeline's last frames add events while it stops)", metric, strings.Join(per, " "))
	r.Add("soak_events_resent_duplicates", "%.0f (vigil_alerts_duplicates_total: re-sends JetStream dropped by Nats-Msg-Id)", in.last.value("vigil_alerts_duplicates_total"))
	r.Add("soak_rule_events", "%.0f (vigil_rule_events_total)", in.last.value("vigil_rule_events_total"))
	if in.eventsErr != nil {
		r.Add("soak_events_in_stream", "unknown: %v", in.eventsErr)
		r.Add("soak_events_each_once", "no (the stream could not be read)")
		return
	}
	ev := in.events
	r.Add("soak_events_in_stream", "%d", ev.msgs)
	r.Add("soak_events_distinct_ids", "%d", len(ev.ids))
	r.Add("soak_events_by_camera", "%s", counts(ev.byCamera))
	r.Add("soak_events_by_rule_type", "%s", counts(ev.byType))
	if aerr != nil {
		r.Add("soak_events_each_once", "unknown (no accepted count)")
		return
	}
	c := checkIDs(ev.ids, uint64(accepted))
	r.Add("soak_events_duplicated_ids", "%d (ids in more than one message)", c.duplicated)
	r.Add("soak_events_missing", "%d (accepted, not in the stream)%s", len(c.missing), optional(" ids n=", ranges(c.missing, 20)))
	r.Add("soak_events_unexpected", "%d (ids beyond the accepted count %d%s, unparsed ids %d, malformed messages %d)%s",
		len(c.beyond)+c.unparsed+len(ev.bad), len(c.beyond), optional(": n=", ranges(c.beyond, 10)), c.unparsed, len(ev.bad),
		optional(": ", strings.Join(first(ev.bad, 3), " | ")))
	if len(c.prefixes) != 1 {
		r.Add("soak_events_id_prefixes", "%d (one vigil process ran: want 1): %s", len(c.prefixes), strings.Join(c.prefixes, " "))
	}
	once := ev.msgs == len(ev.ids) && len(ev.ids) == int(accepted) && c.duplicated == 0 && len(c.missing) == 0 &&
		len(c.beyond) == 0 && c.unparsed == 0 && len(ev.bad) == 0 && metric <= accepted
	r.Add("soak_events_each_once", "%s (every accepted event in the stream exactly once, and nothing else)", yes(once))
}

func optional(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// counts writes a map as "a=1 b=2", sorted.
func counts(m map[string]int) string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// reportCameras follows each drop in vigil_camera_up: the camera seen
// down, and up again after its publisher was back (to the second: the
// points are a second apart).
func (s *soak) reportCameras(r *results.Report) {
	drops := s.record.drops
	kinds := map[string]int{}
	outages, seen, returned := 0, 0, 0
	var back []float64
	for i, d := range drops {
		kinds[d.kind]++
		var parts []string
		for _, c := range d.cameras {
			outages++
			var downAt, upAt time.Time
			for _, p := range s.watch.pointsFrom(d.at) {
				if downAt.IsZero() {
					if p.up[c] == 0 {
						downAt = p.at
					} else if p.at.After(d.back.Add(10 * time.Second)) {
						break
					}
					continue
				}
				if !p.at.Before(d.back) && p.up[c] == 1 {
					upAt = p.at
					break
				}
			}
			part := c + ": "
			switch {
			case downAt.IsZero():
				part += "never seen down"
			case upAt.IsZero():
				seen++
				part += fmt.Sprintf("down after %.1f s, NOT back", downAt.Sub(d.at).Seconds())
			default:
				seen++
				returned++
				b := upAt.Sub(d.back).Seconds()
				back = append(back, b)
				part += fmt.Sprintf("down after %.1f s, up %.1f s after the publisher was back", downAt.Sub(d.at).Seconds(), b)
			}
			parts = append(parts, part)
		}
		what := "publisher stopped"
		if d.kind == "server" {
			what = "server closed"
		}
		line := fmt.Sprintf("%s, away %.1f s; %s", what, d.back.Sub(d.at).Seconds(), strings.Join(parts, "; "))
		if d.err != nil {
			line += "; the harness could not bring it back: " + d.err.Error()
		}
		r.Add(fmt.Sprintf("soak_camera_drop_%d", i+1), "%s", line)
	}
	r.Add("soak_camera_drops", "%d (publisher stopped %d, server closed %d; %d camera outages)", len(drops), kinds["publisher"], kinds["server"], outages)
	r.Add("soak_camera_returns", "%d of %d outages (seen down %d)", returned, outages, seen)
	if len(back) > 0 {
		r.Add("soak_camera_return_s", "p50 %.1f max %.1f (publisher publishing again → vigil_camera_up 1)", percentile(back, 50), slices.Max(back))
	}
}

// reportNATS follows each restart in the alerts spool: what it held, and
// when it was empty again.
func (s *soak) reportNATS(r *results.Report) {
	var downs []string
	for i, rs := range s.record.restarts {
		downs = append(downs, fmt.Sprintf("%.1f s", rs.back.Sub(rs.at).Seconds()))
		held, drained := 0.0, time.Time{}
		for _, p := range s.watch.pointsFrom(rs.at) {
			held = max(held, p.pending)
			if !p.at.Before(rs.back) && p.pending == 0 {
				drained = p.at
				break
			}
		}
		line := fmt.Sprintf("down %.1f s; the alerts spool held up to %.0f events", rs.back.Sub(rs.at).Seconds(), held)
		if drained.IsZero() {
			line += ", NOT empty again by the end"
		} else {
			line += fmt.Sprintf(", empty %.1f s after NATS was back", drained.Sub(rs.back).Seconds())
		}
		if rs.err != nil {
			line += "; NATS not started again: " + rs.err.Error()
		}
		r.Add(fmt.Sprintf("soak_nats_restart_%d", i+1), "%s", line)
	}
	r.Add("soak_nats_restarts", "%d (down %s; same port and store)", len(s.record.restarts), strings.Join(downs, ", "))
}

// reportViewers counts the browser sessions and how soon vigil let go of
// each after the viewer left.
func (s *soak) reportViewers(r *results.Report) {
	vs := s.record.viewers
	played := 0
	var firstS []float64
	goneS := map[string][]float64{}
	notGone := map[string]int{}
	for i, v := range vs {
		if v.played() {
			played++
			firstS = append(firstS, v.first.Seconds())
		} else {
			r.Add(fmt.Sprintf("soak_viewer_%d", i+1), "did not play: %s", v)
		}
		gone := false
		for _, p := range s.watch.pointsFrom(v.left) {
			if p.viewers == 0 {
				goneS[v.leave] = append(goneS[v.leave], p.at.Sub(v.left).Seconds())
				gone = true
				break
			}
		}
		if !gone {
			notGone[v.leave]++
			r.Add(fmt.Sprintf("soak_viewer_%d", i+1), "vigil still counted viewers at the end (%s)", v)
		}
	}
	r.Add("soak_viewer_sessions", "%d (played %d)", len(vs), played)
	if len(firstS) > 0 {
		r.Add("soak_viewer_first_frame_s", "p50 %.1f max %.1f (page opened → a camera's first decoded frame)", percentile(firstS, 50), slices.Max(firstS))
	}
	for _, mode := range []string{leavePage, killBrowser} {
		g := goneS[mode]
		if len(g)+notGone[mode] == 0 {
			continue
		}
		line := fmt.Sprintf("%d sessions", len(g)+notGone[mode])
		if len(g) > 0 {
			line += fmt.Sprintf(", p50 %.1f max %.1f", percentile(g, 50), slices.Max(g))
		}
		line += fmt.Sprintf(" (%s → vigil_liveview_viewers 0, to the second); not gone by the end: %d", mode, notGone[mode])
		r.Add("soak_viewer_gone_s_"+strings.ReplaceAll(mode, " ", "_"), "%s", line)
	}
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	return s[int(float64(len(s)-1)*p/100+0.5)]
}
