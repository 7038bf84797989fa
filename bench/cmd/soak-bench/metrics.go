package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// scrape is one read of vigil's /metrics: every series' value, by metric
// name and label set.
type scrape struct {
	at     time.Time
	series map[string]map[string]float64 // name → labels ("camera=\"a\"") → value
}

// sum adds a metric's values over all its label sets; ok false when vigil
// does not export it (yet: a vector appears with its first label set).
func (s scrape) sum(name string) (v float64, ok bool) {
	for _, x := range s.series[name] {
		v += x
		ok = true
	}
	return v, ok
}

// value is the metric's value, 0 when absent.
func (s scrape) value(name string) float64 {
	v, _ := s.sum(name)
	return v
}

// label is the metric's value for one value of one label ("camera",
// "rtsp-a"), summed over the other labels.
func (s scrape) label(name, key, val string) (v float64, ok bool) {
	want := key + `="` + val + `"`
	for labels, x := range s.series[name] {
		for _, l := range splitLabels(labels) {
			if l == want {
				v += x
				ok = true
			}
		}
	}
	return v, ok
}

// splitLabels splits `a="x",b="y"` at the commas between labels (label
// values here hold no commas or quotes).
func splitLabels(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// parseMetrics reads Prometheus' text format: the sample lines, without
// histograms' and summaries' own rules (a bucket is a series like any
// other).
func parseMetrics(r io.Reader) (map[string]map[string]float64, error) {
	out := map[string]map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, rest := line, "", ""
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return nil, fmt.Errorf("metrics: bad line %q", line)
			}
			name, labels, rest = line[:i], line[i+1:j], line[j+1:]
		} else if i := strings.IndexByte(line, ' '); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: value of %q: %w", line, err)
		}
		if out[name] == nil {
			out[name] = map[string]float64{}
		}
		out[name][labels] = v
	}
	return out, sc.Err()
}

// scraper reads one vigil's /metrics.
type scraper struct {
	url    string
	client http.Client
}

func newScraper(base string) *scraper {
	return &scraper{url: base + "/metrics", client: http.Client{Timeout: 5 * time.Second}}
}

func (s *scraper) get(ctx context.Context) (scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return scrape{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return scrape{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return scrape{}, fmt.Errorf("GET %s: %s", s.url, resp.Status)
	}
	m, err := parseMetrics(resp.Body)
	if err != nil {
		return scrape{}, fmt.Errorf("GET %s: %w", s.url, err)
	}
	return scrape{at: time.Now(), series: m}, nil
}
