package evidence

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/internal/natstest"
	"github.com/vigil-vision/vigil/rules"
	"gocv.io/x/gocv"
)

func startServer(t *testing.T, port int, store string) *server.Server {
	return natstest.StartAt(t, "evidence-test", port, store)
}

func freePort(t *testing.T) int { return natstest.FreePort(t) }

func connect(t *testing.T, port int) *nats.Conn {
	return natstest.Reconnecting(t, "nats://127.0.0.1:"+strconv.Itoa(port))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a hang guard, not a timing assertion
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventsStream makes the events stream as package alerts does: events and
// evidence records.
func eventsStream(t *testing.T, nc *nats.Conn) {
	t.Helper()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: alerts.DefaultStream,
		Subjects: []string{alerts.EventsFilter("vigil"), alerts.EvidenceFilter("vigil")}, Duplicates: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
}

// records reads every evidence record in the events stream.
func records(t *testing.T, nc *nats.Conn) []Record {
	t.Helper()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, alerts.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{alerts.EvidenceFilter("vigil")}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for range info.State.Msgs {
		batch, err := c.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var r Record
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				t.Fatalf("record %q: %v", m.Data(), err)
			}
			out = append(out, r)
		}
		if n == 0 {
			break
		}
	}
	return out
}

// videoFrame is the sample video's first frame.
func videoFrame(t testing.TB) gocv.Mat { return sampleFrame(t, 0) }

// noiseFrame is a frame whose JPEG is large: random pixels.
func noiseFrame(t *testing.T, w, h int) gocv.Mat {
	t.Helper()
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	gocv.RandU(&m, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 255, 255, 0))
	t.Cleanup(func() { m.Close() })
	return m
}

func event(camera string, n int) alerts.Message {
	return alerts.Message{Schema: alerts.EventSchema, ID: "ev-" + strconv.Itoa(n), Camera: camera, Rule: "door",
		Kind: rules.KindLine, Type: rules.TypeLineCross, TrackID: uint64(n), Label: "person",
		Time: time.Now().UTC(), Seq: uint64(n)}
}

func request(camera string, n int) Request {
	return Request{Event: event(camera, n), Shot: &Shot{Box: image.Rect(100, 100, 160, 260), Label: "person 1"}}
}

func newRecorder(t *testing.T, nc *nats.Conn, o Options) (*Recorder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Conn, o.Registerer, o.Logger = nc, reg, zerolog.Nop()
	if o.SpoolDir == "" {
		o.SpoolDir = t.TempDir()
	}
	o.RetryMax = 200 * time.Millisecond
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(func() { r.Close(0) })
	return r, reg
}

