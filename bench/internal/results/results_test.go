package results

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	r := New()
	r.Add("fps", "%.2f", 17.5)
	r.Add("pair", "%d %d", 1, 2)
	r.Attach("profile.txt", []byte("top\n"))
	at := time.Date(2026, 11, 29, 4, 8, 40, 0, time.UTC)
	path, err := r.Write(dir, "model-", at, []string{"prog, now", r.Load()})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "model-2026-11-29-040840.txt"); path != want {
		t.Errorf("path %s, want %s", path, want)
	}
	for _, name := range []string{"model-2026-11-29-040840.txt", "model-latest.txt"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "# prog, now\n# load average (1, 5, 15 min) at start: ") ||
			!strings.HasSuffix(string(b), "\nfps: 17.50\npair: 1 2\n") {
			t.Errorf("%s:\n%s", name, b)
		}
	}
	for _, name := range []string{"model-2026-11-29-040840-profile.txt", "model-latest-profile.txt"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != "top\n" {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
	if got := r.Lines(); len(got) != 2 || got[0] != "fps: 17.50" {
		t.Errorf("Lines() = %q", got)
	}
}

func TestMachine(t *testing.T) {
	if CPUTime() <= 0 {
		t.Error("no CPU time used")
	}
	if f := strings.Fields(LoadAverage()); len(f) != 3 {
		t.Errorf("load average %q", LoadAverage())
	}
	if CPUInfo("model name") == "unknown" {
		t.Error("no model name in /proc/cpuinfo")
	}
	if CPUInfo("no such key") != "unknown" {
		t.Error("a missing key is not unknown")
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3}
	for p, want := range map[float64]float64{50: 3, 99: 5, 0: 1} {
		if got := Percentile(v, p); got != want {
			t.Errorf("Percentile(%g) = %g, want %g", p, got, want)
		}
	}
}
