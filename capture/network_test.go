package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/internal/rtsptest"
	"gocv.io/x/gocv"
)

// The tests here use real network sources: gortsplib serving what ffmpeg
// publishes, and an HTTP server sending MJPEG. OpenCV takes a few seconds to
// start decoding an RTSP stream, so they wait for events, never for a time.

const vtestW, vtestH = 768, 576

// runningCamera is a camera whose Run goes on in the background.
type runningCamera struct {
	cam    *Camera
	frames collector
	done   chan struct{} // closed when Run returns

	mu   sync.Mutex
	seen []Status // the status at every change of state, in order
}

// runCamera runs cam until the test ends; the cleanup stops it and checks that
// Run returns. OnState must not be set yet.
func runCamera(t *testing.T, cam *Camera) *runningCamera {
	t.Helper()
	r := &runningCamera{cam: cam, done: make(chan struct{})}
	cam.OnState = func(s Status) {
		r.mu.Lock()
		r.seen = append(r.seen, s)
		r.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(r.done)
		if err := cam.Run(ctx, r.frames.emit); err != nil {
			t.Errorf("camera %q: Run = %v", cam.ID(), err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(60 * time.Second):
			t.Errorf("camera %q: Run did not return after its context ended", cam.ID())
		}
	})
	return r
}

func newCamera(t *testing.T, cfg Config) *Camera {
	t.Helper()
	cam, err := New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return cam
}

// saw says whether the camera has entered state s since it started.
func (r *runningCamera) saw(s State) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.seen, func(st Status) bool { return st.State == s })
}

// states lists the states the camera entered, in order.
func (r *runningCamera) states() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []State
	for _, st := range r.seen {
		out = append(out, st.State)
	}
	return out
}

func (r *runningCamera) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// streamed waits until the camera streams and has delivered more than n
// frames in total.
func (r *runningCamera) streamed(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("camera %q to stream past frame %d", r.cam.ID(), n), func() bool {
		return r.cam.Status().State == StateStreaming && r.frames.count() > n
	})
}

// checkFrames checks that every frame had the given size and that seq ran
// 1, 2, 3… without a gap or a reset.
func (r *runningCamera) checkFrames(t *testing.T, w, h int) {
	t.Helper()
	c := &r.frames
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sizes) != 1 || c.sizes[[2]int{w, h}] == 0 {
		t.Errorf("camera %q: frame sizes %v, want only %dx%d", r.cam.ID(), c.sizes, w, h)
	}
	for i, s := range c.seqs {
		if s != uint64(i+1) {
			t.Errorf("camera %q: frame %d has seq %d, want %d", r.cam.ID(), i, s, i+1)
			break
		}
	}
}

// publishAndWait publishes input on path and waits until the server has its media.
func publishAndWait(t *testing.T, s *rtsptest.Server, path, input string) *rtsptest.Publisher {
	t.Helper()
	p := rtsptest.Publish(t, s.URL(path), input)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.WaitPublishing(ctx, path); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRTSPStreams(t *testing.T) {
	s := rtsptest.Start(t)
	publishAndWait(t, s, "cam", assets.Media("vtest.avi"))

	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			cam := newCamera(t, Config{ID: "rtsp-" + transport, URL: s.URL("cam"), RTSPTransport: transport})
			r := runCamera(t, cam)
			r.streamed(t, 20)
			st := cam.Status()
			if st.Kind != KindRTSP || st.Reconnects != 0 || st.LastError != "" {
				t.Errorf("status %+v", st)
			}
			r.checkFrames(t, vtestW, vtestH)
		})
	}
}

