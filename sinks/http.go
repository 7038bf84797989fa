package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Health is what /healthz reports. Ready means every stage runs; cameras
// that are down do not make vigil unready (they reconnect by themselves)
// but show in Cameras.
type Health struct {
	Ready   bool            `json:"ready"`
	Stages  map[string]bool `json:"stages"`
	Cameras any             `json:"cameras"`
	// Config is the configuration's generation and how the last change to
	// it went (a reload, an API call); omitted when the caller has none.
	Config any `json:"config,omitempty"`
	// Alerts is how the alerts get out: whether their spool can be
	// written (a full disk), what waits; omitted when the caller has none.
	Alerts any `json:"alerts,omitempty"`
}

// HTTPOptions configure the HTTP server.
type HTTPOptions struct {
	Listen   string // host:port; 127.0.0.1 unless configured otherwise
	Gatherer prometheus.Gatherer
	Health   func() Health
	Cameras  func() any // JSON for /api/cameras
	Logger   zerolog.Logger
	// Token, when set, guards every route but /healthz: requests need
	// Authorization: Bearer <Token>, or the cookie a browser gets by
	// signing in on the page's form; others get 401.
	Token string
}

// HTTPServer serves /healthz, /metrics and /api/cameras; Mux takes more
// routes (the live view adds its own).
type HTTPServer struct {
	Mux *http.ServeMux
	srv *http.Server
	ln  net.Listener
	log zerolog.Logger
}

// StartHTTP listens and serves in the background.
func StartHTTP(o HTTPOptions) (*HTTPServer, error) {
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("http.listen %s: address in use; set http.listen to another address, or \"off\"", o.Listen)
		}
		return nil, fmt.Errorf("http.listen %s: %w", o.Listen, err)
	}
	s := &HTTPServer{Mux: http.NewServeMux(), ln: ln, log: o.Logger}
	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := Health{Stages: map[string]bool{}}
		if o.Health != nil {
			h = o.Health()
		}
		code := http.StatusOK
		if !h.Ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, h)
	})
	s.Mux.HandleFunc("GET /api/cameras", func(w http.ResponseWriter, r *http.Request) {
		var v any = []any{}
		if o.Cameras != nil {
			v = o.Cameras()
		}
		writeJSON(w, http.StatusOK, v)
	})
	if o.Gatherer != nil {
		s.Mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	}
	var h http.Handler = s.Mux
	if o.Token != "" {
		h = newGuard(o.Token, s.Mux)
	}
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error().Err(err).Str("stage", "http").Msg("http server stopped")
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *HTTPServer) Addr() string { return s.ln.Addr().String() }

// Shutdown stops accepting and waits for requests in flight, up to ctx.
func (s *HTTPServer) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
