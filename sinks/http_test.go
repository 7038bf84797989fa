package sinks

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTPServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_test_total", Help: "t"})
	reg.MustRegister(c)
	c.Add(3)
	ready := false
	s, err := StartHTTP(HTTPOptions{
		Listen: "127.0.0.1:0", Gatherer: reg, Logger: zerolog.Nop(),
		Health: func() Health {
			return Health{Ready: ready, Stages: map[string]bool{"detect": ready}, Cameras: []string{"cam1"}}
		},
		Cameras: func() any { return []map[string]string{{"camera": "cam1", "state": "streaming"}} },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	base := "http://" + s.Addr()

	if code, body := get(t, base+"/healthz"); code != 503 || !strings.Contains(body, `"ready": false`) {
		t.Errorf("healthz before ready: %d %s", code, body)
	}
	ready = true
	code, body := get(t, base+"/healthz")
	var h Health
	if code != 200 || json.Unmarshal([]byte(body), &h) != nil || !h.Ready || !h.Stages["detect"] {
		t.Errorf("healthz when ready: %d %s", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "vigil_test_total 3") {
		t.Errorf("metrics: %d %s", code, body)
	}
	if code, body := get(t, base+"/api/cameras"); code != 200 || !strings.Contains(body, `"streaming"`) {
		t.Errorf("cameras: %d %s", code, body)
	}
	if code, _ := get(t, base+"/nope"); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

func TestHTTPPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = StartHTTP(HTTPOptions{Listen: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "http.listen") || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("err = %v", err)
	}
}
