package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/internal/rtsptest"
	"github.com/vigil-vision/vigil/sinks"
)

// benchT is what rtsptest needs of a test, for a program: Fatalf panics
// with a fatal that catch turns into an error, so that a failed restart
// of the RTSP server is retried rather than the end of the soak.
type benchT struct {
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

type fatal struct{ msg string }

func (t *benchT) Helper() {}
func (t *benchT) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}
func (t *benchT) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}
func (t *benchT) Logf(f string, a ...any) { progress(f, a...) }
func (t *benchT) Fatalf(f string, a ...any) {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	panic(fatal{fmt.Sprintf(f, a...)})
}

func (t *benchT) cleanup() {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// catch runs f and returns the message of a Fatalf in it as an error.
func catch(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			ft, ok := p.(fatal)
			if !ok {
				panic(p)
			}
			err = errors.New(ft.msg)
		}
	}()
	f()
	return nil
}

// rtspCameras is one RTSP server with a publisher (ffmpeg, the video
// looped in real time) on each path: cameras that can be taken away one at
// a time (the publisher stops: the server answers 404 until it is back) or
// all at once (the server closes: connections refused until it listens on
// the same address again).
type rtspCameras struct {
	t     *benchT
	addr  string
	video string
	srv   *rtsptest.Server
	pubs  map[string]*rtsptest.Publisher
}

func (c *rtspCameras) url(path string) string { return "rtsp://" + c.addr + "/" + path }

// start starts the server on its address and publishes paths.
func (c *rtspCameras) start(ctx context.Context, paths ...string) error {
	var err error
	for try := 0; try < 10; try++ {
		if err = catch(func() { c.srv = rtsptest.StartAt(c.t, c.addr) }); err == nil {
			break
		}
		if sleep(ctx, time.Second) != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := c.publish(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// publish starts the path's publisher and waits until the server gets its
// packets.
func (c *rtspCameras) publish(ctx context.Context, path string) error {
	if err := catch(func() { c.pubs[path] = rtsptest.Publish(c.t, c.srv.URL(path), c.video) }); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.srv.WaitPublishing(wctx, path); err != nil {
		return fmt.Errorf("RTSP publisher of %s: %w", c.url(path), err)
	}
	return nil
}

func (c *rtspCameras) unpublish(path string) {
	if p := c.pubs[path]; p != nil {
		p.Stop()
		delete(c.pubs, path)
	}
}

// stop stops every publisher and the server.
func (c *rtspCameras) stop() {
	for p := range c.pubs {
		c.unpublish(p)
	}
	if c.srv != nil {
		c.srv.Close()
		c.srv = nil
	}
}

// natsServer is the NATS server vigil publishes to, with JetStream on a
// store folder; it is stopped and started again on the same port and
// store.
type natsServer struct {
	port int
	dir  string
	log  zerolog.Logger
	mu   sync.Mutex
	e    *sinks.Embedded
}

func (n *natsServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

// start starts the server; the port is the one it had before, tried for up
// to 30 s.
func (n *natsServer) start() error {
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		var e *sinks.Embedded
		e, err = sinks.StartEmbedded(sinks.EmbeddedOptions{Host: "127.0.0.1", Port: n.port, JetStream: true, StoreDir: n.dir, Logger: n.log})
		if err == nil {
			n.mu.Lock()
			n.e = e
			n.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Second)
	}
}

func (n *natsServer) stop() {
	n.mu.Lock()
	e := n.e
	n.e = nil
	n.mu.Unlock()
	if e != nil {
		e.Shutdown()
	}
}

// freePort is a TCP port of 127.0.0.1 free now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// state is what the harness has done to vigil's world, for the samples:
// which disturbances are on, and since when none is.
type state struct {
	mu       sync.Mutex
	viewer   bool
	down     map[string]bool // RTSP cameras taken away
	natsDown bool
	calm     time.Time // when the last disturbance ended
	settle   time.Duration
}

// worldState is a state at one moment.
type worldState struct {
	viewerOpen  bool
	camerasDown int
	natsDown    bool
	quiet       bool // nothing on, for at least the settling time
}

func newState(settle time.Duration) *state {
	return &state{down: map[string]bool{}, calm: time.Now(), settle: settle}
}

func (s *state) update(f func(*state)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
	if !s.viewer && !s.natsDown && len(s.down) == 0 {
		s.calm = time.Now()
	}
}

func (s *state) setViewer(on bool)   { s.update(func(s *state) { s.viewer = on }) }
func (s *state) setNATSDown(on bool) { s.update(func(s *state) { s.natsDown = on }) }
func (s *state) setDown(camera string, on bool) {
	s.update(func(s *state) {
		if on {
			s.down[camera] = true
		} else {
			delete(s.down, camera)
		}
	})
}

func (s *state) now() worldState {
	s.mu.Lock()
	defer s.mu.Unlock()
	busy := s.viewer || s.natsDown || len(s.down) > 0
	return worldState{viewerOpen: s.viewer, camerasDown: len(s.down), natsDown: s.natsDown,
		quiet: !busy && time.Since(s.calm) >= s.settle}
}

// progress says what the soak does, on stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "soak-bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
