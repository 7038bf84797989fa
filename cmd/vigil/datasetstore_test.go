package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/dataset"
	"github.com/vigil-vision/vigil/examples"
	"github.com/vigil-vision/vigil/internal/natstest"
	"gocv.io/x/gocv"
)

// TestDatasetExportFromStore: examples two nodes put in the fleet's
// bucket (and a folder store's) export as a YOLO set with their
// pre-labels and classes named from them.
func TestDatasetExportFromStore(t *testing.T) {
	img := gocv.NewMatWithSize(60, 80, gocv.MatTypeCV8UC3)
	defer img.Close()
	buf, err := gocv.IMEncode(gocv.JPEGFileExt, img)
	if err != nil {
		t.Fatal(err)
	}
	jpeg := append([]byte(nil), buf.GetBytes()...)
	buf.Close()
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ex := func(camera string, i int, boxes ...dataset.Box) dataset.Example {
		return dataset.Example{ID: camera + "_" + string(rune('a'+i)), Camera: camera, Time: t0.Add(time.Duration(i) * time.Minute),
			JPEG: jpeg, Width: 80, Height: 60, Boxes: boxes, Reason: "random: 1 in 1000 frames"}
	}
	person := dataset.Box{Class: 0, Label: "person", Score: 0.9, X: 8, Y: 6, W: 40, H: 30}
	truck := dataset.Box{Class: 7, Label: "truck", Score: 0.3, X: 0, Y: 0, W: 80, H: 60}
	ctx := context.Background()

	url := natstest.Server(t)
	js1, _ := natstest.Connect(t, url)
	js2, _ := natstest.Connect(t, url)
	dir := t.TempDir()
	stores := []examples.Store{&examples.Folder{Dir: dir}}
	n1, err := examples.OpenNATS(ctx, js1, examples.NATSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n2, err := examples.OpenNATS(ctx, js2, examples.NATSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, put := range []struct {
		s examples.Store
		e dataset.Example
	}{{n1, ex("dock-1", 0, person)}, {n2, ex("dock-2", 1, person, truck)}, {n1, ex("dock-1", 2)}, {stores[0], ex("dock-3", 3, truck)}} {
		if err := put.s.Put(ctx, put.e); err != nil {
			t.Fatal(i, err)
		}
	}
	for _, c := range []struct {
		name   string
		args   []string
		images int
		names  string
	}{
		{"nats", []string{"--nats", url}, 3, "7: truck"},
		{"nats, one camera", []string{"--nats", url, "--camera", "dock-1"}, 2, "0: person"},
		{"dir", []string{"--dir", dir}, 1, "7: truck"},
	} {
		t.Run(c.name, func(t *testing.T) {
			to := filepath.Join(t.TempDir(), "ds")
			var out strings.Builder
			args := append([]string{"dataset", "export", "--from-store", "--to", to, "--split", "0/100"}, c.args...)
			if code := run(args, &out, &out); code != 0 {
				t.Fatalf("exit %d:\n%s", code, out.String())
			}
			imgs, _ := filepath.Glob(filepath.Join(to, "images", "val", "*"))
			if len(imgs) != c.images {
				t.Errorf("%d images, want %d:\n%s", len(imgs), c.images, out.String())
			}
			data, _ := os.ReadFile(filepath.Join(to, "data.yaml"))
			if !strings.Contains(string(data), c.names) {
				t.Errorf("data.yaml lacks %q:\n%s", c.names, data)
			}
			if c.name == "nats" {
				lbl, err := os.ReadFile(filepath.Join(to, "labels", "val", "dock-2_b.txt"))
				if err != nil || strings.Count(string(lbl), "\n") != 2 || !strings.HasPrefix(string(lbl), "0 0.35") {
					t.Errorf("dock-2_b's labels %q, %v", lbl, err)
				}
			}
		})
	}
}
