package liveview

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/interceptor"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/browsertest"
	"github.com/vigil-vision/vigil/pipeline"
	"github.com/vigil-vision/vigil/sinks"
	"github.com/vigil-vision/vigil/track"
	"gocv.io/x/gocv"
)

// The tests share one running pipeline (vtest.avi paced and looped like a
// camera, the real detector and tracker, the live view behind a token) and
// one headless chromium, both started on first use and stopped by TestMain.
var (
	sharedMu      sync.Mutex
	sharedEnv     *env
	sharedBrowser *browser
)

const testToken = "t0ken-for-tests"

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBrowser != nil {
		sharedBrowser.close()
	}
	if sharedEnv != nil {
		sharedEnv.stop()
	}
	os.Exit(code)
}

func detector(t testing.TB) *detect.Detector {
	t.Helper()
	if err := detect.InitRuntime(assets.Library()); err != nil {
		t.Fatal(err)
	}
	d, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func testCamera(t testing.TB, id string) *capture.Camera {
	c, err := capture.New(capture.Config{ID: id, URL: assets.Media("vtest.avi"), Loop: true, Realtime: true}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// videoFrames reads the first n frames of vtest.avi.
func videoFrames(t testing.TB, n int) []gocv.Mat {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(assets.Media("vtest.avi"))
	if err != nil {
		t.Fatalf("open vtest.avi (run make deps): %v", err)
	}
	defer vc.Close()
	var out []gocv.Mat
	for len(out) < n {
		m := gocv.NewMat()
		if !vc.Read(&m) || m.Empty() {
			m.Close()
			t.Fatalf("vtest.avi ended after %d frames", len(out))
		}
		out = append(out, m)
	}
	return out
}

type envOptions struct {
	token         string
	codec         string
	processedOnly bool
	camera        *capture.Config // default: vtest.avi paced and looped, as "demo"
}

// env is a running pipeline with the live view on an HTTP server.
type env struct {
	cam    *capture.Camera
	lv     *Server
	web    *sinks.HTTPServer
	base   string
	token  string
	det    *detect.Detector
	cancel context.CancelFunc
	done   chan error
}

func startEnv(o envOptions) (*env, error) {
	if err := detect.InitRuntime(assets.Library()); err != nil {
		return nil, err
	}
	det, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: 2})
	if err != nil {
		return nil, err
	}
	cc := capture.Config{ID: "demo", URL: assets.Media("vtest.avi"), Loop: true, Realtime: true}
	if o.camera != nil {
		cc = *o.camera
	}
	cam, err := capture.New(cc, zerolog.Nop())
	if err != nil {
		det.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel)
	lv, err := New(Options{Cameras: []*capture.Camera{cam}, Codec: o.codec, ProcessedOnly: o.processedOnly,
		ICE: ICE{Loopback: true}, Registry: reg, Logger: log})
	if err != nil {
		det.Close()
		return nil, err
	}
	p, err := pipeline.New(pipeline.Options{
		Cameras: []*capture.Camera{cam}, Detector: det, Labels: det.Labels(), Tracker: track.DefaultConfig(),
		Sinks: []pipeline.Sink{lv}, Taps: []pipeline.Tap{lv}, Registry: reg, Logger: log,
	})
	if err != nil {
		lv.Close()
		det.Close()
		return nil, err
	}
	web, err := sinks.StartHTTP(sinks.HTTPOptions{Listen: "127.0.0.1:0", Gatherer: reg, Token: o.token, Logger: log,
		Cameras: func() any { return []capture.Status{cam.Status()} }})
	if err != nil {
		lv.Close()
		det.Close()
		return nil, err
	}
	lv.Register(web.Mux)
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{cam: cam, lv: lv, web: web, base: "http://" + web.Addr(), token: o.token, det: det, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- p.Run(ctx) }()
	return e, nil
}

// stop ends the pipeline, then the live view (which ends streams still
// open), then the HTTP server.
func (e *env) stop() {
	e.cancel()
	<-e.done
	e.lv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.web.Shutdown(ctx)
	e.det.Close()
}

// shared returns the package's running pipeline, started on first use.
func shared(t *testing.T) *env {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedEnv == nil {
		e, err := startEnv(envOptions{token: testToken})
		if err != nil {
			t.Fatal(err)
		}
		sharedEnv = e
	}
	return sharedEnv
}

// request makes an HTTP request with the token when auth is true.
func (e *env) request(t *testing.T, method, path, contentType, body string, auth bool) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth && e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// metric reads one series from /metrics, e.g.
// metric(t, `vigil_liveview_viewers{camera="demo"}`); -1 when absent.
func (e *env) metric(t *testing.T, series string) float64 {
	t.Helper()
	code, _, body := e.request(t, "GET", "/metrics", "", "", true)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if ok && name == series {
			v, err := strconv.ParseFloat(val, 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return v
		}
	}
	return -1
}

// waitFor polls cond until it holds or limit passes; the limit only guards
// against hangs.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// goViewer is a WHEP client made with pion: it counts the RTP packets and
// VP8 keyframes it receives.
type goViewer struct {
	pc        *webrtc.PeerConnection
	location  string
	packets   atomic.Int64
	keyframes atomic.Int64
}

// offer makes a recvonly video offer with every candidate in it.
func newGoViewer() (*goViewer, string, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, "", err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, "", err
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", err
	}
	v := &goViewer{pc: pc}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		pc.Close()
		return nil, "", err
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		var vp8 codecs.VP8Packet
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			v.packets.Add(1)
			if payload, err := vp8.Unmarshal(p.Payload); err == nil && vp8.S == 1 && vp8.PID == 0 && len(payload) > 0 && isVP8Key(payload) {
				v.keyframes.Add(1)
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		pc.Close()
		return nil, "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		pc.Close()
		return nil, "", err
	}
	<-gathered
	return v, pc.LocalDescription().SDP, nil
}

