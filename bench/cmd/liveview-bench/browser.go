package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/vigil-vision/vigil/bench/internal/chromium"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// browser is headless chromium with one tab per viewer.
type browser struct {
	root   context.Context
	cancel func()
	dir    string
	tabs   []context.CancelFunc
}

func startBrowser(path string) (*browser, error) {
	dir, err := os.MkdirTemp("", "liveview-bench-chromium-")
	if err != nil {
		return nil, err
	}
	opts := chromium.Options(path, dir)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	b := &browser{root: ctx, dir: dir, cancel: func() { cancelCtx(); cancelAlloc() }}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.close()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	return b, nil
}

// open opens the page in a new tab and waits until camera plays in it.
func (b *browser) open(ctx context.Context, base, camera string) (context.Context, error) {
	tab, cancel := chromedp.NewContext(b.root)
	b.tabs = append(b.tabs, cancel)
	// The first action makes the tab, which lives as long as that action's
	// context: no timeout on it.
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		return nil, fmt.Errorf("open a tab: %w", err)
	}
	step, stop := context.WithTimeout(tab, 30*time.Second)
	defer stop()
	if err := chromedp.Do(step, chromedp.Navigate(base+"/")); err != nil {
		return nil, fmt.Errorf("open the page: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := tileStats(tab, camera); err == nil && st != nil && st.FramesDecoded > 10 {
			return tab, nil
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("the page did not play within 60s")
}

func (b *browser) closeTabs() {
	for _, c := range b.tabs {
		c()
	}
	b.tabs = nil
}

func (b *browser) close() {
	b.closeTabs()
	b.cancel()
	os.RemoveAll(b.dir)
}

type stats struct {
	FramesDecoded int       `json:"framesDecoded"`
	Latencies     []float64 `json:"latencies"`
}

func tileStats(tab context.Context, camera string) (*stats, error) {
	c, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	return chromedp.Run(c, chromedp.Evaluate[*stats](fmt.Sprintf(`window.vigil ? window.vigil.stats(%q) : null`, camera),
		chromedp.EvalAwaitPromise))
}

// collectLatency waits until the tab has read back n frames after its
// first 20 (the stream settling) and returns those samples, ms.
func collectLatency(ctx context.Context, tab context.Context, camera string, n int) ([]float64, error) {
	const skip = 20
	progress("latency: reading back %d frames in the browser", n)
	deadline := time.Now().Add(time.Duration(n)*200*time.Millisecond + time.Minute)
	for time.Now().Before(deadline) {
		st, err := tileStats(tab, camera)
		if err == nil && st != nil && len(st.Latencies) >= skip+n {
			return st.Latencies[skip:], nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("latency: the browser did not read back enough frames (is the stamp visible?)")
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return errors.New("interrupted")
	case <-time.After(d):
		return nil
	}
}

// cpuTime is the CPU time (user + system) of the browser's processes: it
// runs on the same cores as vigil here, which a real viewer does not.
func (b *browser) cpuTime() time.Duration {
	c := chromedp.FromContext(b.root)
	if c == nil || c.Browser == nil || c.Browser.Process() == nil {
		return 0
	}
	root := c.Browser.Process().Pid
	type proc struct {
		ppid  int
		ticks int64
	}
	procs := map[int]proc{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name (which may hold spaces): state,
		// ppid, …, utime (14th field) and stime (15th).
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid, ut + st}
	}
	inTree := func(pid int) bool {
		for i := 0; i < 64 && pid > 1; i++ {
			if pid == root {
				return true
			}
			pid = procs[pid].ppid
		}
		return false
	}
	var ticks int64
	for pid, p := range procs {
		if inTree(pid) {
			ticks += p.ticks
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
