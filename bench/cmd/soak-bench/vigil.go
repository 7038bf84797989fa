package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// camera is one of vigil's cameras in the soak.
type camera struct {
	id, url string
	file    bool
}

// vigilConfig is the soak's config file: every camera with a zone over the
// whole picture and a line across vtest.avi's walkway, both for people,
// so that rules fire whenever someone walks.
func vigilConfig(dataDir, natsURL, httpAddr string, cams []camera, fps float64, threads int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %s\n", dataDir)
	fmt.Fprintf(&b, "nats:\n  url: %s\n", natsURL)
	fmt.Fprintf(&b, "http:\n  listen: %s\n", httpAddr)
	fmt.Fprintf(&b, "model:\n  intra_op_threads: %d\n", threads)
	b.WriteString("cameras:\n")
	for _, c := range cams {
		fmt.Fprintf(&b, "  - id: %s\n    url: %s\n    fps: %g\n", c.id, c.url, fps)
		if c.file {
			b.WriteString("    realtime: true\n    loop: true\n")
		} else {
			b.WriteString("    rtsp_transport: tcp\n")
		}
		b.WriteString(`    rules:
      - name: walkway
        type: zone
        normalized: true
        points: [[0, 0], [1, 0], [1, 1], [0, 1]]
        classes: [person]
        occupancy_threshold: 3
      - name: crossing
        type: line
        points: [[400, 330], [768, 330]]
        classes: [person]
        directions: {a_to_b: down, b_to_a: up}
`)
	}
	return b.String()
}

// vigilProc is the vigil process under soak.
type vigilProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	state  *os.ProcessState
	logs   *logWatch
}

// startVigil runs `vigil run --config cfg --log-format json` from the
// repository root (where vigil finds deps/), its output kept in logPath.
// It runs in a process group of its own and dies with this process.
func startVigil(bin, cfg, logPath string) (*vigilProc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", cfg, "--log-format", "json")
	cmd.Dir, _ = os.Getwd()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start vigil: %w", err)
	}
	v := &vigilProc{cmd: cmd, exited: make(chan struct{}), logs: newLogWatch()}
	readDone := make(chan struct{})
	go func() { defer close(readDone); v.logs.read(pr, f) }()
	go func() {
		cmd.Wait()
		pw.Close()
		<-readDone
		v.state = cmd.ProcessState
		close(v.exited)
	}()
	return v, nil
}

func (v *vigilProc) running() bool {
	select {
	case <-v.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits up to limit for the process to end, then
// kills its group. It returns how long the process took to exit.
func (v *vigilProc) stop(limit time.Duration) (took time.Duration, killed bool) {
	t0 := time.Now()
	v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.exited:
		return time.Since(t0), false
	case <-time.After(limit):
	}
	v.kill()
	<-v.exited
	return time.Since(t0), true
}

// kill ends the process group at once (the bench failing or interrupted).
func (v *vigilProc) kill() {
	if v.running() {
		syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// exitCode is the process's exit status; -1 when a signal ended it.
func (v *vigilProc) exitCode() int {
	if v.state == nil {
		return -1
	}
	return v.state.ExitCode()
}

// logWatch reads vigil's JSON log lines: it keeps the last lines of
// interest and counts warnings and errors by message.
type logWatch struct {
	mu       sync.Mutex
	last     map[string]map[string]any // message → fields of its last line
	levels   map[string]int            // level → lines
	byMsg    map[string]int            // "level: message" of warnings and errors, and the lines that are not JSON
	tail     []string
	nonJSON  int
	lastSeen time.Time
}

// kept are the messages whose last line's fields are kept.
var kept = []string{"alerts stopped", "vigil stopped", "embedded NATS ready"}

func newLogWatch() *logWatch {
	return &logWatch{last: map[string]map[string]any{}, levels: map[string]int{}, byMsg: map[string]int{}}
}

// addrs are what makes otherwise equal lines differ: pointers in
// FFmpeg's lines, numbers.
var addrs = regexp.MustCompile(`0x[0-9a-f]+|[0-9]+`)

func (w *logWatch) read(r io.Reader, f *os.File) {
	defer f.Close()
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		at := time.Now()
		line := s.Text()
		fmt.Fprintf(f, "%s %s\n", at.Format("15:04:05.000"), line)
		var fields map[string]any
		w.mu.Lock()
		w.lastSeen = at
		w.tail = append(w.tail, line)
		if len(w.tail) > 40 {
			w.tail = w.tail[1:]
		}
		if json.Unmarshal([]byte(line), &fields) == nil {
			msg, _ := fields["message"].(string)
			level, _ := fields["level"].(string)
			w.levels[level]++
			for _, k := range kept {
				if msg == k {
					w.last[k] = fields
				}
			}
			if level == "warn" || level == "error" || level == "fatal" || level == "panic" {
				key := level + ": " + msg
				if c, ok := fields["component"].(string); ok {
					key = level + ": [" + c + "] " + msg
				}
				w.byMsg[addrs.ReplaceAllString(key, "N")]++
			}
		} else if strings.TrimSpace(line) != "" {
			w.nonJSON++
			w.byMsg[addrs.ReplaceAllString("not JSON: "+line, "N")]++
		}
		w.mu.Unlock()
	}
	io.Copy(io.Discard, r)
}

// line is the fields of the last line with message msg; nil if none.
func (w *logWatch) line(msg string) map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[msg]
}

func (w *logWatch) lastLines() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.tail, "\n")
}

// count is the lines at a level.
func (w *logWatch) count(level string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.levels[level]
}

// top is the n most frequent warnings, errors and non-JSON lines, with
// their counts.
func (w *logWatch) top(n int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range w.byMsg {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].v != all[j].v {
			return all[i].v > all[j].v
		}
		return all[i].k < all[j].k
	})
	var out []string
	for i, e := range all {
		if i == n {
			break
		}
		k := e.k
		if len(k) > 160 {
			k = k[:160] + "…"
		}
		out = append(out, fmt.Sprintf("%d× %s", e.v, k))
	}
	return out
}

// number reads a numeric log field.
func number(fields map[string]any, key string) (float64, error) {
	if fields == nil {
		return 0, errors.New("no such line")
	}
	v, ok := fields[key].(float64)
	if !ok {
		return 0, fmt.Errorf("no numeric %q in %v", key, fields)
	}
	return v, nil
}
