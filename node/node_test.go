package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/config"
)

// logBuf collects a node's JSON log lines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the log lines with this message.
func (l *logBuf) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// testNode is a running node on its own ports and data directory, with a
// subscriber to every camera's tracks.
type testNode struct {
	*Node
	t      *testing.T
	log    *logBuf
	file   string // the config file Reload reads
	base   string // the HTTP API
	nc     *nats.Conn
	mu     sync.Mutex
	tracks map[string][]trackMsg
	stop   func()
}

type trackMsg struct {
	Camera   string `json:"camera"`
	Seq      uint64 `json:"seq"`
	Detector string `json:"detector"`
	Model    string `json:"model"`
	Detected bool   `json:"detected"`
	Gate     string `json:"gate"`
	Objects  []struct {
		TrackID uint64 `json:"track_id"`
	} `json:"objects"`
}

// header fills a config's ports and data directory; body is the rest.
func header(t *testing.T) string {
	return fmt.Sprintf("data_dir: %s\nnats: {listen: %q}\nhttp: {listen: %q}\nmodel: {intra_op_threads: 1}\n",
		t.TempDir(), freeAddr(t), freeAddr(t))
}

// startNode writes cfg to a file and runs a node on it.
func startNode(t *testing.T, cfg string) *testNode {
	t.Helper()
	tn := &testNode{t: t, log: &logBuf{}, file: filepath.Join(t.TempDir(), "vigil.yaml"), tracks: map[string][]trackMsg{}}
	tn.write(cfg)
	c, err := config.Load(tn.file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(c, Options{Logger: zerolog.New(tn.log), Load: func() (*config.Config, error) { return config.Load(tn.file) }})
	if err != nil {
		t.Fatal(err)
	}
	tn.Node = n
	tn.base = "http://" + n.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	tn.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(2 * time.Minute):
				t.Fatal("the node did not stop")
			}
		})
	}
	t.Cleanup(func() {
		tn.stop()
		if t.Failed() {
			tn.log.mu.Lock()
			t.Logf("log:\n%s", tn.log.buf.String())
			tn.log.mu.Unlock()
		}
	})
	url := c.NATS.URL // a node of another's server
	if url == "" {
		url = "nats://" + c.NATS.Listen
	}
	tn.nc, err = nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.nc.Close)
	if _, err := tn.nc.Subscribe("vigil.*.tracks", func(m *nats.Msg) {
		var tm trackMsg
		if json.Unmarshal(m.Data, &tm) != nil {
			t.Errorf("bad tracks message %s", m.Data)
			return
		}
		tn.mu.Lock()
		tn.tracks[tm.Camera] = append(tn.tracks[tm.Camera], tm)
		tn.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := tn.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return tn
}

func (tn *testNode) write(cfg string) {
	tn.t.Helper()
	if err := os.WriteFile(tn.file, []byte(cfg), 0o644); err != nil {
		tn.t.Fatal(err)
	}
}

func (tn *testNode) count(camera string) int {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return len(tn.tracks[camera])
}

func (tn *testNode) messages(camera string) []trackMsg {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return append([]trackMsg(nil), tn.tracks[camera]...)
}

// waitUntil polls cond; the bound only guards against a hang.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call makes an HTTP request and decodes a JSON answer into out.
func (tn *testNode) call(method, path, body string, out any) int {
	tn.t.Helper()
	req, err := http.NewRequest(method, tn.base+path, strings.NewReader(body))
	if err != nil {
		tn.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tn.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			tn.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

func (tn *testNode) metrics() string {
	resp, err := http.Get(tn.base + "/metrics")
	if err != nil {
		tn.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// contiguous fails unless a lossless camera's messages run without a gap.
func contiguous(t *testing.T, msgs []trackMsg) {
	t.Helper()
	for i := 1; i < len(msgs); i++ {
		if msgs[i].Seq != msgs[i-1].Seq+1 {
			t.Fatalf("camera %s: seq %d after %d: a frame was lost", msgs[i].Camera, msgs[i].Seq, msgs[i-1].Seq)
		}
	}
}

func lossless(id string) string {
	return fmt.Sprintf("  - {id: %s, url: %s, realtime: false, loop: true}\n", id, assets.Media("vtest.avi"))
}

// TestCameraAddedAndRemovedOverHTTP: a camera PUT into a running node
// streams and publishes while the other camera (lossless: a lost frame is a
// gap) loses nothing; DELETE stops it, its tracks stop, and its tile,
// metric series and goroutines go.
func TestCameraAddedAndRemovedOverHTTP(t *testing.T) {
	tn := startNode(t, header(t)+"cameras:\n"+lossless("steady"))
	waitUntil(t, "steady's tracks", func() bool { return tn.count("steady") >= 3 })
	goroutines := runtime.NumGoroutine()

	var rep Report
	body := fmt.Sprintf(`{"url": %q, "realtime": false, "loop": true}`, assets.Media("vtest.avi"))
	if code := tn.call("PUT", "/api/config/cameras/extra", body, &rep); code != 200 || rep.Outcome != "applied" || len(rep.Added) != 1 || rep.Generation != 2 {
		t.Fatalf("PUT: %d %+v", code, rep)
	}
	waitUntil(t, "the added camera's tracks", func() bool { return tn.count("extra") >= 5 })
	var cams []map[string]any
	tn.call("GET", "/api/cameras", "", &cams)
	if len(cams) != 2 || cams[1]["camera"] != "extra" || cams[1]["detector"] != "default" || !strings.HasPrefix(cams[1]["model"].(string), "yolov8n.onnx@") {
		t.Errorf("/api/cameras = %v", cams)
	}
	var live struct{ Cameras []struct{ Camera string } }
	tn.call("GET", "/api/live", "", &live)
	if len(live.Cameras) != 2 {
		t.Errorf("/api/live lists %d cameras", len(live.Cameras))
	}
	if m := tn.metrics(); !strings.Contains(m, `vigil_frames_processed_total{camera="extra"}`) {
		t.Error("no metrics for the added camera")
	}

	if code := tn.call("DELETE", "/api/config/cameras/extra", "", &rep); code != 200 || rep.Outcome != "applied" || len(rep.Removed) != 1 || rep.Generation != 3 {
		t.Fatalf("DELETE: %d %+v", code, rep)
	}
	// Messages published before the removal may still be on the wire:
	// count once the steady camera has moved on, then again later.
	n := tn.count("steady")
	waitUntil(t, "steady's tracks after the removal", func() bool { return tn.count("steady") >= n+5 })
	extra := tn.count("extra")
	waitUntil(t, "more of steady's tracks", func() bool { return tn.count("steady") >= n+15 })
	if got := tn.count("extra"); got != extra {
		t.Errorf("%d tracks messages of the removed camera after the removal", got-extra)
	}
	var e struct{ Error string }
	if code := tn.call("GET", "/api/config/cameras/extra", "", &e); code != 404 || !strings.Contains(e.Error, `"extra"`) {
		t.Errorf("GET of the removed camera: %d %+v", code, e)
	}
	tn.call("GET", "/api/live", "", &live)
	if len(live.Cameras) != 1 || live.Cameras[0].Camera != "steady" {
		t.Errorf("/api/live after the removal: %+v", live.Cameras)
	}
	if m := tn.metrics(); strings.Contains(m, `camera="extra"`) {
		t.Errorf("series of the removed camera remain:\n%s", grepLines(m, `camera="extra"`))
	}
	waitUntil(t, "the goroutines back", func() bool { return runtime.NumGoroutine() <= goroutines })
	if lines := tn.log.lines("configuration applied"); len(lines) != 2 {
		t.Errorf("%d 'configuration applied' lines, want one per change", len(lines))
	}
	tn.stop()
	contiguous(t, tn.messages("steady"))
	contiguous(t, tn.messages("extra"))
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPutCameraErrors: a bad camera block is refused with its problems
// and field paths, and changes nothing.
func TestPutCameraErrors(t *testing.T) {
	tn := startNode(t, header(t)+"cameras:\n  - {id: a, url: testsrc, fps: 5}\n")
	for _, c := range []struct {
		name, path, body string
		code             int
		want             []string
	}{
		{"unknown key", "/api/config/cameras/b", "{url: testsrc, urll: x}", 400, []string{"urll", `did you mean "url"`}},
		{"bad scheme", "/api/config/cameras/b", `{"url": "rtmp://x/y"}`, 400, []string{"url", "rtmp"}},
		{"other id", "/api/config/cameras/b", `{"id": "c", "url": "testsrc"}`, 400, []string{`"c"`, `"b"`}},
		{"unknown detector", "/api/config/cameras/b", `{"url": "testsrc", "detector": "gpu"}`, 400, []string{"detector", "gpu"}},
		{"bad rule", "/api/config/cameras/b", `{"url": "testsrc", "rules": [{"name": "l", "type": "line", "points": [[0, 0]]}]}`, 400, []string{"rules[0]"}},
		{"not yaml", "/api/config/cameras/b", "{[", 400, []string{"request body"}},
		{"delete unknown", "/api/config/cameras/zz", "", 404, []string{`"zz"`}},
	} {
		method := "PUT"
		if strings.HasPrefix(c.name, "delete") {
			method = "DELETE"
		}
		var e struct {
			Error    string
			Problems []string
		}
		code := tn.call(method, c.path, c.body, &e)
		text := e.Error + "\n" + strings.Join(e.Problems, "\n")
		if code != c.code {
			t.Errorf("%s: %d %s", c.name, code, text)
		}
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: answer lacks %q: %s", c.name, w, text)
			}
		}
	}
	var st ConfigStatus
	tn.call("GET", "/api/config/status", "", &st)
	if st.Generation != 1 || len(tn.Config().Cameras) != 1 {
		t.Errorf("bad requests changed the config: generation %d, %d cameras", st.Generation, len(tn.Config().Cameras))
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd here")
	}
	return len(ents)
}

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "vigil-node-test") }
