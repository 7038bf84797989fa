package node

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/model"
)

type eventMsg struct {
	Rule      string           `json:"rule"`
	Type      string           `json:"type"`
	Direction string           `json:"direction"`
	Seq       uint64           `json:"seq"`
	Counts    map[string]int64 `json:"counts"`
}

// TestRuleLineMovedByReload: a line moved by a reload of the file counts
// from the next frame on the new line, its counts going on. The line is
// moved out of where people walk (no crossings there) and back.
func TestRuleLineMovedByReload(t *testing.T) {
	head := header(t)
	camera := func(points string) string {
		return head + fmt.Sprintf(`cameras:
  - id: walkway
    url: %s
    realtime: false
    loop: true
    rules:
      - {name: middle, type: line, normalized: true, points: %s, directions: {a_to_b: left, b_to_a: right}}
`, assets.Media("vtest.avi"), points)
	}
	crossing, nowhere := "[[0.5, 0], [0.5, 1]]", "[[0, 0.01], [1, 0.01]]"
	tn := startNode(t, camera(crossing))
	var mu sync.Mutex
	var events []eventMsg
	if _, err := tn.nc.Subscribe("vigil.walkway.events.*", func(m *nats.Msg) {
		var e eventMsg
		json.Unmarshal(m.Data, &e)
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	tn.nc.Flush()
	nEvents := func() int { mu.Lock(); defer mu.Unlock(); return len(events) }
	waitUntil(t, "two crossings of the middle line", func() bool { return nEvents() >= 2 })
	var h struct{ Alerts alertsState }
	tn.call("GET", "/healthz", "", &h)
	if h.Alerts.Spool != "ok" || h.Alerts.Held != 0 || h.Alerts.JetStreamStore != "" {
		t.Errorf("/healthz alerts %+v", h.Alerts)
	}

	tn.write(camera(nowhere))
	rep, err := tn.Reload("file")
	if err != nil || rep.Outcome != "applied" || len(rep.RulesChanged) != 1 || rep.Generation != 2 {
		t.Fatalf("reload: %v %+v", err, rep)
	}
	// A lossless camera's seq is its processed count: every frame after
	// the one that may have been in the sinks when Reload returned ran the
	// new line.
	processed, _ := tn.Pipeline().CameraCounts("walkway")
	movedAt := processed + 1
	n := tn.count("walkway")
	waitUntil(t, "60 frames on the moved line", func() bool { return tn.count("walkway") >= n+60 })
	mu.Lock()
	for _, e := range events {
		if e.Seq > movedAt {
			t.Errorf("event at seq %d, after the line moved where nobody walks (seq %d): %+v", e.Seq, movedAt, e)
		}
	}
	total := int64(0)
	for _, v := range events[len(events)-1].Counts {
		total += v
	}
	mu.Unlock()

	tn.write(camera(crossing))
	if rep, err := tn.Reload("file"); err != nil || rep.Outcome != "applied" {
		t.Fatalf("reload back: %v %+v", err, rep)
	}
	processed, _ = tn.Pipeline().CameraCounts("walkway")
	var e eventMsg
	waitUntil(t, "a crossing after the line came back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range events {
			if ev.Seq > processed+1 {
				e = ev
				return true
			}
		}
		return false
	})
	after := int64(0)
	for _, v := range e.Counts {
		after += v
	}
	if after != total+1 {
		t.Errorf("counts %v after the line came back, %d before: counts must go on", e.Counts, total)
	}
}

// int8Model quantizes the default model once for the tests that swap to it.
var int8Model = sync.OnceValues(func() (string, error) {
	if err := detect.InitRuntime(assets.Library()); err != nil {
		return "", err
	}
	m, err := model.Load(assets.Model())
	if err != nil {
		return "", err
	}
	q, _, err := model.Quantize(m, model.Options{Calibration: model.Frames{Paths: []string{assets.Media("messi5.jpg")}}, Threads: 2})
	if err != nil {
		return "", err
	}
	dir, err := osMkdirTemp()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "yolov8n-int8.onnx")
	return path, model.Save(q, path)
})

// TestDetectorSwappedFP32ToINT8: a reload that points the model at its
// INT8 copy swaps the detector between two frames of a lossless run: every
// frame is published once, in order, and says which model made it.
func TestDetectorSwappedFP32ToINT8(t *testing.T) {
	q, err := int8Model()
	if err != nil {
		t.Fatal(err)
	}
	head := header(t)
	cams := fmt.Sprintf("pipeline: {max_frames: 60}\ncameras:\n  - {id: walkway, url: %s, realtime: false, loop: false}\n", assets.Media("vtest.avi"))
	tn := startNode(t, head+cams)
	waitUntil(t, "the first 15 frames", func() bool { return tn.count("walkway") >= 15 })
	tn.write(strings.Replace(head, "model: {intra_op_threads: 1}", fmt.Sprintf("model: {intra_op_threads: 1, path: %s}", q), 1) + cams)
	rep, err := tn.Reload("file")
	if err != nil || rep.Outcome != "applied" || len(rep.Detectors.Swapped) != 1 || !strings.Contains(rep.Detectors.Swapped[0], "yolov8n-int8.onnx@") {
		t.Fatalf("reload: %v %+v", err, rep)
	}
	waitUntil(t, "all 60 frames", func() bool { return tn.count("walkway") >= 60 })
	tn.stop()
	msgs := tn.messages("walkway")
	if len(msgs) != 60 || msgs[0].Seq != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	contiguous(t, msgs)
	switched := -1
	for i, m := range msgs {
		fp32, int8 := strings.HasPrefix(m.Model, "yolov8n.onnx@505648ad"), strings.HasPrefix(m.Model, "yolov8n-int8.onnx@")
		switch {
		case int8 && switched < 0:
			switched = i
		case !fp32 && !int8, fp32 && switched >= 0:
			t.Fatalf("message %d (seq %d): model %q after the switch at %d", i, m.Seq, m.Model, switched)
		}
		if m.Detector != "default" {
			t.Fatalf("message %d: detector %q", i, m.Detector)
		}
	}
	if switched < 15 {
		t.Errorf("INT8 from message %d", switched)
	}
}

