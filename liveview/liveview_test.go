package liveview

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/vigil-vision/vigil/annotate"
)

const (
	viewers        = `vigil_liveview_viewers{camera="demo"}`
	encoderRunning = `vigil_liveview_encoders_running{camera="demo"}`
	encoderStarts  = `vigil_liveview_encoders_started_total{camera="demo"}`
)

// noViewers waits until earlier tests' sessions are gone.
func noViewers(t *testing.T, e *env) {
	t.Helper()
	waitFor(t, 30*time.Second, "no viewers and no encoder", func() bool {
		return e.metric(t, viewers) == 0 && e.metric(t, encoderRunning) == 0
	})
}

// TestBrowserWatchesLiveVideo opens the page in chromium, signs in with the
// token, and checks that the camera's tile plays the annotated stream over
// WebRTC: more than 30 frames decoded, a picture that is not blank, boxes
// in the person colour, and a capture-to-screen latency read from the
// stamp.
func TestBrowserWatchesLiveVideo(t *testing.T) {
	e := shared(t)
	b := sharedChromium(t)
	noViewers(t, e)
	ctx, closeTab := b.tab(t)
	defer closeTab()

	step, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Sign out first: the browser may hold a session from an earlier test.
	if err := chromedp.Do(step, chromedp.Navigate(e.base+"/healthz")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(step, chromedp.Evaluate[int](`fetch('/logout', {method: 'POST'}).then(r => r.status)`,
		chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(step,
		chromedp.Navigate(e.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")), // the page is guarded: sign in first
		chromedp.SendKeys(chromedp.CSS("#token"), e.token),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS(`section[data-camera="demo"] video`)),
	)
	if err != nil {
		t.Fatalf("page: %v", err)
	}
	st := waitDecoded(t, ctx, "demo", 30, 60*time.Second)
	for _, s := range *e.lv.cams["demo"].viewers.Load() {
		t.Logf("viewer %s: playout-delay extension negotiated: %v", s.id[:8], s.playoutID != 0)
	}
	if st.Width != 768 || st.Height != 576 {
		t.Errorf("video is %dx%d, want vtest.avi's 768x576", st.Width, st.Height)
	}

	shot, err := chromedp.Run(step, chromedp.Screenshot(chromedp.CSS(`section[data-camera="demo"]`)))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	os.WriteFile("/tmp/vigil-liveview-tile.png", shot, 0o644)
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	spread, boxPixels := pictureStats(img)
	if spread < 20 {
		t.Errorf("screenshot is blank: luma spread %.1f", spread)
	}
	if boxPixels < 50 {
		t.Errorf("screenshot has %d pixels of the person box colour; want the boxes drawn", boxPixels)
	}
	badge, err := chromedp.Run(step, chromedp.Text(chromedp.CSS(`section[data-camera="demo"] .badge`)))
	if err != nil || badge != "streaming" {
		t.Errorf("camera badge %q (%v), want streaming", badge, err)
	}

	// The page reads each frame's capture time back from the video.
	waitFor(t, 30*time.Second, "latency samples", func() bool {
		st, _ = stats(ctx, "demo")
		return st != nil && len(st.Latencies) >= 10
	})
	for _, l := range st.Latencies {
		if l <= 0 || l > 10000 {
			t.Errorf("capture-to-screen latency %.1f ms", l)
		}
	}
	if e.metric(t, viewers) != 1 || e.metric(t, encoderRunning) != 1 {
		t.Errorf("viewers %v, encoders running %v; want 1 and 1", e.metric(t, viewers), e.metric(t, encoderRunning))
	}

	// The tile's "motion" box switches the camera's motion overlay, and
	// does not zoom the tile.
	box := `section[data-camera="demo"] .ovl input`
	step, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, on := range []bool{true, false} {
		if err := chromedp.Do(step, chromedp.Click(chromedp.CSS(box))); err != nil {
			t.Fatalf("click the motion box: %v", err)
		}
		waitFor(t, 10*time.Second, fmt.Sprintf("motion overlay %v", on), func() bool { return e.lv.cams["demo"].overlay.Load() == on })
	}
	zoomed, err := chromedp.Run(step, chromedp.Evaluate[bool](`document.querySelector('section[data-camera="demo"]').classList.contains('big')`))
	if err != nil || zoomed {
		t.Errorf("the motion box zoomed the tile (%v)", err)
	}
}

// pictureStats gives the spread (standard deviation) of luma and the number
// of pixels in the person box colour.
func pictureStats(img image.Image) (spread float64, boxPixels int) {
	person := annotate.Color(0)
	var n, sum, sq float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r8, g8, b8 := int(r>>8), int(g>>8), int(bl>>8)
			l := 0.299*float64(r8) + 0.587*float64(g8) + 0.114*float64(b8)
			n++
			sum += l
			sq += l * l
			if abs(r8-int(person.R)) < 40 && abs(g8-int(person.G)) < 40 && abs(b8-int(person.B)) < 40 {
				boxPixels++
			}
		}
	}
	mean := sum / n
	return math.Sqrt(max(sq/n-mean*mean, 0)), boxPixels
}

func abs(x int) int { return max(x, -x) }

// TestTwoViewersShareOneEncoder: two browser tabs watch the same camera at
// once through one encoder; when both close, the encoder stops. Both facts
// come from /metrics.
func TestTwoViewersShareOneEncoder(t *testing.T) {
	e := shared(t)
	b := sharedChromium(t)
	noViewers(t, e)
	startsBefore := e.metric(t, encoderStarts)

	var tabs []context.CancelFunc
	for i := range 2 {
		ctx, closeTab := b.tab(t)
		tabs = append(tabs, closeTab)
		step, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := chromedp.Do(step, chromedp.Navigate(e.base+"/"))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Location()); err != nil {
			t.Fatal(err)
		}
		signIn(t, ctx, e)
		waitDecoded(t, ctx, "demo", 10, 60*time.Second)
		t.Logf("tab %d plays", i+1)
	}
	if v, r, s := e.metric(t, viewers), e.metric(t, encoderRunning), e.metric(t, encoderStarts)-startsBefore; v != 2 || r != 1 || s != 1 {
		t.Errorf("with two viewers: viewers %v, encoders running %v, encoders started %v; want 2, 1, 1", v, r, s)
	}
	for _, closeTab := range tabs {
		closeTab()
	}
	waitFor(t, 30*time.Second, "both viewers to leave and the encoder to stop", func() bool {
		return e.metric(t, viewers) == 0 && e.metric(t, encoderRunning) == 0
	})
	if s := e.metric(t, encoderStarts) - startsBefore; s != 1 {
		t.Errorf("encoder started %v times for two viewers", s)
	}
}