func TestRTSPUnreachableThenRecovers(t *testing.T) {
	addr := rtsptest.ReserveAddr(t)
	url := "rtsp://" + addr + "/cam"
	cam := newCamera(t, Config{ID: "dock-2", URL: url,
		Backoff: Backoff{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond}})
	r := runCamera(t, cam)

	waitFor(t, "three failed connects", func() bool { return cam.Status().Reconnects >= 3 })
	st := cam.Status()
	if !r.saw(StateDown) || st.State != StateDown && st.State != StateConnecting {
		t.Errorf("nothing listens on %s, yet state %q (seen %v)", addr, st.State, r.states())
	}
	for _, w := range []string{`camera "dock-2"`, addr, "connection refused"} {
		if !strings.Contains(st.LastError, w) {
			t.Errorf("last error %q lacks %q", st.LastError, w)
		}
	}
	if n := r.frames.count(); n != 0 || st.Frames != 0 {
		t.Errorf("%d frames (status %d) from a camera nobody serves", n, st.Frames)
	}

	s := rtsptest.StartAt(t, addr)
	p := publishAndWait(t, s, "cam", rtsptest.TestSource)
	r.streamed(t, 10)

	// A camera losing power: the publisher dies, the server drops its
	// readers, and the camera must go down and keep trying.
	before := cam.Status()
	p.Stop()
	stopped := time.Now()
	waitFor(t, "the camera to notice its stream ended", func() bool {
		st := cam.Status()
		return st.Reconnects > before.Reconnects && (st.State == StateDown || st.State == StateConnecting)
	})
	t.Logf("a killed publisher was noticed after %v", time.Since(stopped).Round(time.Millisecond))
	st = cam.Status()
	if r.exited() {
		t.Fatal("Run returned when the stream ended; it must reconnect")
	}
	if !strings.Contains(st.LastError, `camera "dock-2"`) {
		t.Errorf("last error after the stream ended: %q", st.LastError)
	}
	frames := r.frames.count()

	publishAndWait(t, s, "cam", rtsptest.TestSource)
	r.streamed(t, frames+10)
	if r.exited() {
		t.Fatal("Run returned")
	}
	r.checkFrames(t, 320, 240)
	if st := cam.Status(); st.Frames != uint64(r.frames.count()) {
		t.Errorf("status counts %d frames, %d were delivered", st.Frames, r.frames.count())
	}
}

// A camera that hangs without closing its socket sends no more frames and
// no FIN; only the IO timeout can tell. (A killed publisher, above, is seen
// at once: the server drops its readers.)
func TestRTSPStalledStreamGoesDown(t *testing.T) {
	s := rtsptest.Start(t)
	publishAndWait(t, s, "cam", rtsptest.TestSource)
	link := rtsptest.NewProxy(t, s.Addr())
	cam := newCamera(t, Config{ID: "hung", URL: "rtsp://" + link.Addr() + "/cam", IOTimeout: time.Second,
		Backoff: Backoff{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond}})
	r := runCamera(t, cam)
	r.streamed(t, 5)

	link.Stall()
	stalled := time.Now()
	waitFor(t, "the camera to give up on a stalled stream", func() bool { return cam.Status().Reconnects > 0 })
	t.Logf("a stalled stream was noticed after %v with IOTimeout %v",
		time.Since(stalled).Round(time.Millisecond), time.Second)
	if r.exited() {
		t.Fatal("Run returned when the stream stalled; it must reconnect")
	}
	// Reported stalled first, then down: the connection given up. The
	// error is the stream's, not an open's.
	states := r.states()
	if i, j := slices.Index(states, StateStalled), slices.Index(states, StateDown); i < 0 || j < i {
		t.Errorf("states %v: want stalled, then down", states)
	}
	if e := cam.Status().LastError; !strings.HasPrefix(e, `camera "hung"`) || !strings.Contains(e, "stream stopped delivering frames") {
		t.Errorf("last error %q", e)
	}
	// New connections through the proxy work, as after a network glitch.
	r.streamed(t, r.frames.count()+5)
	r.checkFrames(t, 320, 240)
}

