package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/dataset"
	"github.com/vigil-vision/vigil/evidence"
	"github.com/vigil-vision/vigil/examples"
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
	// A range past the end of a clip: 416, as HTTP says.
	req, _ := http.NewRequest("GET", tn.base+withEvidence.Evidence.Clip, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", len(clip)+10))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("a range past the end: %v %v", resp, err)
	} else {
		resp.Body.Close()
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
	waitUntil(t, "the clip to advance", func() bool {
		return eval(`(() => { const v = document.querySelector('#detail video'); if (v.ended) { v.currentTime = 0; v.play(); } return v.currentTime; })()`) > 0.3
	})
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

// TestAReviewedEventBecomesAHardExample: where hard examples are
// captured, a verdict on an event puts its frame, as captured, in the
// examples store, its tracks as pre-labels (a false alarm's object left
// out).
func TestAReviewedEventBecomesAHardExample(t *testing.T) {
	store := t.TempDir()
	tn := startNode(t, header(t)+fmt.Sprintf(`cameras:
  - id: walkway
    url: %s
    realtime: false
    loop: true
    rules:
      - {name: middle, type: line, normalized: true, points: [[0.5, 0], [0.5, 1]], evidence: {clip: false}}
examples:
  enabled: true
  strategies: {close_to_threshold: {epsilon: 0}, random: {fraction: 0}}
  store: {dir: %s}
`, assets.Media("vtest.avi"), store))
	var list struct{ Events []evidence.EventJSON }
	var ev evidence.EventJSON
	waitUntil(t, "a crossing with its snapshot", func() bool {
		tn.call("GET", "/api/events?rule=middle", "", &list)
		for _, e := range list.Events {
			if e.Evidence != nil && e.TrackID != 0 {
				ev = e
				return true
			}
		}
		return false
	})
	var out struct {
		evidence.Review
		Example      string `json:"example"`
		ExampleError string `json:"example_error"`
	}
	if code := tn.call("PUT", "/api/events/"+ev.ID+"/review", `{"verdict": "false_alarm"}`, &out); code != http.StatusOK || out.Example == "" {
		t.Fatalf("review: %d %+v", code, out)
	}
	found := false
	for ex, err := range (&examples.Folder{Dir: store}).Examples(context.Background(), dataset.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if ex.ID != out.Example {
			continue
		}
		found = true
		img, err := gocv.IMDecode(ex.JPEG, gocv.IMReadColor)
		if err != nil || img.Cols() != 768 || ex.Width != 768 || ex.Camera != "walkway" || !strings.Contains(ex.Reason, "false_alarm") {
			t.Errorf("example %s: %dx%d %+v %v", ex.ID, img.Cols(), img.Rows(), ex.Reason, err)
		}
		// The frame is clean: not highlight-red on the event's box edge.
		if b := ev.Evidence.Box; b != nil {
			v := img.GetVecbAt(b[1], (b[0]+b[2])/2) // BGR
			if v[2] > 160 && int(v[2])-int(max(v[0], v[1])) > 110 {
				t.Errorf("the example's frame is drawn on: %v at the event's box", v)
			}
		}
		img.Close()
		for _, b := range ex.Boxes {
			if b.Label == "" || b.W <= 0 || b.H <= 0 {
				t.Errorf("pre-label %+v", b)
			}
		}
		if len(ex.Boxes) >= countObjects(t, tn, ev.ID) {
			t.Errorf("%d pre-labels: the false alarm's object was kept", len(ex.Boxes))
		}
	}
	if !found {
		t.Fatalf("no example %s in the store", out.Example)
	}
}

// countObjects is how many tracks an event's record names.
func countObjects(t *testing.T, tn *testNode, id string) int {
	t.Helper()
	js, err := jetstream.New(tn.nc)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.ObjectStore(context.Background(), evidence.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(context.Background(), evidence.SnapshotName("walkway", id))
	if err != nil {
		t.Fatal(err)
	}
	var rec evidence.Record
	if err := json.Unmarshal([]byte(info.Metadata[evidence.MetaKey]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Frame == "" || len(rec.Objects) == 0 || rec.Objects[0].TrackID == 0 {
		t.Fatalf("record %+v: no frame or objects", rec)
	}
	return len(rec.Objects)
}

// TestOnlyCamerasWithClipRulesKeepARing: a camera without rules, or whose
// rules take no clip, keeps no ring (no cost); the others keep their
// longest window and two seconds.
func TestOnlyCamerasWithClipRulesKeepARing(t *testing.T) {
	f := false
	cfg := config.Default()
	cfg.Cameras = []config.Camera{
		{ID: "plain"},
		{ID: "noclip", Rules: []config.Rule{{Name: "a", Evidence: &config.RuleEvidence{Clip: &f}}}},
		{ID: "clips", Rules: []config.Rule{{Name: "a"}, {Name: "b", Evidence: &config.RuleEvidence{Pre: config.Duration(8 * time.Second)}}}},
		{ID: "off", Enabled: &f, Rules: []config.Rule{{Name: "a"}}},
	}
	got := clipCameras(cfg)
	if len(got) != 1 || got["clips"] != 15*time.Second {
		t.Errorf("rings %v, want only clips: 15s (8s + 5s + 2s)", got)
	}
	cfg.Evidence.Enabled = &f
	if got := clipCameras(cfg); len(got) != 0 {
		t.Errorf("evidence off: rings %v", got)
	}
}
