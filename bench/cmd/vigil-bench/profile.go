package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-vision/vigil/bench/internal/results"
)

// profile runs the pipeline once more, as a throughput run, under Go's CPU
// profiler and, when Debian's perf is installed, under `perf record`. Go's
// profile sees onnxruntime only as cgocall; perf sees inside it. The top
// entries of both go beside the results (<stamp>-profile.txt), with Go's
// profile itself (<stamp>-cpu.pprof).
func (b *bench) profile(ctx context.Context, rep *report) error {
	progress("profile: one more pipeline run (%d frames), profiled", b.cfg.Frames)
	dir, err := os.MkdirTemp("", "vigil-bench-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var prof bytes.Buffer
	goProf := b.cfg.CPUProfile == "" // else the whole run is being profiled already
	if goProf {
		if err := pprof.StartCPUProfile(&prof); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	perfData := filepath.Join(dir, "perf.data")
	perf := startPerf(perfData)
	r, err := b.throughput(ctx, false)
	if goProf {
		pprof.StopCPUProfile()
	}
	perfErr := perf.stop()
	if err != nil {
		return err
	}

	var text strings.Builder
	fmt.Fprintf(&text, "# profile of one pipeline run: %s, %d frames (%d timed) at %.2f fps\n", results.CommandLine(goRun), b.cfg.Frames, r.timed, r.FPS())
	if goProf {
		rep.Attach("cpu.pprof", prof.Bytes())
		pf := filepath.Join(dir, "cpu.pprof")
		var top string
		exe, err := os.Executable()
		if err == nil {
			err = os.WriteFile(pf, prof.Bytes(), 0o644)
		}
		if err == nil {
			top = commandOutput("go", "tool", "pprof", "-top", "-nodecount=25", exe, pf)
		} else {
			top = fmt.Sprintf("(%v)\n", err)
		}
		fmt.Fprintf(&text, "\n## Go CPU profile: go tool pprof -top -nodecount=25\n%s", top)
	}
	switch {
	case perf.cmd == nil:
		fmt.Fprintf(&text, "\n## perf: not run (%s)\n", perf.why)
	case perfErr != nil:
		fmt.Fprintf(&text, "\n## perf: %v\n", perfErr)
	default:
		dsos := commandOutput("perf", "report", "-i", perfData, "--stdio", "--no-children", "--sort", "dso", "-g", "none", "--percent-limit", "0.2")
		syms := commandOutput("perf", "report", "-i", perfData, "--stdio", "--no-children", "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.3")
		fmt.Fprintf(&text, "\n## perf record -F 499 -g, by library: perf report --sort dso\n%s", keepPercentLines(dsos, 30))
		fmt.Fprintf(&text, "\n## perf, by symbol: perf report --sort dso,symbol\n%s", keepPercentLines(syms, 40))
		for name, share := range dsoShares(dsos) {
			rep.Add("profile_share_"+name, "%.3f", share)
		}
	}
	rep.Attach("profile.txt", []byte(text.String()))
	return nil
}

// perfRun is `perf record` attached to this process.
type perfRun struct {
	cmd *exec.Cmd
	why string // why it did not start
}

func startPerf(out string) perfRun {
	if _, err := exec.LookPath("perf"); err != nil {
		return perfRun{why: "perf is not installed: apt-get install linux-perf"}
	}
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(os.Getpid()), "-o", out)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return perfRun{why: err.Error()}
	}
	time.Sleep(300 * time.Millisecond) // let it attach before the run starts
	return perfRun{cmd: cmd}
}

func (p perfRun) stop() error {
	if p.cmd == nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	err := p.cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() <= 130) {
		return fmt.Errorf("perf record: %w", err)
	}
	return nil
}

// commandOutput runs a command and returns its output, or what went wrong.
func commandOutput(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return fmt.Sprintf("(%s: %v)\n", name, err)
	}
	return string(out)
}

// keepPercentLines keeps perf report's first n lines with a percentage.
func keepPercentLines(s string, n int) string {
	var b strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if n == 0 {
			break
		}
		if strings.Contains(line, "%") && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
			n--
		}
	}
	return b.String()
}

// dsoShares reads the shares of onnxruntime, the Go binary, OpenCV and the
// kernel from perf report --sort dso.
func dsoShares(report string) map[string]float64 {
	shares := map[string]float64{}
	exe, _ := os.Executable()
	for line := range strings.SplitSeq(report, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasSuffix(f[0], "%") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		dso := f[1]
		var name string
		switch {
		case strings.HasPrefix(dso, "libonnxruntime"):
			name = "onnxruntime"
		case strings.HasPrefix(dso, "libopencv"):
			name = "opencv"
		case strings.Contains(dso, "kernel"):
			name = "kernel"
		case strings.HasPrefix(dso, "libav") || strings.HasPrefix(dso, "libsw"):
			name = "ffmpeg"
		case exe != "" && dso == filepath.Base(exe):
			name = "go"
		default:
			name = "other"
		}
		shares[name] += v / 100
	}
	return shares
}
