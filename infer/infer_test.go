package infer

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/natstest"
	"github.com/vigil-vision/vigil/model"
	"github.com/vigil-vision/vigil/sinks"
	"gocv.io/x/gocv"
)

// YOLOv8n's cuts (model/split_test.go): one tensor after model.3, three
// at the end of the backbone.
var (
	singleCut   = []string{"/model.3/act/Mul_output_0"}
	backboneEnd = []string{"/model.4/cv2/act/Mul_output_0", "/model.6/cv2/act/Mul_output_0", "/model.9/cv2/act/Mul_output_0"}
)

func requireRuntime(t testing.TB) {
	t.Helper()
	if err := detect.InitRuntime(assets.Library()); err != nil {
		t.Fatal(err)
	}
}

// frames are real frames: vtest.avi every 40th frame, and messi5.jpg.
func frames(t *testing.T, n int) []gocv.Mat {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(assets.Media("vtest.avi"))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	var out []gocv.Mat
	t.Cleanup(func() {
		for _, m := range out {
			m.Close()
		}
	})
	img := gocv.NewMat()
	defer img.Close()
	for i := 0; len(out) < n-1 && vc.Read(&img) && !img.Empty(); i++ {
		if i%40 == 0 {
			out = append(out, img.Clone())
		}
	}
	m := gocv.IMRead(assets.Media("messi5.jpg"), gocv.IMReadColor)
	if m.Empty() || len(out) < n-1 {
		t.Fatalf("sample media: %d frames of vtest.avi, messi5.jpg empty %v; run `make deps`", len(out), m.Empty())
	}
	return append(out, m)
}

