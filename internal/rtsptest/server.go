package rtsptest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/bluenviron/gortsplib/v4"
)

// Server is a real RTSP server on 127.0.0.1 that accepts one publisher per
// path and serves its stream to readers over TCP and UDP transports.
type Server struct {
	addr      string
	srv       *gortsplib.Server
	reg       *registry
	closeOnce sync.Once
}

// Start starts a server on free ports of 127.0.0.1: one TCP port for RTSP and
// an even/odd UDP pair for RTP/RTCP. t.Cleanup closes it.
func Start(t T) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("rtsptest: listen for RTSP on 127.0.0.1: %v", err)
	}
	return start(t, ln)
}

// StartAt starts a server whose RTSP port is exactly addr, typically one
// returned earlier by ReserveAddr. The UDP ports are chosen afresh.
func StartAt(t T, addr string) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("rtsptest: listen for RTSP on %s: %v", addr, err)
	}
	return start(t, ln)
}

// ReserveAddr returns "127.0.0.1:PORT" for a TCP port that is free now and on
// which nothing listens until StartAt(t, addr). Between the two, connections
// to it are refused, as to a camera that is down. Another process may take
// the port in between; on a test machine that is rare enough to ignore.
func ReserveAddr(t T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("rtsptest: reserve a port on 127.0.0.1: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("rtsptest: release reserved %s: %v", addr, err)
	}
	return addr
}

// start hands listeners that are already bound to gortsplib, so no port can
// be taken by someone else between choosing it and listening on it.
func start(t T, ln net.Listener) *Server {
	t.Helper()
	rtpConn, rtcpConn, err := listenUDPPair()
	if err != nil {
		ln.Close()
		t.Fatalf("rtsptest: %v", err)
	}
	addr := ln.Addr().String()
	rtpAddr, rtcpAddr := rtpConn.LocalAddr().String(), rtcpConn.LocalAddr().String()

	reg := newRegistry()
	srv := &gortsplib.Server{
		Handler:        reg,
		RTSPAddress:    addr,
		UDPRTPAddress:  rtpAddr,
		UDPRTCPAddress: rtcpAddr,
		Listen: func(_, address string) (net.Listener, error) {
			if address != addr {
				return nil, fmt.Errorf("rtsptest: unexpected TCP listen on %s", address)
			}
			return ln, nil
		},
		ListenPacket: func(_, address string) (net.PacketConn, error) {
			switch address {
			case rtpAddr:
				return rtpConn, nil
			case rtcpAddr:
				return rtcpConn, nil
			}
			return nil, fmt.Errorf("rtsptest: unexpected UDP listen on %s", address)
		},
	}
	reg.srv = srv
	if err := srv.Start(); err != nil {
		// Start closes only what it opened itself; closing twice is harmless.
		ln.Close()
		rtpConn.Close()
		rtcpConn.Close()
		t.Fatalf("rtsptest: start RTSP server on %s: %v", addr, err)
	}

	s := &Server{addr: addr, srv: srv, reg: reg}
	t.Cleanup(s.Close)
	return s
}

// listenUDPPair binds RTP on an even port and RTCP on the next one, which
// gortsplib requires.
func listenUDPPair() (rtpConn, rtcpConn *net.UDPConn, err error) {
	loopback := net.IPv4(127, 0, 0, 1)
	listen := func(port int) (*net.UDPConn, error) {
		return net.ListenUDP("udp", &net.UDPAddr{IP: loopback, Port: port})
	}
	for range 50 {
		first, err := listen(0)
		if err != nil {
			return nil, nil, fmt.Errorf("listen for RTP on 127.0.0.1: %w", err)
		}
		port := first.LocalAddr().(*net.UDPAddr).Port
		if port%2 == 0 {
			if second, err := listen(port + 1); err == nil {
				return first, second, nil
			}
		} else {
			if second, err := listen(port - 1); err == nil {
				return second, first, nil
			}
		}
		first.Close()
	}
	return nil, nil, fmt.Errorf("no free even/odd UDP port pair for RTP/RTCP on 127.0.0.1")
}

// URL returns "rtsp://127.0.0.1:PORT/path".
func (s *Server) URL(path string) string {
	return "rtsp://" + s.addr + "/" + cleanPath(path)
}

// Addr returns "127.0.0.1:PORT", the RTSP address.
func (s *Server) Addr() string {
	return s.addr
}

// Close disconnects every publisher and reader and stops the server. It is
// safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.reg.close()
		// Waits for every session; each publisher's OnSessionClose closes its stream.
		s.srv.Close()
	})
}

// WaitPublishing blocks until a publisher is recording on path and its first
// RTP packet has arrived, so that a reader started next gets media. It fails
// when ctx ends or the server closes.
func (s *Server) WaitPublishing(ctx context.Context, path string) error {
	if err := s.reg.waitPublishing(ctx, cleanPath(path)); err != nil {
		return fmt.Errorf("wait for publisher on %s: %w", s.URL(path), err)
	}
	return nil
}

// cleanPath maps "cam", "/cam" and "/cam/" to one key; gortsplib hands
// handlers the path with its leading slash.
func cleanPath(path string) string {
	return strings.Trim(path, "/")
}