// signIn passes the sign-in form when the page shows it (the browser's
// cookie from an earlier test may already let it through).
func signIn(t *testing.T, ctx context.Context, e *env) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hasForm, err := chromedp.Run(step, chromedp.Evaluate[bool](`!!document.getElementById('token')`))
	if err != nil {
		t.Fatal(err)
	}
	if hasForm {
		if err := chromedp.Do(step,
			chromedp.SendKeys(chromedp.CSS("#token"), e.token),
			chromedp.Submit(chromedp.CSS("#token")),
		); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(step, chromedp.WaitVisible(chromedp.CSS(`section[data-camera="demo"] video`))); err != nil {
		t.Fatal(err)
	}
}

func TestWHEPErrors(t *testing.T) {
	e := shared(t)
	v, offer, err := newGoViewer()
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	cases := []struct {
		name        string
		path, ctype string
		body        string
		auth        bool
		code        int
		reason      string
	}{
		{"unknown camera", "/api/whep/dock-9", "application/sdp", offer, true, 404, `unknown camera "dock-9"; cameras: demo`},
		{"malformed SDP", "/api/whep/demo", "application/sdp", "v=0\r\nthis is not SDP\r\n", true, 400, "malformed SDP offer: "},
		{"empty body", "/api/whep/demo", "application/sdp", "", true, 400, "malformed SDP offer: empty body"},
		{"no video", "/api/whep/demo", "application/sdp", stripVideo(offer), true, 400, "no video section"},
		{"not SDP", "/api/whep/demo", "application/json", `{"sdp":""}`, true, 415, "Content-Type: application/sdp"},
		{"missing token", "/api/whep/demo", "application/sdp", offer, false, 401, "missing or wrong token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := e.request(t, "POST", tc.path, tc.ctype, tc.body, tc.auth)
			if code != tc.code || !strings.Contains(body, tc.reason) {
				t.Errorf("got %d %q; want %d with %q", code, body, tc.code, tc.reason)
			}
			if h.Get("Location") != "" {
				t.Errorf("error answer has a Location: %s", h.Get("Location"))
			}
		})
	}
	t.Run("wrong token", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.base+"/api/whep/demo", strings.NewReader(offer))
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("Authorization", "Bearer not-"+e.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("wrong token: %d", resp.StatusCode)
		}
	})
}

