package main

import (
	"bufio"
	"bytes"
	"context"
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
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/internal/onnxtest"
	"github.com/vigil-vision/vigil/sinks"
)

// vigilBin is the binary under test, built once with -tags matprofile so
// that its last log line counts the Mats it left open.
var vigilBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-test")
	if err != nil {
		panic(err)
	}
	vigilBin = filepath.Join(dir, "vigil")
	build := exec.Command("go", "build", "-tags", "matprofile", "-o", vigilBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building vigil:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr is a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// proc is a running vigil with its JSON log lines collected.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []map[string]any
	raw    bytes.Buffer
	done   chan struct{}
	status error
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(vigilBin, args...)
	cmd.Dir = moduleRoot(t)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			p.mu.Lock()
			p.raw.Write(sc.Bytes())
			p.raw.WriteByte('\n')
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				p.lines = append(p.lines, m)
			}
			p.mu.Unlock()
		}
		p.status = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("vigil log:\n%s", p.log())
		}
	})
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw.String()
}

// find returns the first log line with this message.
func (p *proc) find(msg string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if l["message"] == msg {
			return l
		}
	}
	return nil
}

// wait waits for the process to exit; the bound only guards against hangs.
func (p *proc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
		return p.status
	case <-time.After(5 * time.Minute):
		t.Fatal("vigil did not exit")
		return nil
	}
}

func moduleRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(wd))
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type tracksMsg struct {
	Schema     string    `json:"schema"`
	Camera     string    `json:"camera"`
	Seq        uint64    `json:"seq"`
	CapturedAt time.Time `json:"captured_at"`
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	Objects    []struct {
		TrackID uint64  `json:"track_id"`
		Class   *int    `json:"class"`
		Label   string  `json:"label"`
		Score   float64 `json:"score"`
		Box     *struct {
			X, Y, W, H float64
		} `json:"box"`
	} `json:"objects"`
	TimingsMS map[string]float64 `json:"timings_ms"`
}

// checkSchema returns what is wrong with one message, or "".
func checkSchema(raw []byte, m *tracksMsg) string {
	var loose map[string]any
	if err := json.Unmarshal(raw, &loose); err != nil {
		return err.Error()
	}
	for _, k := range []string{"schema", "camera", "seq", "captured_at", "width", "height", "objects", "timings_ms"} {
		if _, ok := loose[k]; !ok {
			return "missing " + k
		}
	}
	if err := json.Unmarshal(raw, m); err != nil {
		return err.Error()
	}
	if m.Schema != "vigil.tracks/v1" || m.Width != 768 || m.Height != 576 || m.CapturedAt.IsZero() {
		return fmt.Sprintf("header %+v", m)
	}
	if _, err := time.Parse(time.RFC3339Nano, loose["captured_at"].(string)); err != nil {
		return "captured_at: " + err.Error()
	}
	for _, o := range m.Objects {
		if o.TrackID == 0 || o.Class == nil || o.Label == "" || o.Box == nil || o.Score <= 0 || o.Score > 1 {
			return fmt.Sprintf("object %+v", o)
		}
		if o.Box.X < 0 || o.Box.Y < 0 || o.Box.W <= 0 || o.Box.H <= 0 || o.Box.X+o.Box.W > 768.01 || o.Box.Y+o.Box.H > 576.01 {
			return fmt.Sprintf("box %+v outside the frame", *o.Box)
		}
	}
	for _, k := range []string{"preprocess", "infer", "track", "total"} {
		if _, ok := m.TimingsMS[k]; !ok {
			return "timings_ms lacks " + k
		}
	}
	return ""
}

// natsServer starts a real NATS server in this process, for vigil to reach
// as an external one, and subscribes to subject before vigil starts so that
// nothing is missed.
func natsServer(t *testing.T, subject string) (*sinks.Embedded, chan *nats.Msg) {
	t.Helper()
	srv, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Host: "127.0.0.1", Port: -1, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	msgs := make(chan *nats.Msg, 1000)
	if _, err := nc.ChanSubscribe(subject, msgs); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return srv, msgs
}