// A camera process stopped (SIGSTOP) keeps its connections open and sends
// nothing; continued, it goes on. The camera is reported stalled while it
// is stopped, and streams again once it is continued, whether its old
// connection survived or a new one waited for the camera to answer.
func TestRTSPFrozenCameraIsReportedAndComesBack(t *testing.T) {
	s := rtsptest.Start(t)
	publishAndWait(t, s, "cam", rtsptest.TestSource)
	link := rtsptest.NewProxy(t, s.Addr())
	var logs syncBuffer
	// Capped at half the camera's rate: the frames it does not keep must
	// not queue up and hide the freeze behind seconds of old ones.
	cam, err := New(Config{ID: "frozen", URL: "rtsp://" + link.Addr() + "/cam", IOTimeout: time.Second, FPS: 5,
		Backoff: Backoff{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond}}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	r := runCamera(t, cam)
	r.streamed(t, 5)

	link.Freeze()
	frozen := time.Now()
	waitFor(t, "the frozen camera reported stalled", func() bool { return cam.Status().State == StateStalled })
	t.Logf("stalled after %v (IO timeout 1s)", time.Since(frozen).Round(time.Millisecond))
	st := cam.Status()
	if !strings.HasPrefix(st.LastError, `camera "frozen"`) || !strings.Contains(st.LastError, "no frame for") {
		t.Errorf("stalled with last error %q", st.LastError)
	}
	// Frozen past the read's timeout: the camera gives the connection up
	// and its new ones hang, as the camera answers nothing.
	waitFor(t, "the connection given up", func() bool { return cam.Status().Reconnects > 0 })
	time.Sleep(2 * time.Second)
	n := r.frames.count()
	link.Thaw()
	thawed := time.Now()
	r.streamed(t, n+5)
	t.Logf("frames again %v after the camera was continued", time.Since(thawed).Round(time.Millisecond))
	r.checkFrames(t, 320, 240)

	log := logs.String()
	for _, want := range []string{`"message":"camera stalled"`, `"message":"camera down"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	// Durations in the log carry their unit.
	for _, line := range strings.Split(log, "\n") {
		var entry struct {
			Message string `json:"message"`
			RetryIn any    `json:"retry_in"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Message == "camera down" {
			if d, ok := entry.RetryIn.(string); !ok || !strings.HasSuffix(d, "s") {
				t.Errorf("retry_in %v (%T): want a duration with its unit", entry.RetryIn, entry.RetryIn)
			}
			if _, err := time.ParseDuration(fmt.Sprint(entry.RetryIn)); err != nil {
				t.Errorf("retry_in %v: %v", entry.RetryIn, err)
			}
		}
	}
}

func TestOneBadCameraDoesNotStopOthers(t *testing.T) {
	s := rtsptest.Start(t)
	publishAndWait(t, s, "good", rtsptest.TestSource)
	backoff := Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}

	good := runCamera(t, newCamera(t, Config{ID: "good", URL: s.URL("good"), Backoff: backoff}))
	refused := runCamera(t, newCamera(t, Config{ID: "refused", URL: "rtsp://" + rtsptest.ReserveAddr(t) + "/cam", Backoff: backoff}))
	missing := runCamera(t, newCamera(t, Config{ID: "missing", URL: "/nonexistent/cam.mp4", Backoff: backoff}))
	bad := []*runningCamera{refused, missing}

	good.streamed(t, 0)
	// Several rounds, each of which the bad cameras fail and the good one
	// delivers more frames in.
	for round := range 5 {
		frames := good.frames.count()
		fails := make([]uint64, len(bad))
		for i, b := range bad {
			fails[i] = b.cam.Status().Reconnects
		}
		waitFor(t, fmt.Sprintf("round %d: more frames and more failures", round), func() bool {
			for i, b := range bad {
				if b.cam.Status().Reconnects <= fails[i] {
					return false
				}
			}
			return good.frames.count() > frames+3
		})
		if st := good.cam.Status(); st.State != StateStreaming || st.Reconnects != 0 {
			t.Fatalf("round %d: good camera %+v", round, st)
		}
	}
	for _, b := range bad {
		st := b.cam.Status()
		if st.State != StateDown && st.State != StateConnecting || !b.saw(StateDown) || b.saw(StateStreaming) {
			t.Errorf("camera %q: state %q, seen %v", st.Camera, st.State, b.states())
		}
		if !strings.Contains(st.LastError, fmt.Sprintf("camera %q", st.Camera)) || b.frames.count() != 0 {
			t.Errorf("camera %q: %d frames, last error %q", st.Camera, b.frames.count(), st.LastError)
		}
	}
	good.checkFrames(t, 320, 240)
}