// split writes the default model's head and tail, cut at cut; edit, when
// set, changes the model first (another source model).
func split(t *testing.T, cut []string, edit func(*onnx.ModelProto)) (head, tail string) {
	t.Helper()
	m, err := model.Load(assets.Model())
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	head, tail, err = model.WriteSplit(m, cut, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return head, tail
}

func newHead(t *testing.T, path string) *detect.Head {
	t.Helper()
	h, err := detect.NewHead(detect.Options{Model: path, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func newTail(t *testing.T, path string) *detect.Tail {
	t.Helper()
	x, err := detect.NewTail(detect.Options{Model: path, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func newWhole(t *testing.T) *detect.Detector {
	t.Helper()
	d, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func serve(t *testing.T, nc *nats.Conn, subject string, o ServerOptions) *Server {
	t.Helper()
	o.Conn, o.Subject, o.Logger = nc, subject, zerolog.Nop()
	s, err := Serve(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// natsServer is a real NATS server in the test's process, taking
// messages up to 8 MB: a float32 cut is larger than NATS's default 1 MB.
func natsServer(t *testing.T) string {
	t.Helper()
	srv, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Port: -1, MaxPayload: 8 << 20, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv.ClientURL()
}

func conn(t *testing.T, url string) *nats.Conn {
	_, nc := natstest.Connect(t, url)
	return nc
}

// sameDetections fails unless got and want hold the same detections in the
// same order, boxes within tol pixels and scores within 1e-4.
func sameDetections(t *testing.T, what string, got, want []detect.Detection, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d detections, the whole model %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		d := max(math.Abs(float64(g.Box.X1-w.Box.X1)), math.Abs(float64(g.Box.Y1-w.Box.Y1)),
			math.Abs(float64(g.Box.X2-w.Box.X2)), math.Abs(float64(g.Box.Y2-w.Box.Y2)))
		if g.Class != w.Class || g.Label != w.Label || math.Abs(float64(g.Score-w.Score)) > 1e-4 || d > tol {
			t.Errorf("%s: detection %d is %+v, the whole model's %+v", what, i, g, w)
		}
	}
}

// The head here and the tail on a server, over a real NATS server, find
// what the whole model finds: the same detections with float32 on the
// wire, agreement ≥ 0.99 with uint8 (issue 17), at a single-tensor cut and
// at a three-tensor one.
func TestSplitOverNATS(t *testing.T) {
	requireRuntime(t)
	url := natsServer(t)
	imgs := frames(t, 8)
	whole := newWhole(t)
	var want [][]detect.Detection
	for _, img := range imgs {
		d, _, err := whole.Detect(img, nil)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	for i, cut := range [][]string{singleCut, backboneEnd} {
		hp, tp := split(t, cut, nil)
		subject := "vigil.infer.test" + string(rune('a'+i))
		serve(t, conn(t, url), subject, ServerOptions{Tail: newTail(t, tp)})
		head := newHead(t, hp)
		for _, tr := range []DType{Float32, Float16, Uint8} {
			r, err := NewRemote(RemoteOptions{Conn: conn(t, url), Subject: subject, Head: head, Transport: tr, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			tally := model.NewTally(whole.Labels(), 0.25, 0.5)
			for j, img := range imgs {
				got, _, err := r.Detect(img, nil)
				if err != nil {
					t.Fatalf("%s %s frame %d: %v", cut[len(cut)-1], tr, j, err)
				}
				if tr == Float32 {
					sameDetections(t, cut[len(cut)-1]+" float32", got, want[j], 1e-3)
				}
				tally.Add(want[j], got)
			}
			agreement := tally.Result().Agreement
			st := r.Stats()
			t.Logf("cut %s, %s: agreement %.4f over %d frames, %d bytes a request", cut[len(cut)-1], tr, agreement, len(imgs), st.Bytes/st.Sent)
			if agreement < 0.99 {
				t.Errorf("cut %s, %s: agreement %.4f with the whole model, want ≥ 0.99", cut[len(cut)-1], tr, agreement)
			}
			if st.Sent != uint64(len(imgs)) || st.Failed != 0 || st.Fallback != 0 {
				t.Errorf("stats %+v", st)
			}
			n := 0
			for _, c := range head.Cut() {
				n += c.Len()
			}
			if min := uint64(n * tr.Size()); st.Bytes/st.Sent < min {
				t.Errorf("%s: %d bytes a request, the cut alone is %d", tr, st.Bytes/st.Sent, min)
			}
		}
	}
}

// A whole model served for frames: raw frames give the local model's
// detections exactly; JPEG ones agree.
func TestWholeOverNATS(t *testing.T) {
	requireRuntime(t)
	url := natsServer(t)
	imgs := frames(t, 4)
	whole := newWhole(t)
	src, err := FileSource(assets.Model())
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, conn(t, url), "vigil.infer.whole", ServerOptions{Detector: newWhole(t), Source: src})
	if in := srv.Info(); in.Part != "whole" || in.InputW != 640 || len(in.Labels) != 80 {
		t.Fatalf("info %+v", in)
	}
	r, err := NewRemote(RemoteOptions{Conn: conn(t, url), Subject: "vigil.infer.whole", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Labels()) != 80 || r.Labels()[0] != "person" {
		t.Fatalf("labels from the server: %v", r.Labels())
	}
	tally := model.NewTally(whole.Labels(), 0.25, 0.5)
	for i, img := range imgs {
		want, _, err := whole.Detect(img, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := r.Detect(img, nil)
		if err != nil {
			t.Fatal(err)
		}
		tally.Add(want, got)
		// The same frame raw: the server's detector sees the same pixels.
		b, err := AppendRequest(nil, &Request{Kind: KindRaw, Width: img.Cols(), Height: img.Rows(), Image: img.ToBytes()})
		if err != nil {
			t.Fatal(err)
		}
		rep := ask(t, r.o.Conn, "vigil.infer.whole", b)
		if rep.Error != "" {
			t.Fatal(rep.Error)
		}
		for j := range rep.Detections {
			rep.Detections[j].Label = whole.Labels()[rep.Detections[j].Class]
		}
		sameDetections(t, "raw frame "+string(rune('0'+i)), rep.Detections, want, 1e-3)
	}
	if a := tally.Result().Agreement; a < 0.9 {
		t.Errorf("JPEG frames: agreement %.3f with the local model", a)
	} else {
		t.Logf("JPEG frames (quality 90): agreement %.4f, %d bytes a request", a, r.Stats().Bytes/r.Stats().Sent)
	}
}

func ask(t *testing.T, nc *nats.Conn, subject string, b []byte) *Reply {
	t.Helper()
	m, err := nc.Request(subject, b, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ParseReply(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Two tail servers in one queue group share the frames; when one dies
// mid-stream, the other serves the rest, and a frame sent to the dead one
// fails within the timeout, counted (without a fallback).
func TestQueueGroupFailover(t *testing.T) {
	requireRuntime(t)
	url := natsServer(t)
	imgs := frames(t, 3)
	hp, tp := split(t, singleCut, nil)
	subject := "vigil.infer.pair"
	nc1 := conn(t, url)
	s1 := serve(t, nc1, subject, ServerOptions{Tail: newTail(t, tp)})
	s2 := serve(t, conn(t, url), subject, ServerOptions{Tail: newTail(t, tp)})
	timeout := 3 * time.Second
	r, err := NewRemote(RemoteOptions{Conn: conn(t, url), Subject: subject, Head: newHead(t, hp), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	send := func(n int) (ok, failed int) {
		for i := range n {
			if _, _, err := r.Detect(imgs[i%len(imgs)], nil); err != nil {
				if !errors.Is(err, ErrNoServer) {
					t.Fatalf("frame %d: %v", i, err)
				}
				failed++
			} else {
				ok++
			}
		}
		return ok, failed
	}
	if ok, failed := send(24); ok != 24 || failed != 0 {
		t.Fatalf("both servers up: %d answered, %d failed", ok, failed)
	}
	a1, _ := s1.Counts()
	a2, _ := s2.Counts()
	t.Logf("shared: %d and %d requests (and 1 info)", a1, a2)
	if a1 == 0 || a2 == 0 {
		t.Errorf("one queue group, two servers: %d and %d requests; want both serving", a1, a2)
	}
	// Kill the first while frames flow: its connection drops as a
	// crashed process's would.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(150 * time.Millisecond)
		nc1.Close()
	}()
	ok, failed := send(24)
	wg.Wait()
	before2, _ := s2.Counts()
	if ok2, failed2 := send(12); ok2 != 12 || failed2 != 0 {
		t.Errorf("after the kill: %d of 12 answered, %d failed; the other server should serve them all", ok2, failed2)
	}
	after2, _ := s2.Counts()
	st := r.Stats()
	t.Logf("during the kill: %d answered, %d failed; stats %+v", ok, failed, st)
	if after2-before2 != 12 || int(st.Failed) != failed || st.Sent != 24+24+12 {
		t.Errorf("server 2 served %d of the last 12; stats %+v, %d failed during the kill", after2-before2, st, failed)
	}
}

// With no server, a remote with a fallback detects here; one without
// fails with an error that names the subject and how to start a server.
func TestFallbackWhenNoServer(t *testing.T) {
	requireRuntime(t)
	url := natsServer(t)
	imgs := frames(t, 2)
	whole := newWhole(t)
	if _, err := NewRemote(RemoteOptions{Conn: conn(t, url), Subject: "vigil.infer.nobody"}); err == nil ||
		!errors.Is(err, ErrNoServer) || !strings.Contains(err.Error(), "vigil serve infer --subject vigil.infer.nobody") {
		t.Fatalf("no server, no fallback: %v", err)
	}
	hp, _ := split(t, singleCut, nil)
	r, err := NewRemote(RemoteOptions{Conn: conn(t, url), Subject: "vigil.infer.nobody", Head: newHead(t, hp), Fallback: newWhole(t), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		want, _, _ := whole.Detect(img, nil)
		got, _, err := r.Detect(img, nil)
		if err != nil {
			t.Fatal(err)
		}
		sameDetections(t, "fallback", got, want, 0)
	}
	if st := r.Stats(); st.Fallback != uint64(len(imgs)) || st.Failed != 0 {
		t.Errorf("stats %+v, want %d fallbacks", st, len(imgs))
	}
}

// Parts that do not belong together are refused when the client starts,
// with errors that say which; garbage on the subject gets an error reply,
// and the server goes on serving.
func TestMismatchAndGarbage(t *testing.T) {
	requireRuntime(t)
	url := natsServer(t)
	imgs := frames(t, 1)
	hp, tp := split(t, singleCut, nil)
	_, otherTail := split(t, singleCut, func(m *onnx.ModelProto) {
		m.MetadataProps = append(m.MetadataProps, &onnx.StringStringEntryProto{Key: "retrained", Value: "yes"})
	})
	_, deepTail := split(t, backboneEnd, nil)
	nc := conn(t, url)
	srv := serve(t, nc, "vigil.infer.tail", ServerOptions{Tail: newTail(t, tp)})
	serve(t, nc, "vigil.infer.other", ServerOptions{Tail: newTail(t, otherTail)})
	serve(t, nc, "vigil.infer.deep", ServerOptions{Tail: newTail(t, deepTail)})
	src, _ := FileSource(assets.Model())
	serve(t, nc, "vigil.infer.whole", ServerOptions{Detector: newWhole(t), Source: src})
	head := newHead(t, hp)
	for _, c := range []struct {
		subject string
		head    *detect.Head
		want    string
	}{
		{"vigil.infer.other", head, "the server's tail was split from sha256:"},
		{"vigil.infer.deep", head, "the server's tail starts at [/model.4/cv2/act/Mul_output_0"},
		{"vigil.infer.whole", head, "the server serves a whole model, and this head needs its tail"},
		{"vigil.infer.tail", nil, "the server serves a tail of sha256:"},
	} {
		_, err := NewRemote(RemoteOptions{Conn: nc, Subject: c.subject, Head: c.head, Timeout: 5 * time.Second})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.subject, err, c.want)
		}
	}

	good, err := NewRemote(RemoteOptions{Conn: nc, Subject: "vigil.infer.tail", Head: head, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	valid, err := AppendRequest(nil, &Request{Kind: KindInfo})
	if err != nil {
		t.Fatal(err)
	}
	wrongSource, err := AppendRequest(nil, &Request{Kind: KindTensors, Source: "sha256:0123456789abcdef",
		Tensors: []Tensor{{Name: "x", Shape: []int64{1}, DType: Uint8, Scale: 1, Data: []byte{0}}}})
	if err != nil {
		t.Fatal(err)
	}
	wrongTensor, _ := AppendRequest(nil, &Request{Kind: KindTensors, Tensors: []Tensor{{Name: "/model.3/act/Mul_output_0", Shape: []int64{1, 2}, DType: Float32, Data: make([]byte, 8)}}})
	frame, _ := AppendRequest(nil, &Request{Kind: KindJPEG, Image: []byte("not a jpeg")})
	for _, c := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"garbage", []byte("hello, world"), "not a vigil inference request"},
		{"truncated", valid[:len(valid)-1], "infer request"},
		{"empty", nil, "not a vigil inference request"},
		{"other source", wrongSource, "the request is for sha256:0123456789ab"},
		{"wrong tensor", wrongTensor, "the tail takes \"/model.3/act/Mul_output_0\" [1 64 80 80]"},
		{"frame to a tail", frame, "this server serves a tail"},
	} {
		rep := ask(t, nc, "vigil.infer.tail", c.msg)
		if !strings.Contains(rep.Error, c.want) {
			t.Errorf("%s: reply error %q, want %q", c.name, rep.Error, c.want)
		}
		// The server goes on: the next real frame is served.
		if _, _, err := good.Detect(imgs[0], nil); err != nil {
			t.Fatalf("after %s: %v", c.name, err)
		}
	}
	if served, failed := srv.Counts(); failed != 6 || served < 7 {
		t.Errorf("server counts: served %d, refused %d; want 6 refused", served, failed)
	}
}

// A cut larger than the NATS server's max_payload is refused when the
// client starts, with what to change; uint8 fits.
func TestCutTooLargeForNATS(t *testing.T) {
	requireRuntime(t)
	url := natstest.Server(t) // NATS's default max_payload, 1 MB
	hp, tp := split(t, singleCut, nil)
	nc := conn(t, url)
	serve(t, nc, "vigil.infer.small", ServerOptions{Tail: newTail(t, tp)})
	head := newHead(t, hp)
	_, err := NewRemote(RemoteOptions{Conn: nc, Subject: "vigil.infer.small", Head: head, Transport: Float32})
	if err == nil || !strings.Contains(err.Error(), "the cut at float32 is 1.64 MB a frame, and the NATS server takes messages up to 1.05 MB") {
		t.Fatalf("float32 cut over a 1 MB server: %v", err)
	}
	r, err := NewRemote(RemoteOptions{Conn: nc, Subject: "vigil.infer.small", Head: head, Transport: Uint8, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	imgs := frames(t, 1)
	if _, _, err := r.Detect(imgs[0], nil); err != nil {
		t.Fatal(err)
	}
}
