package liveview

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/pipeline"
)

// feeder plays a camera into a Server as the pipeline does: every frame
// to the tap and, as a result without detections, to the sink. The
// pipeline cannot take cameras while it runs, so the tests that add one
// feed it this way; frames of a camera the Server does not serve are
// ignored, as they are when a pipeline outlives the camera's tile.
type feeder struct {
	paused atomic.Bool // frames are read and closed, not given
	cancel context.CancelFunc
	done   chan struct{}
}

func feed(t *testing.T, lv *Server, cam *capture.Camera) *feeder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fd := &feeder{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(fd.done)
		cam.Run(ctx, func(f *capture.Frame) {
			if !fd.paused.Load() {
				lv.Frame(f)
				lv.Consume(&pipeline.Result{Frame: f})
			}
			f.Close()
		})
	}()
	t.Cleanup(fd.stop)
	waitFor(t, 30*time.Second, cam.ID()+" streaming", func() bool { return cam.Status().State == capture.StateStreaming })
	return fd
}

func (fd *feeder) stop() {
	fd.cancel()
	<-fd.done
}

// liveviewSeries lists the vigil_liveview_* series of /metrics labelled
// with camera.
func liveviewSeries(t *testing.T, e *env, camera string) []string {
	t.Helper()
	code, _, body := e.request(t, "GET", "/metrics", "", "", true)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "vigil_liveview_") && strings.Contains(l, fmt.Sprintf(`camera=%q`, camera)) {
			out = append(out, l)
		}
	}
	return out
}

// liveCameras lists the cameras /api/live reports.
func liveCameras(t *testing.T, e *env) []string {
	t.Helper()
	code, _, body := e.request(t, "GET", "/api/live", "", "", true)
	if code != 200 {
		t.Fatalf("/api/live: %d %s", code, body)
	}
	var st liveStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range st.Cameras {
		ids = append(ids, c.Camera)
	}
	return ids
}

// checkGone checks what a removed camera leaves behind: nothing in
// /api/live, 404 on its routes, and no metric series.
func checkGone(t *testing.T, e *env, id string) {
	t.Helper()
	for _, c := range liveCameras(t, e) {
		if c == id {
			t.Errorf("/api/live still lists %q", id)
		}
	}
	v, offer, err := newGoViewer()
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	want := fmt.Sprintf("unknown camera %q", id)
	for _, rq := range []struct{ method, path, ctype, body string }{
		{"POST", "/api/whep/" + id, "application/sdp", offer},
		{"DELETE", "/api/whep/" + id + "/0123", "", ""},
		{"GET", "/api/cameras/" + id + "/mjpeg", "", ""},
		{"GET", "/api/cameras/" + id + "/snapshot.jpg", "", ""},
	} {
		if code, _, body := e.request(t, rq.method, rq.path, rq.ctype, rq.body, true); code != 404 || !strings.Contains(body, want) {
			t.Errorf("%s %s after removal: %d %q; want 404 with %q", rq.method, rq.path, code, body, want)
		}
	}
	if s := liveviewSeries(t, e, id); len(s) > 0 {
		t.Errorf("series of the removed camera left:\n%s", strings.Join(s, "\n"))
	}
}

// waitGoroutines waits until at most max goroutines run; the limit only
// guards against hangs.
func waitGoroutines(t *testing.T, max int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > max {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), max, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d goroutines (at most %d)", runtime.NumGoroutine(), max)
}