// TestBrokenReloadAndStorm: a file with an error changes nothing and says
// so; 20 reloads in a second, each file with other cameras, end in the last
// file's state, and nothing is left of the cameras that came and went.
func TestBrokenReloadAndStorm(t *testing.T) {
	head := header(t)
	cams := func(ids ...string) string {
		s := head + "cameras:\n"
		for _, id := range ids {
			s += fmt.Sprintf("  - {id: %s, url: testsrc, fps: 10, width: 160, height: 120}\n", id)
		}
		return s
	}
	tn := startNode(t, cams("a", "b"))
	waitUntil(t, "both cameras' tracks", func() bool { return tn.count("a") > 0 && tn.count("b") > 0 })
	goroutines := runtime.NumGoroutine()

	tn.write(cams("a") + "  - {id: c, url: testsrc, urll: x}\n")
	rep, err := tn.Reload("file")
	if err == nil || rep.Outcome != "failed" || !strings.Contains(rep.Error, "cameras[1].urll") || rep.Generation != 1 {
		t.Fatalf("broken file: %v %+v", err, rep)
	}
	var h struct {
		Ready  bool
		Config ConfigStatus
	}
	tn.call("GET", "/healthz", "", &h)
	if h.Config.Generation != 1 || h.Config.LastReload == nil || h.Config.LastReload.Outcome != "failed" || !strings.Contains(h.Config.LastReload.Error, "urll") {
		t.Errorf("/healthz config %+v", h.Config)
	}
	if got := len(tn.Pipeline().Cameras()); got != 2 {
		t.Errorf("%d cameras after a broken reload", got)
	}
	if m := tn.metrics(); !strings.Contains(m, `vigil_config_reloads_total{outcome="failed"} 1`) {
		t.Errorf("reloads metric:\n%s", grepLines(m, "vigil_config_reloads_total"))
	}

	var last []string
	for i := range 20 {
		last = []string{"a", fmt.Sprintf("s%d", i%4), fmt.Sprintf("t%d", i%3)}
		tn.write(cams(last...))
		tn.RequestReload()
		time.Sleep(50 * time.Millisecond)
	}
	// The pipeline lists its cameras in the order they were added, which
	// depends on how the reloads coalesced: compare the sets.
	want := strings.Join(slices.Sorted(slices.Values(last)), ",")
	waitUntil(t, "the last file's cameras", func() bool {
		var ids []string
		for _, c := range tn.Pipeline().Cameras() {
			ids = append(ids, c.ID())
		}
		slices.Sort(ids)
		return strings.Join(ids, ",") == want && tn.Config().Cameras[2].ID == last[2]
	})
	tn.write(cams("a", "b"))
	if rep, err := tn.Reload("file"); err != nil || rep.Outcome != "applied" {
		t.Fatalf("back to the start: %v %+v", err, rep)
	}
	waitUntil(t, "the goroutines back", func() bool { return runtime.NumGoroutine() <= goroutines })
	var cs []map[string]any
	tn.call("GET", "/api/cameras", "", &cs)
	if len(cs) != 2 {
		t.Errorf("/api/cameras lists %d cameras", len(cs))
	}
	m := tn.metrics()
	for _, id := range []string{"s0", "s1", "t0", "t2"} {
		if strings.Contains(m, `camera="`+id+`"`) {
			t.Errorf("series of camera %s remain", id)
		}
	}
}

// TestAddRemoveCyclesOverHTTP: 100 cameras added and removed through the
// API leave the goroutine and file-descriptor counts where they started.
func TestAddRemoveCyclesOverHTTP(t *testing.T) {
	tn := startNode(t, header(t)+"cameras:\n  - {id: a, url: testsrc, fps: 10, width: 160, height: 120}\n")
	waitUntil(t, "the first tracks", func() bool { return tn.count("a") > 0 })
	body := `{"url": "testsrc", "fps": 30, "width": 160, "height": 120, "rules": [{"name": "door", "type": "zone", "points": [[0, 0], [80, 0], [80, 80]]}]}`
	cycle := func(id string) {
		var rep Report
		if code := tn.call("PUT", "/api/config/cameras/"+id, body, &rep); code != 200 || rep.Outcome != "applied" {
			t.Fatalf("PUT %s: %d %+v", id, code, rep)
		}
		waitUntil(t, id+" streaming", func() bool { c := tn.Pipeline().Camera(id); return c != nil && c.Status().Frames > 0 })
		if code := tn.call("DELETE", "/api/config/cameras/"+id, "", &rep); code != 200 || rep.Outcome != "applied" {
			t.Fatalf("DELETE %s: %d %+v", id, code, rep)
		}
	}
	cycle("warm-up")
	http1 := runtime.NumGoroutine()
	fds := openFDs(t)
	for i := range 100 {
		cycle(fmt.Sprintf("c%d", i))
	}
	waitUntil(t, "the goroutines back", func() bool { return runtime.NumGoroutine() <= http1 })
	if n := openFDs(t); n > fds {
		t.Errorf("%d open files after 100 cycles, %d before", n, fds)
	}
	var st ConfigStatus
	tn.call("GET", "/api/config/status", "", &st)
	if st.Generation != 1+2*101 {
		t.Errorf("generation %d after 101 cycles", st.Generation)
	}
}
