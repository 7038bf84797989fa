package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// sample is vigil's state every -sample, and the harness's at that moment.
type sample struct {
	t  time.Duration // since the soak began (vigil up, every camera streaming)
	at time.Time

	rss, heapAlloc, heapInuse, heapGoal float64 // bytes
	// rssAnon is the resident memory not backed by a file (malloc'd,
	// Go's heap, thread stacks), from /proc/<pid>/status; rssFile the
	// mapped files (libraries, the model).
	rssAnon, rssFile         float64
	goroutines, threads, fds float64

	accepted, published, pending, ruleEvents float64 // alerts
	processed, dropped                       float64 // frames, all cameras
	camerasUp, viewers, encoders             float64

	viewerOpen  bool // a browser viewer is on the page
	camerasDown int  // RTSP cameras the harness has taken away
	natsDown    bool
	// quiet: none of the above, nor in the settling time after one ended.
	quiet bool
}

func newSample(t time.Duration, s scrape, st worldState) sample {
	return sample{
		t: t, at: s.at,
		rss: s.value("process_resident_memory_bytes"), heapAlloc: s.value("go_memstats_heap_alloc_bytes"),
		heapInuse: s.value("go_memstats_heap_inuse_bytes"), heapGoal: s.value("go_memstats_next_gc_bytes"),
		goroutines: s.value("go_goroutines"), threads: s.value("go_threads"), fds: s.value("process_open_fds"),
		accepted: s.value("vigil_alerts_accepted_total"), published: s.value("vigil_alerts_published_total"),
		pending: s.value("vigil_alerts_spool_pending"), ruleEvents: s.value("vigil_rule_events_total"),
		processed: s.value("vigil_frames_processed_total"), dropped: s.value("vigil_frames_dropped_total"),
		camerasUp: s.value("vigil_camera_up"), viewers: s.value("vigil_liveview_viewers"),
		encoders:   s.value("vigil_liveview_encoders_running"),
		viewerOpen: st.viewerOpen, camerasDown: st.camerasDown, natsDown: st.natsDown, quiet: st.quiet,
	}
}

// procStatus reads a process's RssAnon and RssFile, bytes; 0 when gone.
func procStatus(pid int) (anon, file float64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "RssAnon:":
			anon = kb * 1024
		case "RssFile:":
			file = kb * 1024
		}
	}
	return anon, file
}

// csvHeader and csvRow are the samples file.
const csvHeader = "t_s,unix_ms,rss_bytes,rss_anon_bytes,rss_file_bytes,heap_alloc_bytes,heap_inuse_bytes,heap_goal_bytes,goroutines,threads,open_fds," +
	"alerts_accepted,alerts_published,alerts_spool_pending,rule_events,frames_processed,frames_dropped," +
	"cameras_up,liveview_viewers,liveview_encoders,harness_viewer_open,harness_cameras_down,harness_nats_down,quiet"

func (s sample) csvRow() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	return strings.Join([]string{
		fmt.Sprintf("%.1f", s.t.Seconds()), strconv.FormatInt(s.at.UnixMilli(), 10),
		f(s.rss), f(s.rssAnon), f(s.rssFile), f(s.heapAlloc), f(s.heapInuse), f(s.heapGoal), f(s.goroutines), f(s.threads), f(s.fds),
		f(s.accepted), f(s.published), f(s.pending), f(s.ruleEvents), f(s.processed), f(s.dropped),
		f(s.camerasUp), f(s.viewers), f(s.encoders),
		b(s.viewerOpen), strconv.Itoa(s.camerasDown), b(s.natsDown), b(s.quiet),
	}, ",")
}

func samplesCSV(samples []sample) []byte {
	var b strings.Builder
	b.WriteString(csvHeader + "\n")
	for _, s := range samples {
		b.WriteString(s.csvRow() + "\n")
	}
	return []byte(b.String())
}

// series is one quantity whose trend is reported.
type series struct {
	name  string // in the report's names: rss, heap_goal, goroutines …
	unit  string // "mib", or "" for counts
	get   func(sample) float64
	judge bool // counts toward "flat"
	// floor is the least slope per hour that counts as not flat, for
	// counts that move in whole steps around a small mean.
	floor float64
}

const mib = 1 << 20

var trended = []series{
	{"rss", "mib", func(s sample) float64 { return s.rss / mib }, true, 0},
	{"rss_anon", "mib", func(s sample) float64 { return s.rssAnon / mib }, false, 0},
	// The heap goal is the live heap after the last collection times
	// (1 + GOGC/100): it moves with what the heap keeps, not with where in
	// its cycle a sample fell, as heap_alloc and heap_inuse do.
	{"heap_goal", "mib", func(s sample) float64 { return s.heapGoal / mib }, true, 0},
	{"heap_alloc", "mib", func(s sample) float64 { return s.heapAlloc / mib }, false, 0},
	{"heap_inuse", "mib", func(s sample) float64 { return s.heapInuse / mib }, false, 0},
	{"goroutines", "", func(s sample) float64 { return s.goroutines }, true, 2},
	{"open_fds", "", func(s sample) float64 { return s.fds }, true, 2},
	{"threads", "", func(s sample) float64 { return s.threads }, false, 0},
}

// trend is a least-squares line through a series' samples.
type trend struct {
	n                      int
	first, last, min, max  float64
	mean                   float64
	slopePerH, slopeSEPerH float64 // per hour, and its standard error
}

// limit is the largest slope per hour that is flat: pct % of the mean,
// and at least floor.
func (t trend) limit(pct, floor float64) float64 {
	return max(pct/100*math.Abs(t.mean), floor)
}

// slopePct is the slope as a share of the mean, % per hour.
func (t trend) slopePct() float64 {
	if t.mean == 0 {
		return 0
	}
	return 100 * t.slopePerH / t.mean
}

// fit fits ys over the samples' times (hours).
func fit(ts []time.Duration, ys []float64) trend {
	n := len(ys)
	tr := trend{n: n}
	if n == 0 {
		return tr
	}
	tr.first, tr.last, tr.min, tr.max = ys[0], ys[n-1], ys[0], ys[0]
	var mx, my float64
	for i, y := range ys {
		mx += ts[i].Hours()
		my += y
		tr.min, tr.max = math.Min(tr.min, y), math.Max(tr.max, y)
	}
	mx /= float64(n)
	my /= float64(n)
	tr.mean = my
	if n < 3 {
		return tr
	}
	var sxx, sxy float64
	for i, y := range ys {
		dx := ts[i].Hours() - mx
		sxx += dx * dx
		sxy += dx * (y - my)
	}
	if sxx == 0 {
		return tr
	}
	tr.slopePerH = sxy / sxx
	var sse float64
	for i, y := range ys {
		r := y - (my + tr.slopePerH*(ts[i].Hours()-mx))
		sse += r * r
	}
	tr.slopeSEPerH = math.Sqrt(sse / float64(n-2) / sxx)
	return tr
}

// fitSeries fits one series over the samples that keep says.
func fitSeries(samples []sample, s series, keep func(sample) bool) trend {
	var ts []time.Duration
	var ys []float64
	for _, x := range samples {
		if keep(x) {
			ts = append(ts, x.t)
			ys = append(ys, s.get(x))
		}
	}
	return fit(ts, ys)
}
