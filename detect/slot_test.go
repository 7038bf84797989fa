package detect

import (
	"sync"
	"testing"
)

// TestSlotsOverlapGiveDetectResults runs the three steps the way the
// pipeline overlaps them: the next image is letterboxed into one slot while
// the model runs on another, and decoding happens after. Every frame must
// come out exactly as a plain Detect call gives it.
func TestSlotsOverlapGiveDetectResults(t *testing.T) {
	d := newDefault(t)
	imgs := []string{"messi5.jpg", "basketball1.png", "messi5.jpg", "basketball1.png", "messi5.jpg"}
	var want [][]Detection
	for _, name := range imgs {
		dets, _, err := d.Detect(readImage(t, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(dets) == 0 {
			t.Fatalf("%s: no detections", name)
		}
		want = append(want, dets)
	}

	slots, err := d.Slots(3)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := d.Slots(3); again[0] != slots[0] || len(d.slots) != 4 {
		t.Fatalf("a second Slots(3) made new slots: %d in all", len(d.slots))
	}
	type job struct{ frame, slot int }
	free := make(chan int, len(slots))
	for i := range slots {
		free <- i
	}
	prepared := make(chan job)
	inferred := make(chan job, len(imgs))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // letterbox ahead, as far as the free slots allow
		defer wg.Done()
		defer close(prepared)
		for i, name := range imgs {
			s := <-free
			if err := d.Prepare(slots[s], readImage(t, name)); err != nil {
				t.Error(err)
				return
			}
			prepared <- job{i, s}
		}
	}()
	got := make([][]Detection, len(imgs))
	done := make(chan struct{})
	go func() { // decode behind
		defer close(done)
		for j := range inferred {
			i := j.frame
			dets, tm, err := d.Finish(slots[j.slot], nil)
			if err != nil {
				t.Error(err)
				return
			}
			free <- j.slot
			if tm.Preprocess <= 0 || tm.Infer <= 0 || tm.Postprocess <= 0 {
				t.Errorf("frame %d timings %+v", i, tm)
			}
			got[i] = dets
		}
	}()
	for j := range prepared {
		if err := d.Infer(slots[j.slot]); err != nil {
			t.Fatal(err)
		}
		inferred <- j
	}
	close(inferred)
	<-done
	wg.Wait()
	for i := range imgs {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("%s (frame %d): %d detections overlapped, %d plain", imgs[i], i, len(got[i]), len(want[i]))
		}
		for j := range got[i] {
			if got[i][j] != want[i][j] {
				t.Errorf("%s (frame %d) detection %d: %+v overlapped, %+v plain", imgs[i], i, j, got[i][j], want[i][j])
			}
		}
	}
}
