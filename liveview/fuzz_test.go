package liveview

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/capture"
	"github.com/vigil-vision/vigil/internal/fuzztest"
)

// FuzzWHEPOffer posts any body as a WHEP offer to a camera that is never
// started (no frames, no encoding): the handler must not panic, and
// answers 201 with an SDP answer that sends video and a Location that
// ends the session, or 400 or 413 saying what is wrong with the offer;
// an offer is never the server's fault (500).
func FuzzWHEPOffer(f *testing.F) {
	v, offer, err := newGoViewer()
	if err != nil {
		f.Fatal(err)
	}
	v.close()
	f.Add(offer)
	f.Add(stripVideo(offer))
	f.Add(strings.ReplaceAll(offer, "VP8", "H264"))
	f.Add(strings.ReplaceAll(offer, "\r\n", "\n"))
	f.Add(strings.Replace(offer, "a=recvonly", "a=sendonly", 1))
	f.Add(strings.Replace(offer, "a=setup:actpass", "a=setup:bogus", 1))
	for _, s := range []string{
		"", "v=0\r\nthis is not SDP\r\n", "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n",
		"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\na=ice-ufrag:x\r\na=ice-pwd:yyyyyyyyyyyyyyyyyyyyyy\r\na=fingerprint:sha-256 00\r\na=setup:actpass\r\na=mid:0\r\na=recvonly\r\n",
		strings.Repeat("a", maxOffer+1),
	} {
		f.Add(s)
	}
	cam, err := capture.New(capture.Config{ID: "demo", URL: "testsrc"}, zerolog.Nop())
	if err != nil {
		f.Fatal(err)
	}
	lv, err := New(Options{Cameras: []*capture.Camera{cam}, ICE: ICE{Loopback: true}, Logger: zerolog.Nop()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(lv.Close)
	mux := http.NewServeMux()
	lv.Register(mux)
	f.Fuzz(func(t *testing.T, body string) {
		fuzztest.Watchdog(t)
		req := httptest.NewRequest("POST", "/api/whep/demo", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/sdp")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusCreated:
		case http.StatusBadRequest:
			if msg := rec.Body.String(); !strings.HasPrefix(msg, "malformed SDP offer: ") && !strings.HasPrefix(msg, "SDP offer not accepted: ") {
				t.Fatalf("%q: 400 %q", body, msg)
			}
			return
		case http.StatusRequestEntityTooLarge:
			if len(body) <= maxOffer {
				t.Fatalf("%q: %d bytes, too large", body, len(body))
			}
			return
		default:
			t.Fatalf("%q: %d %q", body, rec.Code, rec.Body.String())
		}
		loc := rec.Header().Get("Location")
		answer, err := (&webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: rec.Body.String()}).Unmarshal()
		if err != nil || !strings.HasPrefix(loc, "/api/whep/demo/") || rec.Header().Get("Content-Type") != "application/sdp" {
			t.Fatalf("%q: answered %q at %q: %v", body, rec.Body.String(), loc, err)
		}
		video := false
		for _, md := range answer.MediaDescriptions {
			video = video || md.MediaName.Media == "video"
		}
		if !video {
			t.Fatalf("%q: the answer sends no video:\n%s", body, rec.Body.String())
		}
		del := httptest.NewRecorder()
		mux.ServeHTTP(del, httptest.NewRequest("DELETE", loc, nil))
		if del.Code != http.StatusOK || lv.Viewers("demo") != 0 {
			t.Fatalf("%q: DELETE %s: %d, %d viewers left", body, loc, del.Code, lv.Viewers("demo"))
		}
	})
}