func TestRunEndToEnd(t *testing.T) {
	srv, msgs := natsServer(t, "vigil.walkway.tracks")

	const frames = 40
	cfg := writeFile(t, "vigil.yaml", fmt.Sprintf(`
cameras:
  - id: walkway
    url: %s
    realtime: false
    loop: false
nats:
  url: %s
http:
  listen: off
model:
  intra_op_threads: 2
pipeline:
  max_frames: %d
`, assets.Media("vtest.avi"), srv.ClientURL(), frames))
	p := start(t, "run", "--config", cfg, "--log-format", "json")
	if err := p.wait(t); err != nil {
		t.Fatalf("vigil run: %v", err)
	}
	stopped := p.find("vigil stopped")
	if stopped == nil {
		t.Fatal("no 'vigil stopped' line")
	}
	if stopped["processed"] != float64(frames) || stopped["published"] != float64(frames) {
		t.Errorf("stopped line %v", stopped)
	}
	if stopped["mats_open"] != float64(0) {
		t.Errorf("mats_open = %v after the run", stopped["mats_open"])
	}

	// Every processed frame is one message, in seq order, valid.
	var got []tracksMsg
	waitUntil(t, "all messages", func() bool { return len(msgs) >= frames })
	for len(msgs) > 0 {
		m := <-msgs
		var tm tracksMsg
		if bad := checkSchema(m.Data, &tm); bad != "" {
			t.Fatalf("message %d: %s\n%s", len(got)+1, bad, m.Data)
		}
		got = append(got, tm)
	}
	if len(got) != frames {
		t.Fatalf("%d messages, want %d", len(got), frames)
	}
	for i, m := range got {
		if m.Seq != uint64(i+1) || m.Camera != "walkway" {
			t.Fatalf("message %d: camera %s seq %d", i, m.Camera, m.Seq)
		}
	}
	// People walk through vtest.avi the whole time: some track must stay
	// with its person over at least 20 consecutive processed frames.
	run, best := map[uint64]int{}, 0
	for _, m := range got {
		next := map[uint64]int{}
		for _, o := range m.Objects {
			next[o.TrackID] = run[o.TrackID] + 1
			best = max(best, next[o.TrackID])
		}
		run = next
	}
	if best < 20 {
		t.Errorf("longest run of one track id: %d consecutive frames, want ≥ 20", best)
	}
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunDemoThenSIGINT(t *testing.T) {
	// The demo as `make run` starts it: no config, the sample video in real
	// time, the embedded NATS, HTTP on loopback; here on free ports.
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	p := start(t, "run", "--log-format", "json", "--nats-listen", natsAddr, "--http", httpAddr,
		"--data-dir", t.TempDir(), "--threads", "2")
	base := "http://" + httpAddr
	waitUntil(t, "/healthz ready", func() bool { c, _ := httpGet(base + "/healthz"); return c == 200 })

	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 100)
	if _, err := nc.ChanSubscribe("vigil.demo.tracks", msgs); err != nil {
		t.Fatal(err)
	}
	var first tracksMsg
	select {
	case m := <-msgs:
		if bad := checkSchema(m.Data, &first); bad != "" {
			t.Fatalf("demo message: %s", bad)
		}
	case <-time.After(time.Minute):
		t.Fatal("no message from the demo on vigil.demo.tracks")
	}

	_, body := httpGet(base + "/api/cameras")
	var cams []map[string]any
	if err := json.Unmarshal([]byte(body), &cams); err != nil || len(cams) != 1 || cams[0]["camera"] != "demo" || cams[0]["state"] != "streaming" || cams[0]["detector"] != "default" {
		t.Errorf("/api/cameras = %s", body)
	}
	_, metrics := httpGet(base + "/metrics")
	for _, want := range []string{`vigil_frames_processed_total{camera="demo"}`, `vigil_stage_seconds_bucket{stage="infer"`, `vigil_camera_up{camera="demo"} 1`, "vigil_nats_published_total"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
	st := p.find("vigil stopped")
	if st == nil {
		t.Fatal("no 'vigil stopped' line after SIGINT")
	}
	if st["processed"] != st["published"] || st["publish_dropped"] != float64(0) || st["mats_open"] != float64(0) {
		t.Errorf("after SIGINT: %v", st)
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	wrongShape, err := onnxtest.Write(dir, "wrong.onnx", []int64{1, 3, 64, 64}, []int64{1, 3, 64, 64}, nil)
	if err != nil {
		t.Fatal(err)
	}
	badCfg := writeFile(t, "bad.yaml", "cameras:\n  - id: a\n    url: rtmp://x/y\n  - id: a\n    urll: z\n")
	// A detector that must have CUDA, on a machine without it.
	noGPU := writeFile(t, "nogpu.yaml", "http: {listen: off}\ncameras:\n  - {id: a, url: testsrc}\n  - {id: b, url: testsrc, detector: gpu}\n"+
		"detectors:\n  - name: spare\n  - name: gpu\n    model: {providers: [cuda], fallback_to_cpu: false}\n")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"missing model", []string{"run", "--model", "/nonexistent/model.onnx", "--http", "off"}, []string{"/nonexistent/model.onnx", "make deps"}},
		{"wrong output shape", []string{"run", "--model", wrongShape, "--http", "off"}, []string{"wrong.onnx", "output", "[1,4+C,N]"}},
		{"missing runtime", []string{"run", "--onnxruntime-lib", "/nonexistent/libonnxruntime.so.1"}, []string{"libonnxruntime.so.1", "make deps"}},
		// The unknown key does not hide the invalid values: one report.
		{"malformed config", []string{"run", "--config", badCfg}, []string{"bad.yaml:5: cameras[1].urll", `did you mean "url"`, `bad.yaml:3: cameras[0].url: unsupported scheme "rtmp"`, `bad.yaml:4: cameras[1].id: duplicate "a"`}},
		{"missing config", []string{"run", "--config", "/nonexistent.yaml"}, []string{"/nonexistent.yaml"}},
		{"bad flag", []string{"run", "--bogus"}, []string{"bogus"}},
		{"config check", []string{"config", "check", badCfg}, []string{
			"bad.yaml:3: cameras[0].url: unsupported scheme \"rtmp\"",
			"bad.yaml:4: cameras[1].id: duplicate \"a\"",
			"bad.yaml:4: cameras[1].url: required",
			"bad.yaml:5: cameras[1].urll: unknown field; did you mean \"url\"?",
		}},
		{"detector without its provider", []string{"run", "--config", noGPU}, []string{`detector "gpu"`, "detectors[1].model.providers: cuda is not available", "detectors[1].model.fallback_to_cpu: true"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(vigilBin, c.args...)
			cmd.Dir = moduleRoot(t)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("exit 0; output:\n%s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestDetectCommand(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command(vigilBin, "detect", "--json", "-o", out, assets.Media("messi5.jpg"), assets.Media("basketball1.png"))
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), stdout.String())
	}
	var l detectLine
	if err := json.Unmarshal([]byte(lines[0]), &l); err != nil || !strings.HasSuffix(l.Image, "messi5.jpg") {
		t.Fatalf("line 1 %q: %v", lines[0], err)
	}
	labels := map[string]bool{}
	for _, o := range l.Objects {
		if o.Score >= 0.5 {
			labels[o.Label] = true
		}
	}
	if !labels["person"] || !labels["sports ball"] {
		t.Errorf("messi5.jpg: %v", l.Objects)
	}
	for _, name := range []string{"messi5.jpg", "basketball1.jpg"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || len(b) < 1000 || b[0] != 0xFF || b[1] != 0xD8 {
			t.Errorf("annotated %s: %d bytes, %v", name, len(b), err)
		}
	}
	// A missing image fails with its name; the others still print.
	cmd = exec.Command(vigilBin, "detect", "--json", "/nonexistent.jpg", assets.Media("messi5.jpg"))
	o, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(o), "/nonexistent.jpg") || !strings.Contains(string(o), `"sports ball"`) {
		t.Errorf("err %v, output:\n%s", err, o)
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(vigilBin, "version").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"vigil ", "opencv 4.6", "onnxruntime 1.30"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("version lacks %q:\n%s", w, out)
		}
	}
}

var _ = context.Background

func TestExampleConfigIsValid(t *testing.T) {
	p := filepath.Join(moduleRoot(t), "assets", "vigil.example.yaml")
	out, err := exec.Command(vigilBin, "config", "check", p).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok (1 cameras)") {
		t.Fatalf("%v:\n%s", err, out)
	}
	shown, err := exec.Command(vigilBin, "config", "example").Output()
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(p)
	if !bytes.Equal(shown, onDisk) {
		t.Error("`vigil config example` differs from assets/vigil.example.yaml")
	}
}
