package cvthreads

import (
	"runtime"
	"testing"
)

func TestSet(t *testing.T) {
	def := Set(0)
	defer Set(0)
	if def < 1 {
		t.Fatalf("OpenCV's default thread count is %d", def)
	}
	if got := Set(1); got != 1 {
		t.Errorf("Set(1) left OpenCV at %d threads", got)
	}
	if got := Get(); got != 1 {
		t.Errorf("Get after Set(1) = %d", got)
	}
	if got := Set(0); got != def {
		t.Errorf("Set(0) gave %d threads; OpenCV's default was %d (GOMAXPROCS %d)", got, def, runtime.GOMAXPROCS(0))
	}
}
