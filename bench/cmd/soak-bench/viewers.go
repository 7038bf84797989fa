package main

import (
	"context"
	"fmt"
	"github.com/vigil-vision/vigil/bench/internal/chromium"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// How a viewer leaves: the page's pagehide handler ends its sessions
// with a WHEP DELETE, or the browser goes away without a word and vigil
// finds out from the connection.
const (
	leavePage   = "left the page"
	killBrowser = "browser closed"
)

// viewerSession is one browser on the live page.
type viewerSession struct {
	leave  string
	start  time.Time
	left   time.Time     // the page left, or the browser closed
	closed time.Time     // the browser gone
	first  time.Duration // page opened → a camera's first decoded frame; 0: none
	// decoded is each camera's frames decoded when the browser closed.
	decoded map[string]int
	err     error
}

func (v viewerSession) played() bool { return v.err == nil && v.first > 0 }

func (v viewerSession) String() string {
	var d []string
	for id, n := range v.decoded {
		d = append(d, fmt.Sprintf("%s=%d", id, n))
	}
	sort.Strings(d)
	s := fmt.Sprintf("first frame after %.1fs, frames decoded %s; %s", v.first.Seconds(), strings.Join(d, " "), v.leave)
	if v.err != nil {
		s += "; " + v.err.Error()
	}
	return s
}

// view starts headless chromium (a process of its own, as a person
// opening the page would), opens the live page at base, keeps it open for
// hold, and leaves as leave says.
func view(ctx context.Context, browser, base string, cameras []string, hold time.Duration, leave string) (v viewerSession) {
	v = viewerSession{leave: leave, start: time.Now(), decoded: map[string]int{}}
	defer func() { v.closed = time.Now() }() // runs last: after the browser is gone
	dir, err := os.MkdirTemp("", "soak-bench-chromium-")
	if err != nil {
		v.err = err
		return v
	}
	defer os.RemoveAll(dir)
	opts := chromium.Options(browser, dir)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// Cancelling the browser's first context closes it and waits for the
	// process to exit.
	defer cancelBrowser()

	// The first action starts the browser and makes the tab, which live as
	// long as that action's context: no timeout on it.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		v.err = fmt.Errorf("start %s: %w", browser, err)
		return v
	}
	page, stop := context.WithTimeout(bctx, 60*time.Second)
	err = chromedp.Do(page, chromedp.Navigate(base+"/"))
	stop()
	if err != nil {
		v.err = fmt.Errorf("open %s/: %w", base, err)
		return v
	}
	opened := time.Now()
	deadline := opened.Add(hold)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for _, c := range cameras {
			if n := framesDecoded(bctx, c); n > v.decoded[c] {
				v.decoded[c] = n
			}
			if v.first == 0 && v.decoded[c] > 0 {
				v.first = time.Since(opened)
			}
		}
		sleep(ctx, time.Second)
	}
	if v.first == 0 {
		v.err = fmt.Errorf("no camera played within %s", hold.Round(time.Second))
	}
	v.left = time.Now()
	if leave == leavePage {
		c, cancel := context.WithTimeout(bctx, 10*time.Second)
		if err := chromedp.Do(c, chromedp.Navigate("about:blank")); err != nil && v.err == nil {
			v.err = fmt.Errorf("leave the page: %w", err)
		}
		cancel()
		sleep(context.Background(), time.Second) // the DELETEs on their way
	}
	return v
}

// framesDecoded is what the page's window.vigil.stats says of a camera's
// tile; 0 when it has none yet.
func framesDecoded(tab context.Context, camera string) int {
	c, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	st, err := chromedp.Run(c, chromedp.Evaluate[*struct {
		FramesDecoded int `json:"framesDecoded"`
	}](fmt.Sprintf(`window.vigil ? window.vigil.stats(%q) : null`, camera), chromedp.EvalAwaitPromise))
	if err != nil || st == nil {
		return 0
	}
	return st.FramesDecoded
}
