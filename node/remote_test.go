package node

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/infer"
	"github.com/vigil-vision/vigil/model"
	"github.com/vigil-vision/vigil/sinks"
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
	srv, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Port: -1, JetStream: true, StoreDir: t.TempDir(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	sc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sc.Close)
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

	cfg := fmt.Sprintf("data_dir: %s\nnats: {url: %q}\nhttp: {listen: %q}\n", t.TempDir(), srv.ClientURL(), freeAddr(t)) +
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