// dial posts the viewer's offer to camera's WHEP endpoint and applies the
// answer.
func (v *goViewer) dial(t *testing.T, e *env, camera, offer string) {
	t.Helper()
	code, h, body := e.request(t, "POST", "/api/whep/"+camera, "application/sdp", offer, true)
	if code != http.StatusCreated {
		t.Fatalf("WHEP POST: %d %s", code, body)
	}
	v.location = h.Get("Location")
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
}

func (v *goViewer) close() { v.pc.Close() }

// browser is a headless Debian chromium driven over the DevTools protocol.
type browser struct {
	ctx    context.Context // the first tab
	cancel func()
}

func startBrowser(dir string) (*browser, error) {
	ctx, stop, err := browsertest.Start(dir)
	if err != nil {
		return nil, err
	}
	return &browser{ctx: ctx, cancel: stop}, nil
}

func (b *browser) close() { b.cancel() }

// sharedChromium returns the package's browser, started on first use.
func sharedChromium(t *testing.T) *browser {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedBrowser == nil {
		dir, err := os.MkdirTemp("", "vigil-chromium-")
		if err != nil {
			t.Fatal(err)
		}
		b, err := startBrowser(dir)
		if err != nil {
			os.RemoveAll(dir)
			t.Fatal(err)
		}
		cancel := b.cancel
		b.cancel = func() { cancel(); os.RemoveAll(dir) }
		sharedBrowser = b
	}
	return sharedBrowser
}

// tab opens a new tab in the shared browser; closing it (cancel) closes
// the page, as a user closing it would.
func (b *browser) tab(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := chromedp.NewContext(b.ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancel()
		t.Fatal(err)
	}
	return ctx, cancel
}

// tileStats is what the page's window.vigil.stats reports for a tile.
type tileStats struct {
	Camera        string    `json:"camera"`
	State         string    `json:"state"`
	FramesDecoded int       `json:"framesDecoded"`
	FramesShown   int       `json:"framesShown"`
	Latencies     []float64 `json:"latencies"`
	Width         int       `json:"width"`
	Height        int       `json:"height"`
}

// stats reads a tile's numbers from the page.
func stats(ctx context.Context, camera string) (*tileStats, error) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(c, chromedp.Evaluate[*tileStats](
		fmt.Sprintf(`window.vigil ? window.vigil.stats(%q) : null`, camera), chromedp.EvalAwaitPromise))
}

// waitDecoded waits until the tile has decoded more than n frames.
func waitDecoded(t *testing.T, ctx context.Context, camera string, n int, limit time.Duration) *tileStats {
	t.Helper()
	var last *tileStats
	var lastErr error
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		last, lastErr = stats(ctx, camera)
		if last != nil && last.FramesDecoded > n {
			return last
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("tile %q: gave up after %s waiting for %d decoded frames; last %+v (err %v)", camera, limit, n, last, lastErr)
	return nil
}
