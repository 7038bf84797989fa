package examples

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/dataset"
	"github.com/vigil-vision/vigil/internal/natstest"
	"gocv.io/x/gocv"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func example(camera string, i int, size int) dataset.Example {
	return dataset.Example{
		ID: fmt.Sprintf("%s_%d", camera, i), Camera: camera, Time: t0.Add(time.Duration(i) * time.Second),
		JPEG: make([]byte, size), Width: 640, Height: 480,
		Boxes:  []dataset.Box{{Class: 0, Label: "person", Score: 0.27, X: 1, Y: 2, W: 3, H: 4}},
		Reason: "close_to_threshold: person 0.27 (threshold 0.25 ± 0.05)",
	}
}

func ids(t *testing.T, s dataset.Source, f dataset.Filter) []string {
	t.Helper()
	var out []string
	for e, err := range s.Examples(context.Background(), f) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.ID)
	}
	return out
}

// TestFleetGathersInOneBucket: two nodes, each on its own connection,
// put their cameras' examples; either reads them all back.
func TestFleetGathersInOneBucket(t *testing.T) {
	ctx := context.Background()
	url := natstest.Server(t)
	js1, _ := natstest.Connect(t, url)
	js2, _ := natstest.Connect(t, url)
	n1, err := OpenNATS(ctx, js1, NATSOptions{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	n2, err := OpenNATS(ctx, js2, NATSOptions{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	want := example("dock-1", 1, 100)
	want.JPEG[0] = 0xff
	if err := n1.Put(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := n2.Put(ctx, example("dock-2", 2, 100)); err != nil {
		t.Fatal(err)
	}
	if err := n1.Put(ctx, example("dock-1", 3, 100)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*NATS{n1, n2} {
		if got := ids(t, s, dataset.Filter{}); !slices.Equal(got, []string{"dock-1_1", "dock-2_2", "dock-1_3"}) {
			t.Errorf("examples %v", got)
		}
	}
	if got := ids(t, n2, dataset.Filter{Camera: "dock-1", Since: t0.Add(2 * time.Second)}); !slices.Equal(got, []string{"dock-1_3"}) {
		t.Errorf("filtered: %v", got)
	}
	for e, err := range n2.Examples(ctx, dataset.Filter{Camera: "dock-1"}) {
		if err != nil {
			t.Fatal(err)
		}
		want.Time = want.Time.UTC()
		if e.ID == want.ID && fmt.Sprint(e) != fmt.Sprint(want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", e, want)
		}
	}
}

func TestNATSBoundByBytes(t *testing.T) {
	ctx := context.Background()
	s, err := OpenNATS(ctx, natstest.JetStream(t), NATSOptions{MaxBytes: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if err := s.Put(ctx, example("a", i, 3000)); err != nil {
			t.Fatal(err)
		}
	}
	if got := ids(t, s, dataset.Filter{}); !slices.Equal(got, []string{"a_5", "a_6", "a_7"}) {
		t.Errorf("examples %v, want the newest three (3 × 3000 bytes fit in 10000)", got)
	}
}

func TestFolderRoundTripAndBounds(t *testing.T) {
	ctx := context.Background()
	now := t0
	f := &Folder{Dir: t.TempDir(), MaxBytes: 3 * 1500, MaxAge: 10 * time.Second, Now: func() time.Time { return now }}
	want := example("b", 1, 1000)
	for _, e := range []dataset.Example{example("a", 0, 1000), want} {
		if err := f.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for e, err := range f.Examples(ctx, dataset.Filter{Camera: "b"}) {
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(e) != fmt.Sprint(want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", e, want)
		}
	}
	// Bytes: each example is 1000 bytes of JPEG and a few hundred of JSON.
	for i := 2; i < 6; i++ {
		if err := f.Put(ctx, example("a", i, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if got := ids(t, f, dataset.Filter{}); !slices.Equal(got, []string{"a_3", "a_4", "a_5"}) {
		t.Errorf("by bytes: %v, want the newest three", got)
	}
	// Age: a_3 (t0+3s) and a_4 are past 10s at t0+14.5s.
	now = t0.Add(14500 * time.Millisecond)
	if err := f.Put(ctx, example("a", 6, 10)); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, f, dataset.Filter{}); !slices.Equal(got, []string{"a_5", "a_6"}) {
		t.Errorf("by age: %v", got)
	}
}

// TestCaptureStoresJPEG offers frames of a real picture: the first is
// stored as a JPEG of the frame with its boxes and reason, the same scene
// again is a duplicate, and the metrics count both.
func TestCaptureStoresJPEG(t *testing.T) {
	img := gocv.NewMatWithSize(120, 160, gocv.MatTypeCV8UC3)
	defer img.Close()
	gocv.Rectangle(&img, image.Rect(20, 20, 80, 100), color.RGBA{255, 255, 255, 0}, -1)
	other := gocv.NewMatWithSize(120, 160, gocv.MatTypeCV8UC3)
	defer other.Close()
	gocv.Rectangle(&other, image.Rect(90, 10, 150, 60), color.RGBA{255, 255, 255, 0}, -1)

	reg := prometheus.NewRegistry()
	store := &Folder{Dir: t.TempDir()}
	c := &Capture{Store: store, Sampler: &Sampler{MaxDistance: 4}, Quality: 80, Node: "n1", Registerer: reg, Logger: zerolog.Nop()}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	s := Strategies{Classes: []string{"person"}}
	frame := func(i int) *Frame {
		return &Frame{Camera: "a", Time: t0.Add(time.Duration(i) * time.Second), Width: 160, Height: 120,
			Detections: []dataset.Box{box("person", 0, 0.9, 20, 20)}}
	}
	if why := c.Offer(s, frame(0), img); len(why) != 1 {
		t.Fatalf("first frame not taken: %q", why)
	}
	if why := c.Offer(s, frame(1), img); why != nil {
		t.Errorf("the same picture taken again: %q", why)
	}
	if why := c.Offer(s, frame(2), other); why == nil {
		t.Error("a different picture not taken")
	}
	c.Close()
	var n int
	for e, err := range store.Examples(context.Background(), dataset.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		m, err := gocv.IMDecode(e.JPEG, gocv.IMReadColor)
		if err != nil || m.Cols() != 160 || m.Rows() != 120 {
			t.Errorf("%s: JPEG %dx%d, %v", e.ID, m.Cols(), m.Rows(), err)
		}
		m.Close()
		if e.Reason != "classes: person" || len(e.Boxes) != 1 || e.Width != 160 {
			t.Errorf("%s: %+v", e.ID, e)
		}
	}
	if n != 2 {
		t.Errorf("%d examples stored, want 2", n)
	}
	if v := testutil.ToFloat64(c.taken.WithLabelValues("a", "classes")); v != 2 {
		t.Errorf("taken %g, want 2", v)
	}
	if v := testutil.ToFloat64(c.skipped.WithLabelValues("a", SkipDuplicate)); v != 1 {
		t.Errorf("skipped as duplicates %g, want 1", v)
	}
}
