package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-vision/vigil/fleet"
)

// children are the vigil processes started, killed whatever way the bench
// ends: at its end, on a signal, on a panic. Each runs in a process group
// of its own and gets SIGKILL when the bench's process dies.
var children struct {
	mu    sync.Mutex
	procs map[int]*exec.Cmd
}

func killChildren() {
	children.mu.Lock()
	defer children.mu.Unlock()
	for pid, c := range children.procs {
		syscall.Kill(-pid, syscall.SIGKILL)
		c.Process.Kill()
	}
}

// node is one vigil process of the cluster, with its config; it is started
// again (same config, same data_dir) after each kill.
type node struct {
	name      string
	config    string // path of its config file
	client    string // NATS client address
	http      string // HTTP address
	bin, dir  string
	logLevel  string
	logs      *logBook
	starts    int
	cmd       *exec.Cmd
	exited    chan struct{}
	exitState *os.ProcessState
}

// ports are a node's three listen addresses.
type ports struct{ client, cluster, http string }

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// writeConfigs writes n1.yaml … nN.yaml into dir: embedded servers that
// form one cluster, every node in the fleet, the lease TTL given when ttl
// is not 0 (else fleet.lease_ttl's default).
func writeConfigs(dir string, n, threads int, ttl time.Duration) ([]ports, []string, error) {
	ps := make([]ports, n)
	for i := range ps {
		for _, a := range []*string{&ps[i].client, &ps[i].cluster, &ps[i].http} {
			addr, err := freeAddr()
			if err != nil {
				return nil, nil, err
			}
			*a = addr
		}
	}
	routes := make([]string, n)
	for i, p := range ps {
		routes[i] = p.cluster
	}
	var paths []string
	for i, p := range ps {
		name := fmt.Sprintf("n%d", i+1)
		var b strings.Builder
		fmt.Fprintf(&b, "data_dir: %s\n", filepath.Join(dir, "data-"+name))
		fmt.Fprintf(&b, "nats:\n  listen: %s\n  server_name: %s\n", p.client, name)
		fmt.Fprintf(&b, "  cluster:\n    name: fleet-bench\n    listen: %s\n    routes: [%s]\n", p.cluster, strings.Join(routes, ", "))
		fmt.Fprintf(&b, "  mqtt: {enabled: false}\n")
		fmt.Fprintf(&b, "http:\n  listen: %s\n", p.http)
		fmt.Fprintf(&b, "model:\n  intra_op_threads: %d\n", threads)
		fmt.Fprintf(&b, "fleet:\n  enabled: true\n  node: %s\n", name)
		if ttl > 0 {
			fmt.Fprintf(&b, "  lease_ttl: %s\n", ttl)
		}
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			return nil, nil, err
		}
		paths = append(paths, path)
	}
	return ps, paths, nil
}

// start runs the node's vigil process, its output (JSON log lines) kept in
// dir/<name>-<start>.log and read into n.logs as it comes.
func (n *node) start() error {
	n.starts++
	logPath := filepath.Join(n.dir, fmt.Sprintf("%s-%d.log", n.name, n.starts))
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.bin, "run", "--config", n.config, "--log-format", "json", "--log-level", n.logLevel)
	// The repository root, where vigil finds deps/ (model, onnxruntime).
	cmd.Dir, _ = os.Getwd()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	children.mu.Lock()
	if err := cmd.Start(); err != nil {
		children.mu.Unlock()
		f.Close()
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	if children.procs == nil {
		children.procs = map[int]*exec.Cmd{}
	}
	children.procs[cmd.Process.Pid] = cmd
	children.mu.Unlock()
	n.cmd, n.exited, n.exitState = cmd, make(chan struct{}), nil
	go n.logs.read(n.name, n.starts, pr, f)
	go func() {
		cmd.Wait()
		pw.Close()
		children.mu.Lock()
		delete(children.procs, cmd.Process.Pid)
		children.mu.Unlock()
		n.exitState = cmd.ProcessState
		close(n.exited)
	}()
	return nil
}

// signal sends sig to the node's process and returns when it sent it.
func (n *node) signal(sig syscall.Signal) (time.Time, error) {
	at := time.Now()
	return at, n.cmd.Process.Signal(sig)
}

// waitExit waits for the process to end; false if it did not within d.
func (n *node) waitExit(d time.Duration) bool {
	select {
	case <-n.exited:
		return true
	case <-time.After(d):
		return false
	}
}

func (n *node) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// fleetStatus is GET /api/fleet: ok false while the node has not joined
// (503) or does not answer.
func (n *node) fleetStatus() (fleet.Status, bool) {
	var st fleet.Status
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + n.http + "/api/fleet")
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, false
	}
	return st, json.NewDecoder(resp.Body).Decode(&st) == nil
}

// logEvent is one log line of a node, as read by the bench (its time is
// when the bench read it: vigil's own stamps are whole seconds).
type logEvent struct {
	node    string
	start   int // which start of the node
	at      time.Time
	level   string
	message string
	fields  map[string]any
	raw     string
}

// logBook keeps every node's log lines.
type logBook struct {
	mu     sync.Mutex
	events []logEvent
}

func (b *logBook) read(name string, start int, r io.Reader, f *os.File) {
	defer f.Close()
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		at := time.Now()
		line := s.Text()
		fmt.Fprintf(f, "%s %s\n", at.Format("15:04:05.000"), line)
		e := logEvent{node: name, start: start, at: at, raw: line}
		if json.Unmarshal([]byte(line), &e.fields) == nil {
			e.message, _ = e.fields["message"].(string)
			e.level, _ = e.fields["level"].(string)
		}
		b.mu.Lock()
		b.events = append(b.events, e)
		b.mu.Unlock()
	}
	io.Copy(io.Discard, r)
}

// find is the first event after t that matches.
func (b *logBook) find(after time.Time, match func(logEvent) bool) (logEvent, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.events {
		if e.at.After(after) && match(e) {
			return e, true
		}
	}
	return logEvent{}, false
}

// excerpt is the fleet's log lines (and warnings, errors) of every node
// from since to until, at most max of them, as read.
func (b *logBook) excerpt(since, until time.Time, max int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.events {
		if e.at.Before(since) || e.at.After(until) {
			continue
		}
		if strings.HasPrefix(e.message, "Error trying to connect to route") {
			continue // every second while a server is down
		}
		if strings.HasPrefix(e.message, "fleet") || e.level == "warn" || e.level == "error" || e.message == "" ||
			e.fields["component"] == "nats-server" && strings.Contains(e.message, "leader") {
			out = append(out, fmt.Sprintf("%s %s#%d %s", e.at.Format("15:04:05.000"), e.node, e.start, e.raw))
		}
	}
	if len(out) > max {
		out = append(out[:max/2], append([]string{"…"}, out[len(out)-max/2:]...)...)
	}
	return out
}

// count is how many events match.
func (b *logBook) count(match func(logEvent) bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, e := range b.events {
		if match(e) {
			n++
		}
	}
	return n
}
