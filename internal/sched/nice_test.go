package sched

import (
	"runtime"
	"testing"
)

func TestLowerIsPerGoroutine(t *testing.T) {
	base, err := Nice()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		nice int
		err  error
	}
	got := make(chan result)
	go func() {
		if err := Lower(5); err != nil {
			got <- result{err: err}
			return
		}
		n, err := Nice()
		got <- result{n, err}
	}()
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	if runtime.GOOS == "linux" && r.nice != base+5 {
		t.Errorf("lowered goroutine runs at nice %d, want %d", r.nice, base+5)
	}
	// The lowered goroutine's thread ended with it: every other goroutine,
	// on any thread, still runs at the old priority.
	for range 50 {
		done := make(chan int)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			n, _ := Nice()
			done <- n
		}()
		if n := <-done; n != base {
			t.Fatalf("another goroutine runs at nice %d after a lowered one ended, want %d", n, base)
		}
	}
	if err := Lower(0); err != nil {
		t.Errorf("Lower(0): %v", err)
	}
}
