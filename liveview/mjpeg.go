package liveview

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// mjpegClient is one open MJPEG stream: a one-frame, latest-wins mailbox.
type mjpegClient struct {
	ch   chan []byte
	quit chan struct{}
	once sync.Once
}

func (m *mjpegClient) stop() { m.once.Do(func() { close(m.quit) }) }

// offer hands b over without waiting; it reports whether an older frame the
// client had not taken yet was dropped for it.
func (m *mjpegClient) offer(b []byte) (dropped bool) {
	for {
		select {
		case m.ch <- b:
			return dropped
		default:
		}
		select {
		case <-m.ch:
			dropped = true
		default:
		}
	}
}

// snapWaiter is one snapshot request waiting for the next frame.
type snapWaiter struct {
	raw bool
	ch  chan []byte // buffered: deliver never waits
}

// deliver hands a JPEG of the current frame to the MJPEG clients (when
// annotated) and to the snapshot requests of its kind.
func (c *camera) deliver(b []byte, raw bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !raw {
		for m := range c.mjpeg {
			if m.offer(b) {
				c.s.m.dropped.WithLabelValues(c.id, "mjpeg_slow").Inc()
			}
		}
	}
	kept := c.snaps[:0]
	for _, w := range c.snaps {
		if w.raw == raw {
			w.ch <- b
		} else {
			kept = append(kept, w)
		}
	}
	clear(c.snaps[len(kept):])
	c.snaps = kept
	c.updateActive()
}

func (s *Server) serveMJPEG(w http.ResponseWriter, r *http.Request) {
	c := s.cameraOr404(w, r)
	if c == nil {
		return
	}
	m := &mjpegClient{ch: make(chan []byte, 1), quit: make(chan struct{})}
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		s.stopped(w, c)
		return
	}
	c.mjpeg[m] = struct{}{}
	c.s.m.mjpegClients.WithLabelValues(c.id).Set(float64(len(c.mjpeg)))
	c.updateActive()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.mjpeg, m)
		if !c.stopped { // a removed camera's series stay deleted
			c.s.m.mjpegClients.WithLabelValues(c.id).Set(float64(len(c.mjpeg)))
		}
		c.updateActive()
		c.mu.Unlock()
	}()

	const boundary = "vigilframe"
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-m.quit:
			return
		case <-c.quit:
			return
		case b := <-m.ch:
			// A client that stops reading is cut off rather than held forever.
			rc.SetWriteDeadline(now().Add(10 * time.Second))
			_, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", boundary, len(b))
			if err == nil {
				_, err = w.Write(b)
			}
			if err == nil {
				_, err = io.WriteString(w, "\r\n")
			}
			if err == nil {
				err = rc.Flush()
			}
			if err != nil {
				return
			}
		}
	}
}

func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	c := s.cameraOr404(w, r)
	if c == nil {
		return
	}
	raw, _ := strconv.ParseBool(r.URL.Query().Get("raw"))
	wt := &snapWaiter{raw: raw, ch: make(chan []byte, 1)}
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		s.stopped(w, c)
		return
	}
	c.snaps = append(c.snaps, wt)
	c.updateActive()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		for i, x := range c.snaps {
			if x == wt {
				c.snaps = append(c.snaps[:i], c.snaps[i+1:]...)
				break
			}
		}
		c.updateActive()
		c.mu.Unlock()
	}()

	timer := time.NewTimer(snapshotWait)
	defer timer.Stop()
	select {
	case b := <-wt.ch:
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	case <-timer.C:
		st := c.src.Status()
		msg := fmt.Sprintf("no frame from camera %q within %s (state %s", c.id, snapshotWait, st.State)
		if st.LastError != "" {
			msg += ": " + st.LastError
		}
		http.Error(w, msg+")", http.StatusServiceUnavailable)
	case <-r.Context().Done():
	case <-c.quit:
		s.stopped(w, c)
	}
}
