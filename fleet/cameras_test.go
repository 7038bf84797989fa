package fleet

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/internal/natstest"
)

// fixture parses a config file's text: the cameras to store and the rest
// they are checked against.
func fixture(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(text), "fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestCamerasRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := OpenCameras(ctx, natstest.JetStream(t), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fixture(t, `
detectors: [{name: docks}]
cameras:
  - {id: gate, url: "rtsp://cam-7.plant/stream1", rtsp_transport: udp}
  - id: dock-1
    url: testsrc
    detector: docks
    rules: [{name: door, type: line, points: [[0, 300], [768, 300]], directions: {a_to_b: in, b_to_a: out}}]
`)
	if err := store.Put(ctx, cfg, cfg.Cameras); err != nil {
		t.Fatal(err)
	}
	list, err := store.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("List: %v %+v", err, list)
	}
	for _, e := range list {
		want, _ := cfg.Camera(e.ID)
		if e.Err != nil || !reflect.DeepEqual(e.Camera, want) || e.Revision == 0 {
			t.Errorf("%s read back as %+v (%v), stored %+v", e.ID, e.Camera, e.Err, want)
		}
	}
	if list[0].ID != "dock-1" || list[1].ID != "gate" {
		t.Errorf("order %s, %s", list[0].ID, list[1].ID)
	}

	// One bad camera stores nothing.
	bad := fixture(t, "cameras:\n  - {id: yard, url: testsrc}\n  - {id: roof, url: \"rtsp://admin:hunter2@cam-9/live\"}\n")
	unknown := bad.Cameras[0]
	unknown.Detector = "gpu"
	for name, cams := range map[string][]config.Camera{
		"password":         bad.Cameras,
		"unknown detector": {bad.Cameras[0], unknown},
	} {
		err := store.Put(ctx, cfg, cams)
		if err == nil || !strings.Contains(err.Error(), "nothing stored") {
			t.Errorf("%s: %v", name, err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
	if list, _ := store.List(ctx); len(list) != 2 {
		t.Errorf("%d cameras after refused puts", len(list))
	}

	if err := store.Delete(ctx, "gate"); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, "gate"); err == nil || !strings.Contains(err.Error(), `no camera "gate"`) {
		t.Errorf("deleting twice: %v", err)
	}
	if list, _ := store.List(ctx); len(list) != 1 || list[0].ID != "dock-1" {
		t.Errorf("after the delete: %+v", list)
	}
}

func TestCorruptCameraValue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := natstest.JetStream(t)
	store, err := OpenCameras(ctx, js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.kv.Put(ctx, "yard", []byte("url: [not, a, url\n")); err != nil {
		t.Fatal(err)
	}
	list, err := store.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %v %+v", err, list)
	}
	if e := list[0]; e.Err == nil || !strings.Contains(e.Err.Error(), "bucket VIGIL_CAMERAS key yard") {
		t.Errorf("corrupt value: %+v", e)
	}
}

// TestCameraValueKeepsControlCharacters: a string with a tab, stored as
// plain YAML, read back without it (found by FuzzCameraValue).
func TestCameraValueKeepsControlCharacters(t *testing.T) {
	c := &Cameras{bucket: DefaultCamerasBucket}
	cam, err := config.ParseCameraAs([]byte(`url: "clips/dock\t1.mp4"`), "put", "dock-1")
	if err != nil {
		t.Fatal(err)
	}
	value, err := encodeCamera(cam)
	if err != nil {
		t.Fatal(err)
	}
	e := c.entry(kvEntry{key: "dock-1", value: value})
	if e.Err != nil || e.Camera.URL != cam.URL {
		t.Fatalf("stored as %s, read back as %+v, %v", value, e.Camera, e.Err)
	}
}
