package node

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/infer"
	"github.com/vigil-vision/vigil/internal/natstest"
	"github.com/vigil-vision/vigil/model"
)

// A node whose model.path is a split's head sends each frame's cut to a
// tail server on NATS (model.remote) and publishes the tracks it answers;
// while no server serves, frames fail and are counted, and the node goes
// on; a server back serves the next frames.
func TestRemoteSplitDetector(t *testing.T) {
	if err := detect.InitRuntime(assets.Library()); err != nil {
		t.Fatal(err)
	}
	head, tail, err := model.SplitFile(assets.Model(), []string{"/model.3/act/Mul_output_0"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	url := natstest.Server(t)
	_, sc := natstest.Connect(t, url)
	tl, err := detect.NewTail(detect.Options{Model: tail, IntraOpThreads: 1, Confidence: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	serve := func() *infer.Server {
		s, err := infer.Serve(infer.ServerOptions{Conn: sc, Subject: "vigil.infer.line", Tail: tl, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := serve()

	cfg := fmt.Sprintf("data_dir: %s\nnats: {url: %q}\nhttp: {listen: %q}\n", t.TempDir(), url, freeAddr(t)) +
		fmt.Sprintf("model: {path: %s, intra_op_threads: 1, remote: {subject: vigil.infer.line, timeout: 10s}}\n", head) +
		"cameras:\n" + lossless("cam")
	tn := startNode(t, cfg)
	objects := func() int {
		n := 0
		for _, msg := range tn.messages("cam") {
			n += len(msg.Objects)
		}
		return n
	}
	waitUntil(t, "tracks from the remote tail", func() bool { return tn.count("cam") >= 30 && objects() > 0 })
	if served, _ := s.Counts(); served < 30 {
		t.Errorf("the tail server served %d requests for %d frames", served, tn.count("cam"))
	}
	metric := func(name string) float64 {
		re := regexp.MustCompile(name + `\{detector="default"\} ([0-9.e+-]+)`)
		mm := re.FindStringSubmatch(tn.metrics())
		if mm == nil {
			t.Fatalf("no %s in /metrics", name)
		}
		v, _ := strconv.ParseFloat(mm[1], 64)
		return v
	}
	if req, b, rtt := metric("vigil_remote_requests_total"), metric("vigil_remote_request_bytes_total"), metric("vigil_remote_rtt_seconds"); req < 30 || b < req*409600 || rtt <= 0 {
		t.Errorf("metrics: %g requests, %g bytes, last RTT %g s", req, b, rtt)
	}

	// The server goes: frames fail, counted, and the node goes on.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	failed := func() int {
		re := regexp.MustCompile(`vigil_frames_dropped_total\{camera="cam",reason="detect_error",stage="[a-z]+"\} (\d+)`)
		mm := re.FindStringSubmatch(tn.metrics())
		if mm == nil {
			return 0
		}
		n, _ := strconv.Atoi(mm[1])
		return n
	}
	waitUntil(t, "frames failing without a server", func() bool { return failed() >= 10 })
	if f := metric("vigil_remote_failures_total"); f < 10 {
		t.Errorf("vigil_remote_failures_total %g, %d frames dropped", f, failed())
	}
	// Back: frames are served again, without a restart.
	before := tn.count("cam")
	s = serve()
	defer s.Close()
	waitUntil(t, "tracks again", func() bool { return tn.count("cam") >= before+20 })
	if served, _ := s.Counts(); served < 20 {
		t.Errorf("the server back served %d requests", served)
	}
}

// A node that sends whole frames to a server over a link shaped to
// 2 Mbit/s measures the link, finds with model.remote.plan that running
// the model here is now faster (a 90 kB frame takes 0.37 s on the wire),
// says so once in the log, in /metrics and in /api/models/remote; a
// reload that runs the model here removes the detector's remote series.
func TestRemotePlanMismatch(t *testing.T) {
	if err := detect.InitRuntime(assets.Library()); err != nil {
		t.Fatal(err)
	}
	url := natstest.Server(t)
	_, sc := natstest.Connect(t, url)
	whole, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { whole.Close() })
	source, err := infer.FileSource(assets.Model())
	if err != nil {
		t.Fatal(err)
	}
	s, err := infer.Serve(infer.ServerOptions{Conn: sc, Subject: "vigil.infer.whole", Detector: whole, Source: source, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	profiles := filepath.Join("..", "infer", "testdata")
	head := fmt.Sprintf("data_dir: %s\nnats: {url: %q}\nhttp: {listen: %q}\n", t.TempDir(), natstest.Shaped(t, url, 2e6), freeAddr(t))
	cfg := head + fmt.Sprintf("model: {intra_op_threads: 1, remote: {subject: vigil.infer.whole, timeout: 10s, plan: {goal: latency, every: 1s, profile: %s, remote_profile: %s}}}\n",
		filepath.Join(profiles, "profile-camera.json"), filepath.Join(profiles, "profile-server.json")) +
		"cameras:\n" + lossless("cam")
	tn := startNode(t, cfg)
	series := func(name string) string {
		mm := regexp.MustCompile(`(?m)^` + name + `(\{[^}]*\})? (\S+)$`).FindStringSubmatch(tn.metrics())
		if mm == nil {
			return ""
		}
		return mm[1] + " " + mm[2]
	}
	waitUntil(t, "the plan checked over the measured link", func() bool { return series("vigil_remote_plan_mismatch") == `{detector="default"} 1` })
	if c := series("vigil_remote_plan_choice"); c != `{choice="local",configured="jpeg",detector="default",goal="latency"} 1` {
		t.Errorf("vigil_remote_plan_choice %s", c)
	}
	rate := series("vigil_remote_link_bits_per_second")
	if v, err := strconv.ParseFloat(strings.TrimPrefix(rate, `{detector="default"} `), 64); err != nil || v < 1e6 || v > 2.5e6 {
		t.Errorf("vigil_remote_link_bits_per_second %q: want about 2 Mbit/s", rate)
	}
	if series("vigil_remote_link_rtt_seconds") == "" {
		t.Errorf("no vigil_remote_link_rtt_seconds")
	}
	var api struct{ Remotes []RemoteReport }
	if code := tn.call("GET", "/api/models/remote", "", &api); code != 200 || len(api.Remotes) != 1 {
		t.Fatalf("/api/models/remote: %d %+v", code, api)
	}
	if r := api.Remotes[0]; r.Detector != "default" || r.Mode != "jpeg" || r.Link == nil || r.Plan == nil ||
		!r.Plan.Mismatch || r.Plan.Choice != "local" || !strings.Contains(r.Plan.Fix, "run the model on this node") {
		t.Errorf("/api/models/remote: %+v, link %+v, plan %+v", r, r.Link, r.Plan)
	}
	// More checks find the same: still one warning.
	checks := tn.count("cam")
	waitUntil(t, "more frames and checks", func() bool { return tn.count("cam") >= checks+4 })
	if w := tn.log.lines("remote detector: over the measured link the planner now picks local for latency, not the configured jpeg"); len(w) != 1 {
		t.Errorf("%d warnings, want 1", len(w))
	} else if w[0]["level"] != "warn" || w[0]["detector"] != "default" || w[0]["fix"] == nil || w[0]["link_mbit_per_s"] == nil {
		t.Errorf("warning %v", w[0])
	}

	// The model runs here now: the remote detector and its series go.
	tn.write(head + "model: {intra_op_threads: 1}\ncameras:\n" + lossless("cam"))
	if rep, err := tn.Reload("file"); err != nil || rep.Outcome != "applied" {
		t.Fatalf("reload: %v %+v", err, rep)
	}
	m := tn.metrics()
	for _, name := range []string{"vigil_remote_plan_mismatch", "vigil_remote_plan_choice", "vigil_remote_link_bits_per_second", "vigil_remote_link_rtt_seconds"} {
		if strings.Contains(m, name+"{") {
			t.Errorf("%s still in /metrics after the remote detector went", name)
		}
	}
	if code := tn.call("GET", "/api/models/remote", "", &api); code != 200 || len(api.Remotes) != 0 {
		t.Errorf("/api/models/remote after the reload: %d %+v", code, api)
	}
}
