package rtsptest

import (
	"os/exec"
	"sync"
)

// TestSource is the input for Publish that means lavfi testsrc, 320x240 at 10 fps.
const TestSource = "testsrc"

// Publisher is an ffmpeg process publishing to an RTSP URL.
type Publisher struct {
	url      string
	cmd      *exec.Cmd
	log      *tail
	done     chan struct{} // closed once ffmpeg has exited and been reaped
	stopOnce sync.Once
}

// Publish starts ffmpeg publishing input to url as H.264 over RTSP/TCP, in
// real time and looping forever. input is a file path, or TestSource. The
// returned Publisher's Stop kills ffmpeg; t.Cleanup does too, and logs
// ffmpeg's output when the test failed.
func Publish(t T, url, input string) *Publisher {
	t.Helper()
	cmd := exec.Command("ffmpeg", publishArgs(url, input)...)
	p := &Publisher{url: url, cmd: cmd, log: newTail(8 << 10), done: make(chan struct{})}
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	cmd.SysProcAttr = ownProcessGroup()
	if err := cmd.Start(); err != nil {
		t.Fatalf("rtsptest: start ffmpeg publishing %q to %s: %v", input, url, err)
	}
	go func() {
		_ = cmd.Wait() // killed is the normal end; the output says more than the status
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("ffmpeg publishing %q to %s said:\n%s", input, url, p.log)
		}
	})
	return p
}

func publishArgs(url, input string) []string {
	// -nostdin: ffmpeg in its own process group would stop on SIGTTIN if it read a terminal.
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning", "-re"}
	if input == TestSource {
		args = append(args, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10")
	} else {
		args = append(args, "-stream_loop", "-1", "-i", input)
	}
	return append(args,
		"-an", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		// testsrc is RGB, from which libx264 would make High 4:4:4, which
		// many decoders refuse; cameras send 4:2:0.
		"-pix_fmt", "yuv420p",
		"-g", "10",
		"-f", "rtsp", "-rtsp_transport", "tcp", url)
}

// Stop kills ffmpeg and its process group, as a camera losing power would,
// and waits for it to exit. It is safe to call more than once.
func (p *Publisher) Stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.done: // exited by itself; its pid may be someone else's by now
		default:
			killProcessGroup(p.cmd.Process.Pid)
		}
		<-p.done
	})
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTail(max int) *tail {
	return &tail{max: max}
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