func TestMJPEGOverHTTP(t *testing.T) {
	parts := jpegsOf(t, assets.Media("vtest.avi"), 10)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=frame")
		for i := 0; ; i++ {
			jpeg := parts[i%len(parts)]
			fmt.Fprintf(w, "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(jpeg))
			w.Write(jpeg)
			if _, err := w.Write([]byte("\r\n")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-req.Context().Done():
				return
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: Close waits for handlers

	cam := newCamera(t, Config{ID: "mjpeg", URL: srv.URL + "/video"})
	r := runCamera(t, cam)
	r.streamed(t, 2*len(parts))
	if st := cam.Status(); st.Kind != KindHTTP || st.Reconnects != 0 {
		t.Errorf("status %+v", st)
	}
	r.checkFrames(t, vtestW, vtestH)
}

// jpegsOf encodes the first n frames of a video as JPEG.
func jpegsOf(t *testing.T, video string, n int) [][]byte {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(video)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	img := gocv.NewMat()
	defer img.Close()
	var out [][]byte
	for len(out) < n && vc.Read(&img) && !img.Empty() {
		buf, err := gocv.IMEncode(gocv.JPEGFileExt, img)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(buf.GetBytes()))
		buf.Close()
	}
	if len(out) != n {
		t.Fatalf("read %d frames of %s, want %d", len(out), video, n)
	}
	return out
}

func TestPasswordNeverInStatus(t *testing.T) {
	var logs syncBuffer
	url := "rtsp://user:secret@" + rtsptest.ReserveAddr(t) + "/x"
	cam, err := New(Config{ID: "locked", URL: url, Backoff: Backoff{Min: time.Millisecond, Max: time.Millisecond}},
		zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	r := runCamera(t, cam)
	waitFor(t, "two failed connects", func() bool { return cam.Status().Reconnects >= 2 })
	st := cam.Status()
	if !strings.Contains(st.URL, "user:") || !strings.Contains(st.LastError, "connection refused") {
		t.Errorf("status %+v", st)
	}
	r.mu.Lock()
	seen := append(slices.Clone(r.seen), st)
	r.mu.Unlock()
	js, err := json.Marshal(seen)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "camera down") {
		t.Errorf("the failures were not logged: %s", logs.String())
	}
	for what, s := range map[string]string{"status": string(js), "log": logs.String()} {
		if strings.Contains(s, "secret") {
			t.Errorf("the password is in the %s: %s", what, s)
		}
	}
}

// A camera retrying fast with the same error says so once, then every
// logEvery with the attempts since; its status counts every attempt.
func TestCameraDownLoggedOncePerOutage(t *testing.T) {
	var logs syncBuffer
	cam, err := New(Config{ID: "away", URL: "rtsp://" + rtsptest.ReserveAddr(t) + "/x",
		Backoff: Backoff{Min: 4 * time.Millisecond, Max: 8 * time.Millisecond}}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	runCamera(t, cam)
	waitFor(t, "20 failed connects", func() bool { return cam.Status().Reconnects >= 20 })
	if n := strings.Count(logs.String(), `"message":"camera down"`); n != 1 {
		t.Errorf("%d camera down lines for %d attempts with one error, want 1:\n%s", n, cam.Status().Reconnects, logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
