// Package results is what the benchmark programs share: the "name: value"
// lines they print and keep, the files they write them to under a header
// that says how they were made, and the facts of the machine that go into
// that header.
package results

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Report collects "name: value" lines, printing each to stdout as it comes,
// and files to write beside them (profiles). It notes the load average when
// it starts, since other work on the machine shows in every number.
type Report struct {
	lines     []string
	loadStart string
	files     []attachment
}

// attachment is a file written beside the results.
type attachment struct {
	name string
	data []byte
}

// New starts a report.
func New() *Report { return &Report{loadStart: LoadAverage()} }

// Add formats one "name: value" line, prints it and keeps it.
func (r *Report) Add(name, format string, v ...any) {
	line := fmt.Sprintf("%s: "+format, append([]any{name}, v...)...)
	r.lines = append(r.lines, line)
	fmt.Println(line)
}

// Lines are the lines added so far.
func (r *Report) Lines() []string { return r.lines }

// Attach keeps a file to write beside the results.
func (r *Report) Attach(name string, data []byte) {
	r.files = append(r.files, attachment{name, data})
}

// Load is the header line with the load average when the report started
// and now.
func (r *Report) Load() string {
	return fmt.Sprintf("load average (1, 5, 15 min) at start: %s; at end: %s", r.loadStart, LoadAverage())
}

// Write saves the header (each line after a "# "), then the lines, as
// dir/<prefix>YYYY-MM-DD-HHMMSS.txt and dir/<prefix>latest.txt, and each
// attachment as dir/<prefix>YYYY-MM-DD-HHMMSS-<name> and
// dir/<prefix>latest-<name>; it returns the dated file's path.
func (r *Report) Write(dir, prefix string, at time.Time, header []string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("results folder: %w", err)
	}
	var b strings.Builder
	for _, h := range header {
		b.WriteString("# " + h + "\n")
	}
	text := b.String() + strings.Join(r.lines, "\n") + "\n"
	stamp := prefix + at.Format("2006-01-02-150405")
	path := filepath.Join(dir, stamp+".txt")
	for _, p := range []string{path, filepath.Join(dir, prefix+"latest.txt")} {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return "", fmt.Errorf("results: %w", err)
		}
	}
	for _, f := range r.files {
		for _, p := range []string{stamp + "-" + f.name, prefix + "latest-" + f.name} {
			if err := os.WriteFile(filepath.Join(dir, p), f.data, 0o644); err != nil {
				return "", fmt.Errorf("results: %w", err)
			}
		}
	}
	return path, nil
}

// CommandLine is how the program was started; `go run` builds into a
// temporary folder, which is written as goRun, the `go run` that made it.
func CommandLine(goRun string) string {
	name := os.Args[0]
	if strings.Contains(name, string(filepath.Separator)+"go-build") {
		name = goRun
	}
	return strings.Join(append([]string{name}, os.Args[1:]...), " ")
}

// Flags lists every flag with the value it had, defaults included.
func Flags() string {
	var fs []string
	flag.VisitAll(func(f *flag.Flag) {
		fs = append(fs, fmt.Sprintf("-%s=%s", f.Name, f.Value))
	})
	return strings.Join(fs, " ")
}

// NProc is the header's core count: "2 (GOMAXPROCS 2)".
func NProc() string {
	return fmt.Sprintf("%d (GOMAXPROCS %d)", runtime.NumCPU(), runtime.GOMAXPROCS(0))
}

// GoVersion is the header's Go: "go1.26.8 linux/amd64".
func GoVersion() string {
	return fmt.Sprintf("%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// CPUInfo is the value of a /proc/cpuinfo key for the first core ("model
// name", "flags"), or "unknown".
func CPUInfo(key string) string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// LoadAverage is the 1, 5 and 15 minute load average, or "unknown".
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// CPUTime is the CPU time this process has used so far, user and system,
// on all its threads (onnxruntime's included). Unlike wall time it does not
// grow when other processes take the cores, which makes it the steadier
// measure on a busy machine; but it does grow while idle threads spin.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Percentile is the p-th percentile (0–100) of v by nearest rank, 0 when v
// is empty; v is left as it is.
func Percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p/100+0.5)]
}

// T is what internal/rtsptest needs of a test, for a benchmark program:
// cleanups run by Cleanup, in reverse; Fatalf runs them and exits.
type T struct {
	cleanups []func()
	failed   bool
}

func (t *T) Helper()                 {}
func (t *T) Cleanup(f func())        { t.cleanups = append(t.cleanups, f) }
func (t *T) Failed() bool            { return t.failed }
func (t *T) Logf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (t *T) Fatalf(f string, a ...any) {
	t.failed = true
	t.Logf(f, a...)
	t.RunCleanups()
	os.Exit(1)
}

// RunCleanups runs the cleanups registered so far, newest first.
func (t *T) RunCleanups() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}
