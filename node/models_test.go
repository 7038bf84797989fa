package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/model"
	"github.com/vigil-vision/vigil/modelstore"
)

// TestStoreModelsSwappedLive: a lossless run whose detector comes to name a
// store model, which then gets a new version promoted (INT8) and rolled
// back (FP32): each change swaps the model between two frames. Every frame
// is published once, in order, and says which version made it; tracks keep
// their ids across the swaps.
func TestStoreModelsSwappedLive(t *testing.T) {
	q, err := int8Model()
	if err != nil {
		t.Fatal(err)
	}
	const frames = 150
	tn := startNode(t, header(t)+fmt.Sprintf("pipeline: {max_frames: %d}\ncameras:\n  - {id: walkway, url: %s, realtime: false, loop: false}\n", frames, assets.Media("vtest.avi")))
	waitUntil(t, "the first frames", func() bool { return tn.count("walkway") >= 10 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	store := tn.storeWithDet(ctx)
	// The detector names the store model: its promoted version, 1.
	rep, err := tn.Change("test", func(cur *config.Config) (*config.Config, error) {
		next := *cur
		next.Model.Store = "det"
		return &next, nil
	})
	if err != nil || len(rep.Detectors.Swapped) != 1 || rep.Detectors.Swapped[0] != "default=det@1" {
		t.Fatalf("change to the store model: %v %+v", err, rep)
	}
	seen := func(model string, after int) bool {
		msgs := tn.messages("walkway")
		for _, m := range msgs[min(after, len(msgs)):] {
			if m.Model == model {
				return true
			}
		}
		return false
	}
	waitUntil(t, "det@1's frames", func() bool { return seen("det@1", 0) })

	// A new version pushed is not run until promoted.
	if v, err := store.Push(ctx, "det", q); err != nil || v.Version != 2 {
		t.Fatalf("push the INT8 copy: %+v %v", v, err)
	}
	n := tn.count("walkway")
	time.Sleep(time.Second)
	if seen("det@2", 0) {
		t.Fatal("det@2 ran before it was promoted")
	}
	if err := store.Promote(ctx, "det", 2); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "det@2 swapped in", func() bool { return seen("det@2", n) })
	n = tn.count("walkway")
	if v, err := store.Rollback(ctx, "det"); err != nil || v != 1 {
		t.Fatalf("rollback: %d %v", v, err)
	}
	waitUntil(t, "det@1 back", func() bool { return seen("det@1", n) })
	waitUntil(t, "every frame", func() bool { return tn.count("walkway") >= frames })
	tn.stop()

	msgs := tn.messages("walkway")
	if len(msgs) != frames || msgs[0].Seq != 1 {
		t.Fatalf("%d messages from seq %d", len(msgs), msgs[0].Seq)
	}
	contiguous(t, msgs)
	// The models in order, each a run of frames: file, det@1, det@2, det@1.
	var runs []string
	ids := map[string]map[uint64]bool{}
	for _, m := range msgs {
		if len(runs) == 0 || runs[len(runs)-1] != m.Model {
			runs = append(runs, m.Model)
		}
		key := fmt.Sprint(len(runs))
		if ids[key] == nil {
			ids[key] = map[uint64]bool{}
		}
		for _, o := range m.Objects {
			ids[key][o.TrackID] = true
		}
	}
	if len(runs) != 4 || !strings.HasPrefix(runs[0], "yolov8n.onnx@") || runs[1] != "det@1" || runs[2] != "det@2" || runs[3] != "det@1" {
		t.Fatalf("models in order: %v", runs)
	}
	// People walk through the whole clip: some track seen before a swap is
	// still seen, under the same id, after it.
	for i := 2; i <= 4; i++ {
		kept := false
		for id := range ids[fmt.Sprint(i)] {
			kept = kept || ids[fmt.Sprint(i-1)][id]
		}
		if !kept {
			t.Errorf("no track id of the run before swap %d (%s) in the run after it", i-1, runs[i-1])
		}
	}
}

// TestStorePromotionRefusedKeepsTheRunningModel: a promoted version whose
// classes lack one a rule names is refused; the running version goes on,
// and the refusal is in the log and the config status.
func TestStorePromotionRefusedKeepsTheRunningModel(t *testing.T) {
	m, err := model.Load(assets.Model())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.MetadataProps {
		if p.Key == "names" {
			p.Value = strings.Replace(p.Value, "'person'", "'worker'", 1)
		}
	}
	renamed := filepath.Join(t.TempDir(), "workers.onnx")
	if err := model.Save(m, renamed); err != nil {
		t.Fatal(err)
	}
	tn := startNode(t, header(t)+"cameras:\n  - {id: gate, url: testsrc, fps: 5, width: 320, height: 240,\n"+
		"     rules: [{name: door, type: zone, points: [[0, 0], [100, 0], [100, 100]], classes: [person]}]}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	store := tn.storeWithDet(ctx)
	if _, err := tn.Change("test", func(cur *config.Config) (*config.Config, error) {
		next := *cur
		next.Model.Store = "det"
		return &next, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Push(ctx, "det", renamed); err != nil {
		t.Fatal(err)
	}
	if err := store.Promote(ctx, "det", 2); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the refusal logged", func() bool {
		return len(tn.log.lines("model store: the promoted version was refused; the running one goes on")) > 0
	})
	var st ConfigStatus
	tn.call("GET", "/api/config/status", "", &st)
	if st.LastReload == nil || st.LastReload.Outcome != "failed" || !strings.Contains(st.LastReload.Error, `"person"`) {
		t.Errorf("config status %+v", st.LastReload)
	}
	n := tn.count("gate")
	waitUntil(t, "frames after the refusal", func() bool { return tn.count("gate") > n+5 })
	for _, m := range tn.messages("gate")[n:] {
		if m.Model != "det@1" {
			t.Fatalf("seq %d made by %q after det@2 was refused", m.Seq, m.Model)
		}
	}
}

// storeWithDet opens the node's NATS model store and pushes the default
// model as "det", its version 1.
func (tn *testNode) storeWithDet(ctx context.Context) modelstore.Store {
	tn.t.Helper()
	js, err := jetstream.New(tn.nc)
	if err != nil {
		tn.t.Fatal(err)
	}
	store, err := modelstore.OpenNATS(ctx, js, modelstore.Options{TempDir: tn.t.TempDir()})
	if err != nil {
		tn.t.Fatal(err)
	}
	if _, err := store.Push(ctx, "det", assets.Model()); err != nil {
		tn.t.Fatal(err)
	}
	return store
}
