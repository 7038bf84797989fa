package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/infer"
	"github.com/vigil-vision/vigil/model"
	"github.com/vigil-vision/vigil/sinks"
	"gocv.io/x/gocv"
)

// `vigil serve infer` serves a split's tail over NATS until interrupted:
// a head in this process gets detections from it; a head given to serve
// is refused with what to give instead.
func TestServeInfer(t *testing.T) {
	if err := detect.InitRuntime(assets.Library()); err != nil {
		t.Fatal(err)
	}
	head, tail, err := model.SplitFile(assets.Model(), []string{"/model.3/act/Mul_output_0"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := vigil(t, "serve", "infer", "--model", head, "--nats", "nats://127.0.0.1:1"); code != 1 ||
		!strings.Contains(stderr, "is the head of a split model: serve its tail.onnx") {
		t.Errorf("serving a head: exit %d, %s", code, stderr)
	}
	if _, stderr, code := vigil(t, "serve"); code != 2 || !strings.Contains(stderr, "vigil serve infer --model MODEL") {
		t.Errorf("no service: exit %d, %s", code, stderr)
	}

	srv, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Port: -1, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	p := start(t, "serve", "infer", "--model", tail, "--nats", srv.ClientURL(), "--subject", "vigil.infer.cli", "--threads", "1")
	waitUntil(t, "the server ready", func() bool { return p.find("inference server ready") != nil })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	h, err := detect.NewHead(detect.Options{Model: head, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r, err := infer.NewRemote(infer.RemoteOptions{Conn: nc, Subject: "vigil.infer.cli", Head: h, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	img := gocv.IMRead(assets.Media("messi5.jpg"), gocv.IMReadColor)
	defer img.Close()
	dets, _, err := r.Detect(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) == 0 || dets[0].Label == "" {
		t.Errorf("detections from the served tail: %+v", dets)
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t); err != nil {
		t.Errorf("vigil serve infer after an interrupt: %v", err)
	}
}