// stripVideo removes the offer's media sections.
func stripVideo(offer string) string {
	if i := strings.Index(offer, "m=video"); i >= 0 {
		return offer[:i]
	}
	return offer
}

// TestWHEPSession: a WHEP client made with pion gets 201, an SDP answer and
// a Location; video with a keyframe arrives; DELETE on the Location ends
// the session, and a second DELETE finds nothing.
func TestWHEPSession(t *testing.T) {
	e := shared(t)
	noViewers(t, e)
	v, offer, err := newGoViewer()
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	v.dial(t, e, "demo", offer)
	if !strings.HasPrefix(v.location, "/api/whep/demo/") {
		t.Fatalf("Location %q", v.location)
	}
	waitFor(t, 30*time.Second, "video packets with a keyframe", func() bool {
		return v.packets.Load() > 50 && v.keyframes.Load() > 0
	})
	if code, _, body := e.request(t, "DELETE", v.location, "", "", true); code != 200 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, "the encoder to stop", func() bool { return e.metric(t, encoderRunning) == 0 })
	if code, _, _ := e.request(t, "DELETE", v.location, "", "", true); code != 404 {
		t.Errorf("second DELETE: %d, want 404", code)
	}
}

// TestSnapshot: the annotated snapshot is a JPEG of the frame's size with
// the person boxes drawn; the raw one is the frame as captured, without.
func TestSnapshot(t *testing.T) {
	e := shared(t)
	// The people are drawn once the detector has tracked them.
	waitFor(t, time.Minute, "tracked people on demo", func() bool {
		_, _, live := e.request(t, "GET", "/api/live", "", "", true)
		return !strings.Contains(live, `"objects":0,`)
	})
	code, h, body := e.request(t, "GET", "/api/cameras/demo/snapshot.jpg", "", "", true)
	if code != 200 || h.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("snapshot: %d %s %.100s", code, h.Get("Content-Type"), body)
	}
	annotated, err := jpeg.Decode(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if s := annotated.Bounds().Size(); s != image.Pt(768, 576) {
		t.Errorf("snapshot is %v, want 768x576", s)
	}
	_, boxes := pictureStats(annotated)
	// People walk through vtest.avi from its first frame: their boxes'
	// outlines are hundreds of pixels of the person colour.
	if boxes < 200 {
		t.Errorf("annotated snapshot has %d pixels of the person box colour", boxes)
	}
	code, _, body = e.request(t, "GET", "/api/cameras/demo/snapshot.jpg?raw=1", "", "", true)
	if code != 200 {
		t.Fatalf("raw snapshot: %d", code)
	}
	raw, err := jpeg.Decode(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, rawBoxes := pictureStats(raw); rawBoxes > boxes/10 {
		t.Errorf("raw snapshot has %d box-coloured pixels, annotated %d", rawBoxes, boxes)
	}
	if code, _, body := e.request(t, "GET", "/api/cameras/nope/snapshot.jpg", "", "", true); code != 404 || !strings.Contains(body, "unknown camera") {
		t.Errorf("unknown camera: %d %s", code, body)
	}
	if code, _, _ := e.request(t, "GET", "/api/cameras/demo/snapshot.jpg", "", "", false); code != 401 {
		t.Errorf("without token: %d", code)
	}
}

// TestMJPEG reads a few parts of the annotated MJPEG stream.
func TestMJPEG(t *testing.T) {
	e := shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/api/cameras/demo/mjpeg", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for i := range 3 {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		img, err := jpeg.Decode(part)
		if err != nil || img.Bounds().Dx() != 768 {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	waitFor(t, 5*time.Second, "the MJPEG client to count", func() bool {
		return e.metric(t, `vigil_liveview_mjpeg_clients{camera="demo"}`) == 1
	})
}

// TestTokenGuardsEverything: without the token the page shows a sign-in
// form and the API, WHEP and metrics answer 401; /healthz stays open.
func TestTokenGuardsEverything(t *testing.T) {
	e := shared(t)
	for _, path := range []string{"/", "/live.js", "/api/live", "/api/cameras", "/metrics", "/api/cameras/demo/mjpeg"} {
		code, h, body := e.request(t, "GET", path, "", "", false)
		if code != 401 || h.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without token: %d", path, code)
		}
		if path == "/" && !strings.Contains(body, `name="token"`) {
			t.Errorf("page without token is not the sign-in form: %.200s", body)
		}
		if strings.Contains(body, e.token) {
			t.Errorf("GET %s echoes the token", path)
		}
	}
	if code, _, _ := e.request(t, "GET", "/healthz", "", "", false); code == 401 {
		t.Error("/healthz is guarded")
	}
	if code, _, body := e.request(t, "GET", "/api/live", "", "", true); code != 200 || !strings.Contains(body, `"camera":"demo"`) {
		t.Errorf("/api/live with token: %d %s", code, body)
	}
	// Signing in sets a cookie that opens the page.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(e.base+"/login", map[string][]string{"token": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Errorf("wrong sign-in: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp, err = noRedirect.PostForm(e.base+"/login", map[string][]string{"token": {e.token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || strings.Contains(resp.Cookies()[0].Value, e.token) {
		t.Fatalf("sign-in: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	req, _ := http.NewRequest("GET", e.base+"/", nil)
	req.AddCookie(resp.Cookies()[0])
	page, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != 200 {
		t.Errorf("page with the session cookie: %d", page.StatusCode)
	}
}

// TestMotionOverlaySwitch: PUT .../overlay switches a camera's motion
// overlay, /api/live reports it, and a bad body, an unknown camera and a
// request without the token are refused.
func TestMotionOverlaySwitch(t *testing.T) {
	e := shared(t)
	defer e.request(t, "PUT", "/api/cameras/demo/overlay", "application/json", `{"motion": false}`, true)
	for _, on := range []bool{true, false} {
		code, _, body := e.request(t, "PUT", "/api/cameras/demo/overlay", "application/json", fmt.Sprintf(`{"motion": %v}`, on), true)
		if code != 200 || !strings.Contains(body, fmt.Sprintf(`"motion":%v`, on)) {
			t.Fatalf("PUT overlay %v: %d %s", on, code, body)
		}
		_, _, live := e.request(t, "GET", "/api/live", "", "", true)
		if !strings.Contains(live, fmt.Sprintf(`"motion_overlay":%v`, on)) || !strings.Contains(live, `"overlay":"/api/cameras/demo/overlay"`) {
			t.Errorf("/api/live after overlay %v: %.400s", on, live)
		}
	}
	for _, bad := range []string{``, `{"motion": "yes"}`, `{"moton": true}`, `{}`} {
		if code, _, body := e.request(t, "PUT", "/api/cameras/demo/overlay", "application/json", bad, true); code != 400 || !strings.Contains(body, `{"motion": true}`) {
			t.Errorf("PUT overlay %q: %d %s", bad, code, body)
		}
	}
	if code, _, body := e.request(t, "PUT", "/api/cameras/nope/overlay", "application/json", `{"motion": true}`, true); code != 404 || !strings.Contains(body, "unknown camera") {
		t.Errorf("unknown camera: %d %s", code, body)
	}
	if code, _, _ := e.request(t, "PUT", "/api/cameras/demo/overlay", "application/json", `{"motion": true}`, false); code != 401 {
		t.Errorf("without token: %d", code)
	}
}
