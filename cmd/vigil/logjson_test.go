package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/internal/rtsptest"
)

// With --log-format json every line vigil writes is JSON: FFmpeg's own
// lines (an RTSP camera answering 404 makes one per attempt) are kept out,
// and the publisher's lines name their stage once.
func TestJSONLogIsOnlyJSON(t *testing.T) {
	srv := rtsptest.Start(t)
	cfg := writeFile(t, "vigil.yaml", fmt.Sprintf(`
data_dir: %s
nats: {listen: %q}
http: {listen: off}
model: {intra_op_threads: 1}
cameras:
  - {id: gone, url: %q}
  - {id: pattern, url: testsrc, fps: 5, width: 160, height: 120}
`, t.TempDir(), freeAddr(t), srv.URL("missing")))
	p := start(t, "run", "--config", cfg, "--log-format", "json")
	waitUntil(t, "the 404 camera down", func() bool { return strings.Contains(p.log(), `"message":"camera down"`) })
	time.Sleep(2 * time.Second) // more attempts, each of which FFmpeg would speak of
	p.cmd.Process.Signal(syscall.SIGINT)
	if err := p.wait(t); err != nil {
		t.Fatalf("vigil run: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(p.log()), "\n") {
		if !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") {
			t.Errorf("not a JSON line: %s", line)
		}
		if strings.Count(line, `"stage":`) > 1 {
			t.Errorf("stage twice: %s", line)
		}
	}
	p.mu.Lock()
	n := len(p.lines)
	p.mu.Unlock()
	if want := len(strings.Split(strings.TrimSpace(p.log()), "\n")); n != want {
		t.Errorf("%d of %d lines parse as JSON", n, want)
	}
}
