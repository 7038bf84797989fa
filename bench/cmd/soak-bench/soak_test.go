package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestFit(t *testing.T) {
	hours := func(hs ...float64) []time.Duration {
		var ts []time.Duration
		for _, h := range hs {
			ts = append(ts, time.Duration(h*float64(time.Hour)))
		}
		return ts
	}
	for _, tc := range []struct {
		name      string
		ts        []time.Duration
		ys        []float64
		slope, se float64
		mean      float64
	}{
		{"flat", hours(0, 0.5, 1), []float64{10, 10, 10}, 0, 0, 10},
		{"line", hours(0, 0.25, 0.5, 1), []float64{100, 105, 110, 120}, 20, 0, 108.75},
		{"noise", hours(0, 1, 2, 3), []float64{1, 3, 1, 3}, 0.4, math.Sqrt(3.2 / 2 / 5), 2},
		{"too few", hours(0, 1), []float64{1, 2}, 0, 0, 1.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := fit(tc.ts, tc.ys)
			if math.Abs(tr.slopePerH-tc.slope) > 1e-9 || math.Abs(tr.slopeSEPerH-tc.se) > 1e-9 || math.Abs(tr.mean-tc.mean) > 1e-9 {
				t.Errorf("fit = %+v; want slope %g ± %g, mean %g", tr, tc.slope, tc.se, tc.mean)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 42
process_resident_memory_bytes 5.24288e+08
vigil_camera_up{camera="rtsp-a"} 1
vigil_camera_up{camera="file"} 0
vigil_rule_events_total{camera="file",rule="walkway",type="zone_enter"} 3
vigil_rule_events_total{camera="rtsp-a",rule="walkway",type="zone_enter"} 4
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	sc := scrape{series: m}
	if v := sc.value("go_goroutines"); v != 42 {
		t.Errorf("goroutines %g", v)
	}
	if v := sc.value("process_resident_memory_bytes"); v != 500<<20 {
		t.Errorf("rss %g", v)
	}
	if v, ok := sc.label("vigil_camera_up", "camera", "file"); !ok || v != 0 {
		t.Errorf("file up %g %v", v, ok)
	}
	if v, ok := sc.label("vigil_rule_events_total", "camera", "rtsp-a"); !ok || v != 4 {
		t.Errorf("rtsp-a events %g %v", v, ok)
	}
	if v := sc.value("vigil_rule_events_total"); v != 7 {
		t.Errorf("events %g", v)
	}
	if _, ok := sc.sum("vigil_nothing"); ok {
		t.Error("a missing metric is there")
	}
}

func TestCheckIDs(t *testing.T) {
	ids := map[string]int{"ab-1": 1, "ab-2": 2, "ab-4": 1, "ab-7": 1, "x": 1}
	c := checkIDs(ids, 5)
	if c.duplicated != 1 || c.unparsed != 1 || len(c.prefixes) != 1 || c.prefixes[0] != "ab" {
		t.Errorf("%+v", c)
	}
	if got := ranges(c.missing, 10); got != "3 5" {
		t.Errorf("missing %q", got)
	}
	if got := ranges(c.beyond, 10); got != "7" {
		t.Errorf("beyond %q", got)
	}
	if got := ranges([]uint64{1, 2, 3, 5, 8, 9}, 2); got != "1-3 5 …" {
		t.Errorf("ranges %q", got)
	}
}
