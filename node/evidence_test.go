package node

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/evidence"
	"github.com/vigil-vision/vigil/internal/browsertest"
	"github.com/vigil-vision/vigil/internal/mediatest"
	"gocv.io/x/gocv"
)

// TestEventsAPIListsEventsWithTheirEvidence runs the sample video with a
// line that takes snapshots and clips and a zone that takes neither, and
// reads both rules' events and the line's evidence back over the HTTP API.
func TestEventsAPIListsEventsWithTheirEvidence(t *testing.T) {
	tn := startNode(t, header(t)+fmt.Sprintf(`cameras:
  - id: walkway
    url: %s
    realtime: false
    loop: true
    rules:
      - {name: middle, type: line, normalized: true, points: [[0.5, 0], [0.5, 1]], evidence: {pre: 1s, post: 1s}}
      - {name: lower, type: zone, normalized: true, points: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]], evidence: {snapshot: false, clip: false}}
`, assets.Media("vtest.avi")))

	var list struct{ Events []evidence.EventJSON }
	var withEvidence evidence.EventJSON
	waitUntil(t, "a line crossing with its snapshot and clip, and a zone event", func() bool {
		tn.call("GET", "/api/events?limit=1000", "", &list)
		line, zone := false, false
		for _, e := range list.Events {
			switch {
			case e.Rule == "middle" && e.Evidence != nil && e.Evidence.Clip != "" && e.Evidence.Snapshot != "":
				line, withEvidence = true, e
			case e.Rule == "lower":
				zone = true
			}
		}
		return line && zone
	})
	for _, e := range list.Events {
		if e.Camera != "walkway" || e.Schema != "vigil.event/v1" {
			t.Errorf("event %+v", e)
		}
		if e.Rule == "lower" && e.Evidence != nil {
			t.Errorf("a zone that takes no snapshot has evidence: %+v", e.Evidence)
		}
	}
	resp, err := http.Get(tn.base + withEvidence.Evidence.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	img, err := gocv.IMDecode(body, gocv.IMReadColor)
	if err != nil || resp.StatusCode != http.StatusOK || img.Cols() != 768 || img.Rows() != 576 {
		t.Fatalf("snapshot: %d, %v, %dx%d", resp.StatusCode, err, img.Cols(), img.Rows())
	}
	img.Close()

	resp, err = http.Get(tn.base + withEvidence.Evidence.Clip)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	clip, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/webm" {
		t.Fatalf("clip: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	path := filepath.Join(t.TempDir(), "clip.webm")
	os.WriteFile(path, clip, 0o644)
	// One second before the crossing to one after, at the video's 10 fps.
	if p := mediatest.ProbeFile(t, path); p.Codec != "vp8" || p.Width != 768 || p.Frames < 19 || p.Frames > 22 || p.Duration < 1.9 || p.Duration > 2.3 {
		t.Errorf("clip %+v, want 2 s of 768-wide VP8", p)
	}
	var one evidence.EventJSON
	if code := tn.call("GET", "/api/events/"+withEvidence.ID, "", &one); code != http.StatusOK || one.ID != withEvidence.ID || one.Evidence == nil {
		t.Errorf("GET /api/events/%s: %d %+v", withEvidence.ID, code, one)
	}
	m := tn.metrics()
	if !strings.Contains(m, `vigil_evidence_stored_total{camera="walkway"}`) {
		t.Error("no vigil_evidence_stored_total for the camera")
	}
}

// TestEventsPageInABrowser opens the events page in chromium on a running
// node: thumbnails load, new events come in without a reload, an event's
// snapshot and clip play in the detail view, a verdict is kept, a filter
// narrows the list, and the rules' counts are shown.
func TestEventsPageInABrowser(t *testing.T) {
	tn := startNode(t, header(t)+fmt.Sprintf(`cameras:
  - id: walkway
    url: %s
    realtime: false
    loop: true
    rules:
      - {name: middle, type: line, normalized: true, points: [[0.5, 0], [0.5, 1]], evidence: {pre: 1s, post: 1s}}
      - {name: lower, type: zone, normalized: true, points: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]], evidence: {clip: false}}
`, assets.Media("vtest.avi")))
	ctx, stop, err := browsertest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := chromedp.Do(ctx, chromedp.Navigate(tn.base+"/events")); err != nil {
		t.Fatal(err)
	}
	eval := func(js string) float64 {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	waitUntil(t, "a thumbnail shown", func() bool {
		return eval(`[...document.querySelectorAll('.card img')].filter(i => i.complete && i.naturalWidth > 0).length`) > 0
	})
	shown := eval(`document.querySelectorAll('.card').length`)
	waitUntil(t, "new events on the page without a reload", func() bool {
		return eval(`document.querySelectorAll('.card').length`) > shown
	})

	// An event with its clip: picked, its clip plays and its snapshot shows.
	var list struct{ Events []evidence.EventJSON }
	var id string
	waitUntil(t, "a crossing with its clip", func() bool {
		tn.call("GET", "/api/events?rule=middle", "", &list)
		for _, e := range list.Events {
			if e.Evidence != nil && e.Evidence.Clip != "" {
				id = e.ID
				return true
			}
		}
		return false
	})
	waitUntil(t, "its card", func() bool {
		return eval(fmt.Sprintf(`(() => { const c = document.querySelector('.card[data-id="%s"]'); if (!c) return 0; c.click(); return 1; })()`, id)) == 1
	})
	waitUntil(t, "the clip to play", func() bool {
		return eval(`(() => { const v = document.querySelector('#detail video'); return v && v.readyState >= 2 ? v.duration : 0; })()`) > 0
	})
	if d := eval(`document.querySelector('#detail video').duration`); d < 1.8 || d > 2.4 {
		t.Errorf("the clip lasts %.2f s, want 2 (1 s before and after)", d)
	}
	waitUntil(t, "the snapshot", func() bool {
		return eval(`(document.querySelector('#detail img.snapshot') || {}).naturalWidth || 0`) == 768
	})

	// A verdict: the button keeps it, the card shows it.
	eval(`(() => { document.querySelector('#detail button[data-verdict=false_alarm]').click(); return 1; })()`)
	waitUntil(t, "the card marked a false alarm", func() bool {
		return eval(fmt.Sprintf(`document.querySelectorAll('.card[data-id="%s"] .verdict.false_alarm').length`, id)) == 1
	})
	var reviewed evidence.EventJSON
	tn.call("GET", "/api/events/"+id, "", &reviewed)
	if reviewed.Review == nil || reviewed.Review.Verdict != evidence.VerdictFalseAlarm {
		t.Errorf("review after the click: %+v", reviewed.Review)
	}

	// A filter: only the zone's events.
	eval(`(() => { const s = document.querySelector('select[name=rule]'); s.value = 'lower'; s.dispatchEvent(new Event('change', {bubbles: true})); return 1; })()`)
	waitUntil(t, "the list filtered to the zone", func() bool {
		return eval(`(() => { const w = [...document.querySelectorAll('.card .what')]; return w.length > 0 && w.every(e => e.textContent.startsWith('lower:')) ? 1 : 0; })()`) == 1
	})
	// The rules' counts, from the counts bucket.
	waitUntil(t, "the line's counts", func() bool {
		return eval(`(() => { const r = document.querySelector('#counts tr[data-rule="walkway/middle"] .counts'); return r && r.textContent !== '' ? 1 : 0; })()`) == 1
	})
}