func decode(t *testing.T, b []byte) gocv.Mat {
	t.Helper()
	m, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil || m.Empty() {
		t.Fatalf("not a JPEG: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// red says whether the pixel at p is the highlight's red, as a JPEG
// keeps it on a line a few pixels wide: far more red than green or blue.
func red(m gocv.Mat, p image.Point) bool {
	v := m.GetVecbAt(p.Y, p.X) // BGR
	return v[2] > 160 && int(v[2])-int(max(v[0], v[1])) > 110
}

// near says whether the BGR pixel at p is within tol of c on each channel.
func near(m gocv.Mat, p image.Point, r, g, b, tol int) bool {
	v := m.GetVecbAt(p.Y, p.X)
	d := func(a uint8, b int) bool { return int(a)-b <= tol && b-int(a) <= tol }
	return d(v[0], b) && d(v[1], g) && d(v[2], r)
}

func TestRenderHighlightsTheObjectAndCropsIt(t *testing.T) {
	frame := videoFrame(t)
	box := image.Rect(200, 150, 260, 330)
	overlay := false
	snap, thumb, err := Render(frame, Shot{Box: box, Label: "door: person 7",
		Others:  []Object{{Box: image.Rect(500, 100, 550, 250), Class: 0, Label: "person 3"}},
		Overlay: func(*gocv.Mat) { overlay = true }, Caption: "door line_cross"}, 90, 160)
	if err != nil {
		t.Fatal(err)
	}
	if !overlay {
		t.Error("the overlay was not drawn")
	}
	s := decode(t, snap)
	if s.Cols() != frame.Cols() || s.Rows() != frame.Rows() {
		t.Fatalf("snapshot %dx%d, frame %dx%d", s.Cols(), s.Rows(), frame.Cols(), frame.Rows())
	}
	// The box's edges are drawn in the highlight colour, where the
	// frame has none of it.
	edges := []image.Point{{box.Min.X + box.Dx()/2, box.Min.Y}, {box.Max.X, box.Min.Y + box.Dy()/2},
		{box.Min.X + box.Dx()/2, box.Max.Y}, {box.Min.X, box.Min.Y + box.Dy()/2}}
	for _, p := range edges {
		if !red(s, p) {
			t.Errorf("snapshot at %v is %v, not the highlight", p, s.GetVecbAt(p.Y, p.X))
		}
		if red(frame, p) {
			t.Fatalf("the frame itself is highlight-red at %v: pick another box", p)
		}
	}
	// Inside the box, the picture is the frame's.
	c := image.Pt(box.Min.X+box.Dx()/2, box.Min.Y+box.Dy()/2)
	fv := frame.GetVecbAt(c.Y, c.X)
	if !near(s, c, int(fv[2]), int(fv[1]), int(fv[0]), 30) {
		t.Errorf("inside the box the snapshot is %v, the frame %v", s.GetVecbAt(c.Y, c.X), fv)
	}

	th := decode(t, thumb)
	// The crop is the box and a quarter of it around: 90x270 → 53x160.
	if th.Rows() != 160 || th.Cols() < 50 || th.Cols() > 56 {
		t.Errorf("thumbnail %dx%d, want about 53x160", th.Cols(), th.Rows())
	}
	// A thumbnail is cut from the clean frame: no highlight in it.
	reds := 0
	for y := 0; y < th.Rows(); y++ {
		for x := 0; x < th.Cols(); x++ {
			if red(th, image.Pt(x, y)) {
				reds++
			}
		}
	}
	if reds > th.Rows()*th.Cols()/100 {
		t.Errorf("%d highlight pixels in the thumbnail", reds)
	}

	// Without an object: no highlight, and the thumbnail is the frame.
	snap, thumb, err = Render(frame, Shot{}, 90, 160)
	if err != nil {
		t.Fatal(err)
	}
	th = decode(t, thumb)
	if th.Cols() != 160 || th.Rows() != 160*frame.Rows()/frame.Cols() {
		t.Errorf("thumbnail of the frame %dx%d", th.Cols(), th.Rows())
	}
	if len(snap) == 0 {
		t.Error("no snapshot")
	}
	if _, _, err := Render(gocv.NewMat(), Shot{}, 90, 160); err == nil {
		t.Error("an empty frame rendered")
	}
}

func TestOutageLosesNothingAndStoresNothingTwice(t *testing.T) {
	port, store := freePort(t), t.TempDir()
	srv := startServer(t, port, store)
	nc := connect(t, port)
	eventsStream(t, nc)
	r, reg := newRecorder(t, nc, Options{})
	frame := videoFrame(t)

	n := 0
	capture := func(k int) {
		for range k {
			n++
			r.Capture(frame, []Request{request("cam", n)})
		}
	}
	stored := func() int { return int(testutil.ToFloat64(r.stored.WithLabelValues("cam"))) }
	capture(5)
	waitFor(t, "the first events stored", func() bool { return stored() == 5 })

	srv.Shutdown() // NATS goes away while events happen
	srv.WaitForShutdown()
	capture(10)
	waitFor(t, "the events spooled", func() bool { return r.Spool().Len() == 10 })
	if stored() != 5 {
		t.Fatalf("%d stored while NATS was away", stored())
	}
	startServer(t, port, store)
	capture(3)
	waitFor(t, "the spool to empty", func() bool { return r.Spool().Len() == 0 && stored() == n })

	recs := records(t, nc)
	seen := map[string]bool{}
	for _, rec := range recs {
		if seen[rec.Event.ID] {
			t.Errorf("record of %s twice", rec.Event.ID)
		}
		seen[rec.Event.ID] = true
		if rec.Schema != RecordSchema || rec.Snapshot != SnapshotName("cam", rec.Event.ID) || rec.Box == nil {
			t.Errorf("record %+v", rec)
		}
	}
	b := r.Bucket()
	for i := 1; i <= n; i++ {
		id := "ev-" + strconv.Itoa(i)
		if !seen[id] {
			t.Errorf("no record of %s", id)
		}
		snap, err := b.Get(context.Background(), SnapshotName("cam", id))
		if err != nil {
			t.Fatalf("snapshot of %s: %v", id, err)
		}
		if m := decode(t, snap); m.Cols() != frame.Cols() {
			t.Errorf("snapshot of %s is %d wide", id, m.Cols())
		}
		if _, err := b.Get(context.Background(), ThumbnailName("cam", id)); err != nil {
			t.Errorf("thumbnail of %s: %v", id, err)
		}
	}
	if got := testutil.ToFloat64(r.dropped.WithLabelValues("spool_full")); got != 0 {
		t.Errorf("%v dropped", got)
	}
	if _, err := reg.Gather(); err != nil {
		t.Error(err)
	}
}

func TestARestartResumesTheUploads(t *testing.T) {
	port, spool := freePort(t), t.TempDir()
	nc := connect(t, port) // nothing listens yet
	r, _ := newRecorder(t, nc, Options{SpoolDir: spool})
	frame := videoFrame(t)
	for i := 1; i <= 4; i++ {
		r.Capture(frame, []Request{request("cam", i)})
	}
	waitFor(t, "the events spooled", func() bool { return r.Spool().Len() == 4 })
	r.Close(0)
	// A half-written event (a crash while writing) is cleared on open.
	if err := os.Mkdir(filepath.Join(spool, tmpPrefix+"00000000000000000099-ev-x"), 0o750); err != nil {
		t.Fatal(err)
	}

	startServer(t, port, t.TempDir())
	eventsStream(t, nc)
	r2, _ := newRecorder(t, nc, Options{SpoolDir: spool})
	waitFor(t, "the spool to empty", func() bool { return r2.Spool().Len() == 0 })
	if got := testutil.ToFloat64(r2.stored.WithLabelValues("cam")); got != 4 {
		t.Errorf("%v stored after the restart, want 4", got)
	}
	recs := records(t, nc)
	if len(recs) != 4 || recs[0].Event.ID != "ev-1" || recs[3].Event.ID != "ev-4" {
		t.Errorf("records out of order or missing: %d", len(recs))
	}
	des, _ := os.ReadDir(spool)
	if len(des) != 0 {
		t.Errorf("%d left in the spool folder", len(des))
	}
}

func TestTheBucketKeepsItsBudgetOldestOut(t *testing.T) {
	port := freePort(t)
	startServer(t, port, t.TempDir())
	nc := connect(t, port)
	eventsStream(t, nc)
	const budget = 2 << 20
	r, _ := newRecorder(t, nc, Options{Bucket: BucketOptions{MaxBytes: budget}, Quality: 90})
	frame := noiseFrame(t, 640, 480) // about 200 KB a snapshot
	const events = 30
	for i := 1; i <= events; i++ {
		r.Capture(frame, []Request{request("cam", i)})
		waitFor(t, "the event stored", func() bool { return testutil.ToFloat64(r.stored.WithLabelValues("cam")) == float64(i) })
	}
	pruned := testutil.ToFloat64(r.pruned.WithLabelValues(DefaultBucket))
	if pruned == 0 {
		t.Fatal("nothing pruned from a bucket past its budget")
	}
	b := r.Bucket()
	ctx := context.Background()
	st, err := b.b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > budget {
		t.Errorf("bucket holds %d bytes, budget %d", st.Size(), budget)
	}
	// The newest are there, the oldest went first.
	if _, err := b.Get(ctx, SnapshotName("cam", "ev-"+strconv.Itoa(events))); err != nil {
		t.Errorf("newest: %v", err)
	}
	if _, err := b.Get(ctx, SnapshotName("cam", "ev-1")); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Errorf("oldest still there: %v", err)
	}
	kept := 0
	for i := 1; i <= events; i++ {
		if _, err := b.Get(ctx, SnapshotName("cam", "ev-"+strconv.Itoa(i))); err == nil {
			kept++
		}
	}
	if kept+int(pruned) != events {
		t.Errorf("%d kept and %v pruned of %d", kept, pruned, events)
	}
}

func TestTheSpoolDropsTheOldestBeyondItsBound(t *testing.T) {
	s, err := OpenSpool(t.TempDir(), 3000)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		it := &Item{Record: Record{Event: event("cam", i)}, Snapshot: make([]byte, 1000)}
		dropped, err := s.Add(it)
		if err != nil {
			t.Fatal(err)
		}
		// About 1.5 KB each (the record and 1000 bytes): two fit.
		if want := max(0, min(1, i-2)); dropped != want {
			t.Errorf("add %d dropped %d, want %d", i, dropped, want)
		}
	}
	it, _, ok, err := s.Head()
	if err != nil || !ok || it.Record.Event.ID != "ev-4" || len(it.Snapshot) != 1000 {
		t.Fatalf("head %+v %v %v", it, ok, err)
	}
	if _, err := s.Add(&Item{Record: Record{Event: event("cam", 0)}}); err != nil {
		t.Fatal(err)
	}
	bad := &Item{Record: Record{Event: alerts.Message{ID: "../x"}}}
	if _, err := s.Add(bad); err == nil {
		t.Error("an id with a slash was spooled")
	}
}
