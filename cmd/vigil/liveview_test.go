package main

import (
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunServesLiveView: `vigil run` with a token file serves the live view
// behind the token (page, /api/live, snapshots, MJPEG), and a SIGINT with an
// MJPEG stream still open ends cleanly with no Mat left open.
func TestRunServesLiveView(t *testing.T) {
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	tokenFile := writeFile(t, "token", "live-view-secret\n")
	cfg := writeFile(t, "vigil.yaml", "http:\n  token_file: "+tokenFile+"\nliveview:\n  max_fps: 10\n")
	p := start(t, "run", "--config", cfg, "--log-format", "json", "--nats-listen", natsAddr, "--http", httpAddr,
		"--data-dir", t.TempDir(), "--threads", "2")
	base := "http://" + httpAddr
	waitUntil(t, "/healthz ready", func() bool { c, _ := httpGet(base + "/healthz"); return c == 200 })

	get := func(path string, token bool) (int, []byte) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token {
			req.Header.Set("Authorization", "Bearer live-view-secret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, body := get("/", false); code != 401 || !strings.Contains(string(body), `name="token"`) {
		t.Errorf("page without token: %d", code)
	}
	if code, body := get("/", true); code != 200 || !strings.Contains(string(body), "/live.js") {
		t.Errorf("page with token: %d", code)
	}
	if code, body := get("/api/live", true); code != 200 || !strings.Contains(string(body), `"camera":"demo"`) {
		t.Errorf("/api/live: %d %s", code, body)
	}
	code, body := get("/api/cameras/demo/snapshot.jpg", true)
	if code != 200 {
		t.Fatalf("snapshot: %d %s", code, body)
	}
	if img, err := jpeg.Decode(bytes.NewReader(body)); err != nil || img.Bounds().Dx() != 768 {
		t.Errorf("snapshot: %v", err)
	}
	if strings.Contains(p.log(), "live-view-secret") {
		t.Error("the token is in the log")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/cameras/demo/mjpeg", nil)
	req.Header.Set("Authorization", "Bearer live-view-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 32<<10)); err != nil {
		t.Fatalf("mjpeg: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
	if st := p.find("vigil stopped"); st == nil || st["mats_open"] != float64(0) {
		t.Errorf("after SIGINT with an MJPEG stream open: %v", st)
	}
}
