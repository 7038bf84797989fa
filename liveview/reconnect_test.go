package liveview

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/sinks"
)

// endSessions ends every WebRTC session, as a vigil that stops does.
func endSessions(s *Server) {
	for _, c := range s.cameras() {
		c.mu.Lock()
		var list []*session
		for _, x := range c.sessions {
			list = append(list, x)
		}
		c.mu.Unlock()
		for _, x := range list {
			x.end("test: server going away")
		}
	}
}

// TestPageReconnects: the page gets its video back by itself after the
// server goes away (sessions ended, HTTP refused for a while) and comes back
// on the same address.
func TestPageReconnects(t *testing.T) {
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
	first := waitDecoded(t, ctx, "demo", 10, 60*time.Second)

	// The server goes away: its sessions end and its port refuses.
	addr := e.web.Addr()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	e.web.Shutdown(sctx)
	scancel()
	endSessions(e.lv)
	waitFor(t, 30*time.Second, "the page to notice", func() bool {
		var badge string
		badge, _ = chromedp.Run(step, chromedp.Text(chromedp.CSS("#server")))
		return badge != "live"
	})

	// And comes back on the same address.
	var web *sinks.HTTPServer
	waitFor(t, 10*time.Second, "the address to be free again", func() bool {
		web, err = sinks.StartHTTP(sinks.HTTPOptions{Listen: addr, Logger: zerolog.Nop()})
		return err == nil
	})
	e.lv.Register(web.Mux)
	e.web = web
	if conn, err := net.Dial("tcp", addr); err != nil {
		t.Fatal(err)
	} else {
		conn.Close()
	}
	waitFor(t, 60*time.Second, "video again", func() bool {
		st, _ := stats(ctx, "demo")
		return st != nil && st.State == "connected" && st.FramesDecoded > 10 && st.FramesShown > first.FramesShown+10
	})
}
