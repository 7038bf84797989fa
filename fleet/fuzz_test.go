package fleet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/internal/fuzztest"
	"github.com/vigil-vision/vigil/lease"
)

// kvEntry is a stored value as the bucket hands it over.
type kvEntry struct {
	key   string
	value []byte
}

func (e kvEntry) Bucket() string                  { return DefaultCamerasBucket }
func (e kvEntry) Key() string                     { return e.key }
func (e kvEntry) Value() []byte                   { return e.value }
func (e kvEntry) Revision() uint64                { return 1 }
func (e kvEntry) Created() time.Time              { return time.Time{} }
func (e kvEntry) Delta() uint64                   { return 0 }
func (e kvEntry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }

// FuzzCameraValue feeds the reader of the cameras bucket any value under
// key dock-1: it must not panic; a value it refuses comes back as an
// error naming the bucket and key, and a camera it reads has that id and,
// stored again as Put stores it, reads back the same.
func FuzzCameraValue(f *testing.F) {
	for _, s := range []string{
		"url: testsrc\n",
		"{id: dock-1, url: testsrc}",
		"id: dock-1\nurl: rtsp://vigil@cam-7.plant/stream1\nrtsp_transport: udp\ndetector: docks\nrequire: [gpu]\nprefer: [fast]\n" +
			"rules: [{name: door, type: line, points: [[0, 300], [768, 300]], directions: {a_to_b: in, b_to_a: out}}]\n",
		"id: dock-2\nurl: testsrc\n", "url: [not, a, url\n", "", "null", "- url: testsrc\n", "url: testsrc\nenabled: false\nfps: 2.5\n",
		"url: \"test\\tsrc\"\n", "url: testsrc\nlabels: {a: \"x\\ty\"}\n",
	} {
		f.Add([]byte(s))
	}
	// A camera as the API takes it reads the same from the bucket.
	files, _ := filepath.Glob(filepath.Join("..", "config", "testdata", "camera", "*", "*"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	c := &Cameras{bucket: DefaultCamerasBucket}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzztest.Watchdog(t)
		e := c.entry(kvEntry{key: "dock-1", value: data})
		if e.ID != "dock-1" || e.Revision != 1 {
			t.Fatalf("%q: entry %q revision %d", data, e.ID, e.Revision)
		}
		if e.Err != nil {
			if !strings.Contains(e.Err.Error(), "bucket VIGIL_CAMERAS key dock-1") {
				t.Fatalf("%q: %v does not name the bucket and key", data, e.Err)
			}
			return
		}
		if e.Camera.ID != "dock-1" {
			t.Fatalf("%q: camera %q under key dock-1", data, e.Camera.ID)
		}
		value, err := encodeCamera(e.Camera)
		if err != nil {
			t.Fatalf("%q: read as %+v, does not encode: %v", data, e.Camera, err)
		}
		back := c.entry(kvEntry{key: "dock-1", value: value})
		if back.Err != nil || !reflect.DeepEqual(back.Camera, e.Camera) {
			t.Fatalf("%q: read as\n%+v\nstored as\n%s\nreads back as\n%+v\n%v", data, e.Camera, value, back.Camera, back.Err)
		}
	})
}

// FuzzNodeInfo feeds the reader of the nodes bucket any info a node's key
// may hold, beside one well-formed node: it must not panic; an info it
// reads is written again the same; and placement puts each free camera
// either on one live node that can run it and has room, or nowhere with
// a reason.
func FuzzNodeInfo(f *testing.F) {
	for _, info := range []NodeInfo{
		{Labels: []string{"gpu"}, Detectors: []string{"default", "docks"}, MaxCameras: 8, MaxLoad: 1.5, Load: 0.25, Cameras: []string{"dock-1"}, URL: "http://10.0.0.3:8080", Version: "v1.4.0"},
		{Detectors: []string{"default"}, MaxCameras: 1, MaxLoad: 1},
		{Labels: []string{}, Detectors: []string{}, Cameras: []string{}},
	} {
		b, _ := json.Marshal(info)
		f.Add(b, uint8(0))
	}
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `{"max_cameras":-3,"max_load":-1}`, `{"max_cameras":9223372036854775807,"max_load":1e308,"load":-1e308}`,
		`{"max_load":1e309}`, `{"labels":null,"detectors":["default",null]}`, `{"Labels":["gpu"],"DETECTORS":["default"],"max_cameras":2,"max_load":2}`,
		"{\"labels\":[\"\xff\"],\"url\":\"\\u0000\"}",
	} {
		f.Add([]byte(s), uint8(1))
	}
	plain := config.Camera{ID: "plain", URL: "testsrc"}
	gpu := config.Camera{ID: "gpu", URL: "testsrc", Require: []string{"gpu"}}
	dock := config.Camera{ID: "dock", URL: "testsrc", Detector: "docks"}
	fast := config.Camera{ID: "fast", URL: "testsrc", Prefer: []string{"gpu", "fast"}}
	other := NodeInfo{Labels: []string{"fast"}, Detectors: []string{"default"}, MaxCameras: 2, MaxLoad: 1}
	f.Fuzz(func(t *testing.T, data []byte, held uint8) {
		fuzztest.Watchdog(t)
		info, live := nodeInfo(lease.Entry{Key: "n1", Holder: "n1", Epoch: 1, Info: data})
		if !live {
			if !reflect.DeepEqual(info, NodeInfo{}) {
				t.Fatalf("%q: not live, but %+v", data, info)
			}
			return
		}
		again, err := json.Marshal(info)
		if err != nil {
			t.Fatalf("%q: read as %+v, does not encode: %v", data, info, err)
		}
		if back, live := nodeInfo(lease.Entry{Key: "n1", Holder: "n1", Epoch: 1, Info: again}); !live || !reflect.DeepEqual(back, info) {
			t.Fatalf("%q: read as %+v, written as %s, reads back as %+v", data, info, again, back)
		}

		nodes := map[string]NodeInfo{"n1": info, "n2": other}
		counts := map[string]int{"n1": int(held % 4), "n2": 1}
		pl := place([]config.Camera{plain, gpu, dock, fast}, nodes, counts)
		for _, cam := range []config.Camera{plain, gpu, dock, fast} {
			to, placed := pl.to[cam.ID]
			why, unplaced := pl.unplaced[cam.ID]
			if placed == unplaced || unplaced && why == "" {
				t.Fatalf("%q: camera %s placed on %q, unplaced for %q", data, cam.ID, to, why)
			}
			if !placed {
				continue
			}
			n, ok := nodes[to]
			if !ok || n.eligible(cam) != "" || !(n.Load < n.MaxLoad) {
				t.Fatalf("%q: camera %s placed on %q (%+v)", data, cam.ID, to, n)
			}
			counts[to]++
		}
		for name, n := range nodes {
			if start := map[string]int{"n1": int(held % 4), "n2": 1}[name]; counts[name] > max(n.MaxCameras, start) {
				t.Fatalf("%q: %d cameras on %s (%+v), held %d", data, counts[name], name, n, start)
			}
		}
		st := buildStatus(map[string]Entry{"plain": {ID: "plain", Camera: plain}, "gpu": {ID: "gpu", Camera: gpu}},
			map[string]lease.Entry{"gpu": {Key: "gpu", Holder: "n1", Epoch: 4}}, nodes)
		if len(st.Nodes) != 2 || len(st.Cameras) != 2 || st.Cameras[0].State != StateRunning || st.Cameras[0].URL != info.URL {
			t.Fatalf("%q: status %+v", data, st)
		}
	})
}