// TestBrowserSeesCamerasComeAndGo: the page shows a camera added while it
// is open, playing, and drops the tile of a camera removed while it
// watches, without disturbing the other tile; the removed camera leaves no
// goroutine and no metric series behind.
func TestBrowserSeesCamerasComeAndGo(t *testing.T) {
	e, err := startEnv(envOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop()
	b := sharedChromium(t)
	ctx, closeTab := b.tab(t)
	defer closeTab()
	step, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(step, chromedp.Navigate(e.base+"/")); err != nil {
		t.Fatal(err)
	}
	waitDecoded(t, ctx, "demo", 10, 60*time.Second)

	dock := testCamera(t, "dock-2")
	feed(t, e.lv, dock)
	e.request(t, "GET", "/api/live", "", "", true) // the test's own connection
	// The added camera's goroutines take the place of the removed one's.
	before := runtime.NumGoroutine()
	if err := e.lv.AddCamera(dock); err != nil {
		t.Fatal(err)
	}
	if err := e.lv.AddCamera(dock); err == nil || !strings.Contains(err.Error(), "already served") {
		t.Errorf("adding dock-2 twice: %v", err)
	}
	waitDecoded(t, ctx, "dock-2", 10, 60*time.Second)
	if v := e.metric(t, `vigil_liveview_viewers{camera="dock-2"}`); v != 1 {
		t.Errorf("dock-2 viewers %v, want 1", v)
	}

	if n := e.lv.Viewers("demo"); n != 1 {
		t.Fatalf("demo has %d viewers before removal, want the page", n)
	}
	e.lv.RemoveCamera("demo")
	if n := e.lv.Viewers("demo"); n != 0 {
		t.Errorf("demo has %d viewers after removal", n)
	}
	checkGone(t, e, "demo")
	waitFor(t, 30*time.Second, "the demo tile to go", func() bool {
		gone, err := chromedp.Run(step, chromedp.Evaluate[bool](`document.querySelector('section[data-camera="demo"]') === null`))
		return err == nil && gone
	})
	st, err := stats(ctx, "dock-2")
	if err != nil || st == nil {
		t.Fatalf("dock-2 tile: %+v %v", st, err)
	}
	waitFor(t, 30*time.Second, "dock-2 to keep playing", func() bool {
		now, _ := stats(ctx, "dock-2")
		return now != nil && now.State == "connected" && now.FramesShown > st.FramesShown+30 && now.FramesDecoded > st.FramesDecoded+30
	})
	if v := e.metric(t, `vigil_liveview_viewers{camera="dock-2"}`); v != 1 {
		t.Errorf("dock-2 viewers %v after demo's removal, want 1", v)
	}
	waitGoroutines(t, before+2)
}

// TestRemoveCameraEndsItsClients: removing a camera ends its WebRTC
// viewer, its MJPEG stream and a snapshot request still waiting for a
// frame, leaves no goroutine and no series, and the ID can be added again
// with fresh state. The shared pipeline's camera is not touched.
func TestRemoveCameraEndsItsClients(t *testing.T) {
	e := shared(t)
	noViewers(t, e)
	cam := testCamera(t, "yard")
	fd := feed(t, e.lv, cam)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	get := func(ctx context.Context, path string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		return client.Do(req)
	}
	e.request(t, "GET", "/api/live", "", "", true) // the test's own connection
	before := runtime.NumGoroutine()

	for round := range 2 {
		if err := e.lv.AddCamera(cam); err != nil {
			t.Fatal(err)
		}
		if v := e.metric(t, `vigil_liveview_viewers{camera="yard"}`); v != 0 {
			t.Fatalf("round %d: yard viewers %v, want a fresh 0", round, v)
		}
		v, offer, err := newGoViewer()
		if err != nil {
			t.Fatal(err)
		}
		v.dial(t, e, "yard", offer)
		waitFor(t, 30*time.Second, "video", func() bool { return v.keyframes.Load() > 0 && v.packets.Load() > 50 })
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		mj, err := get(ctx, "/api/cameras/yard/mjpeg")
		if err != nil || mj.StatusCode != 200 {
			t.Fatalf("mjpeg: %v %v", mj, err)
		}
		if _, err := io.ReadFull(mj.Body, make([]byte, 16<<10)); err != nil {
			t.Fatal(err)
		}
		// A snapshot that waits: the camera sends nothing now.
		fd.paused.Store(true)
		snap := make(chan string, 1)
		go func() {
			for {
				resp, err := get(ctx, "/api/cameras/yard/snapshot.jpg")
				if err != nil {
					snap <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					snap <- fmt.Sprintf("%d %s", resp.StatusCode, b)
					return
				}
				// A frame already on its way answered it; ask again.
			}
		}()
		c := e.lv.camera("yard")
		waitFor(t, 10*time.Second, "the snapshot to wait", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return len(c.snaps) == 1
		})

		removed := time.Now()
		e.lv.RemoveCamera("yard")
		t.Logf("round %d: RemoveCamera took %s", round, time.Since(removed).Round(time.Millisecond))
		select {
		case got := <-snap:
			if !strings.HasPrefix(got, "404 ") || !strings.Contains(got, `unknown camera "yard"`) {
				t.Errorf("waiting snapshot answered %q", got)
			}
		case <-time.After(snapshotWait / 2):
			t.Error("the waiting snapshot was not answered")
		}
		if n, err := io.Copy(io.Discard, mj.Body); err != nil || time.Since(removed) > 5*time.Second {
			t.Errorf("MJPEG stream did not end cleanly: %d more bytes, %v, after %s", n, err, time.Since(removed))
		}
		mj.Body.Close()
		cancel()
		waitFor(t, 30*time.Second, "the viewer to see the session end", func() bool {
			return v.pc.ConnectionState() != webrtc.PeerConnectionStateConnected
		})
		v.close()
		checkGone(t, e, "yard")
		if e.lv.Viewers("demo") != 0 || e.metric(t, viewers) != 0 {
			t.Error("demo was touched")
		}
		fd.paused.Store(false)
		client.CloseIdleConnections()
		// No browser here, whose connections come and go: a bound of one
		// over, which a goroutine leaked per removal passes in round 1.
		waitGoroutines(t, before+1)
	}
}

