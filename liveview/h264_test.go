//go:build x264

package liveview

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestH264Encoder: x264 gives an IDR first and on request, P frames
// otherwise, in Annex B with the parameter sets before each IDR.
func TestH264Encoder(t *testing.T) {
	frames := videoFrames(t, 12)
	defer closeAll(frames)
	enc, err := NewFrameEncoder("h264", 1_500_000, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	for i, f := range frames {
		out, key, err := enc.Encode(f, i == 8)
		if err != nil {
			t.Fatal(err)
		}
		if want := i == 0 || i == 8; key != want {
			t.Errorf("frame %d: IDR %v, want %v", i, key, want)
		}
		if key && (len(out) < 5 || out[4]&0x1f != 7) {
			t.Errorf("frame %d: IDR access unit does not start with an SPS", i)
		}
	}
}

// TestH264InBrowser: chromium plays the live view sent as H.264.
func TestH264InBrowser(t *testing.T) {
	e, err := startEnv(envOptions{codec: "h264"})
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
	signIn(t, ctx, e)
	st := waitDecoded(t, ctx, "demo", 30, 60*time.Second)
	if st.Width != 768 || st.Height != 576 {
		t.Errorf("video %dx%d", st.Width, st.Height)
	}
}
