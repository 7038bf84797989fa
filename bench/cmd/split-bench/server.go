package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a `vigil serve infer` process: the other end of the link.
type server struct {
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	log    []string // its stderr, for an error message
}

// readyMsg is the message the infer server logs once it is subscribed.
const readyMsg = "inference server ready"

// startServer starts `vigil serve infer` on modelPath and returns once it
// has logged that it is subscribed.
func startServer(bin, modelPath, natsURL, subject string, threads int) (*server, error) {
	cmd := exec.Command(bin, "serve", "infer", "--model", modelPath, "--nats", natsURL,
		"--subject", subject, "--threads", strconv.Itoa(threads))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", strings.Join(cmd.Args, " "), err)
	}
	s := &server{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			if len(s.log) < 200 {
				s.log = append(s.log, line)
			}
			s.mu.Unlock()
			if strings.Contains(line, `"message":"`+readyMsg+`"`) {
				once.Do(func() { close(ready) })
			}
		}
		cmd.Wait()
		close(s.exited)
	}()
	select {
	case <-ready:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("%s exited before it was ready (%v): %s", strings.Join(cmd.Args, " "), cmd.ProcessState, s.logTail())
	case <-time.After(2 * time.Minute):
		s.stop()
		return nil, fmt.Errorf("%s: not ready after 2 minutes: %s", strings.Join(cmd.Args, " "), s.logTail())
	}
}

func (s *server) logTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.log
	if len(l) > 5 {
		l = l[len(l)-5:]
	}
	return strings.Join(l, "\n")
}

// cpu is the CPU time the process has used so far, user and system, all
// threads (utime and stime of /proc/PID/stat, in clock ticks of 10 ms).
func (s *server) cpu() (time.Duration, error) {
	if s == nil {
		return 0, nil
	}
	p := "/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/stat"
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: the fields
	// that count start after its closing one (state is field 3).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: unexpected %q", p, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: unexpected %q", p, b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// stop interrupts the server as Ctrl-C would and waits for it to exit,
// killing it after 10 s.
func (s *server) stop() {
	if s == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		progress("%s did not stop on SIGINT within 10 s: killed", s.cmd.Args[0])
		s.cmd.Process.Kill()
		<-s.exited
	}
}