// churn runs the tap and the sink flat out for two cameras while another
// goroutine adds and removes them and clients watch, for the race detector
// and the Mat count.
func churn(t *testing.T, processedOnly bool) {
	frames := videoFrames(t, 4)
	defer closeAll(frames)
	lv, err := New(Options{ProcessedOnly: processedOnly, MaxFPS: 1000, ICE: ICE{Loopback: true},
		Registry: prometheus.NewRegistry(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer lv.Close()
	mux := http.NewServeMux()
	lv.Register(mux)
	web := httptest.NewServer(mux)
	defer web.Close()
	ids := []string{"a", "b"}
	cams := map[string]*capture.Camera{}
	for _, id := range ids {
		cams[id] = testCamera(t, id)
	}

	// What the clients got, to show that the churn reached the drawing and
	// the encoder.
	var snapshots, sessions atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	run := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f(i)
			}
		}()
	}
	for _, id := range ids {
		t0 := time.Now()
		run(func(i int) { // a camera's capture goroutine
			f := &capture.Frame{Camera: id, Seq: uint64(i + 1), Read: t0.Add(time.Duration(i) * time.Millisecond), Image: frames[i%len(frames)]}
			lv.Frame(f)
			lv.Consume(&pipeline.Result{Frame: f})
			lv.Viewers(id)
			time.Sleep(100 * time.Microsecond)
		})
		run(func(i int) { // clients that make the camera draw
			path := "/api/cameras/" + id + "/snapshot.jpg"
			if i%2 == 1 {
				path = "/api/cameras/" + id + "/mjpeg"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", web.URL+path, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if i%2 == 0 && resp.StatusCode == 200 {
					snapshots.Add(1)
				}
			}
			if resp, err := http.Get(web.URL + "/api/live"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	// A WebRTC viewer, so that the encoder starts and is stopped by removal.
	run(func(i int) {
		v, offer, err := newGoViewer()
		if err != nil {
			t.Error(err)
			return
		}
		defer v.close()
		resp, err := http.Post(web.URL+"/api/whep/"+ids[i%2], "application/sdp", strings.NewReader(offer))
		if err != nil {
			return
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			sessions.Add(1)
			v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)})
			time.Sleep(300 * time.Millisecond)
		}
	})

	for i := range 60 {
		id := ids[i%2]
		if err := lv.AddCamera(cams[id]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if i%2 == 1 {
			lv.RemoveCamera(ids[0])
			lv.RemoveCamera(ids[1])
		}
	}
	close(stop)
	wg.Wait()
	lv.Close()
	t.Logf("%d snapshots, %d WebRTC sessions", snapshots.Load(), sessions.Load())
	if snapshots.Load() == 0 || sessions.Load() == 0 {
		t.Error("the clients got nothing: the churn did not reach the drawing and the encoder")
	}
	if err := lv.AddCamera(cams["a"]); err == nil {
		t.Error("AddCamera after Close succeeded")
	}
}

// TestAddRemoveWhileFramesFlow: run with -race.
func TestAddRemoveWhileFramesFlow(t *testing.T) {
	for _, processedOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("processedOnly=%v", processedOnly), func(t *testing.T) { churn(t, processedOnly) })
	}
}

// TestNewWithoutCameras: a node whose cameras all come later.
func TestNewWithoutCameras(t *testing.T) {
	lv, err := New(Options{Registry: prometheus.NewRegistry(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer lv.Close()
	mux := http.NewServeMux()
	lv.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/live", nil))
	if !strings.Contains(rec.Body.String(), `"cameras":[]`) {
		t.Errorf("/api/live: %s", rec.Body.String())
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/cameras/x/snapshot.jpg", nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), `unknown camera "x"; cameras: none`) {
		t.Errorf("snapshot of no camera: %d %s", rec.Code, rec.Body.String())
	}
	lv.RemoveCamera("x") // not served: nothing happens
	if _, err := New(Options{Cameras: []*capture.Camera{testCamera(t, "x"), testCamera(t, "x")}, Registry: prometheus.NewRegistry()}); err == nil {
		t.Error("New with a camera twice succeeded")
	}
}

// TestIdleTapAllocatesNothing: the tap's camera lookup costs no
// allocation for a camera nobody watches, nor for one not served.
func TestIdleTapAllocatesNothing(t *testing.T) {
	frames := videoFrames(t, 1)
	defer closeAll(frames)
	lv, err := New(Options{Cameras: []*capture.Camera{testCamera(t, "a")}, Registry: prometheus.NewRegistry(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer lv.Close()
	for _, id := range []string{"a", "gone"} {
		f := &capture.Frame{Camera: id, Seq: 1, Read: time.Now(), Image: frames[0]}
		if n := testing.AllocsPerRun(100, func() { lv.Frame(f) }); n != 0 {
			t.Errorf("Frame of %q: %.0f allocations", id, n)
		}
	}
}
