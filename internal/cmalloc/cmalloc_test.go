package cmalloc

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func rssAnonKiB() (int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, fmt.Errorf("no RssAnon in /proc/self/status")
}

// TestMain runs the tests' children when asked to, each in a fresh process
// so that what one sets in the allocator does not reach the others.
func TestMain(m *testing.M) {
	switch os.Getenv("VIGIL_CMALLOC_CHILD") {
	case "":
		os.Exit(m.Run())
	case "churn": // 16 × 3 MiB freed between blocks that stay, then Trim
		before, err := rssAnonKiB()
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		churn(16, 3<<20)
		kept, _ := rssAnonKiB()
		Trim()
		trimmed, _ := rssAnonKiB()
		fmt.Printf("result %d %d\n", kept-before, trimmed-before)
	}
	os.Exit(0)
}

// child runs the test binary as the child mode and returns the numbers of
// its result line.
func child(t *testing.T, mode string) []int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	// The parent's own tuning must not reach the child.
	cmd.Env = append(withoutKnobs(os.Environ()), "VIGIL_CMALLOC_CHILD="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", mode, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "result "); ok {
			var ns []int
			for _, f := range strings.Fields(v) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("child %s: %q: %v", mode, l, err)
				}
				ns = append(ns, n)
			}
			return ns
		}
	}
	t.Fatalf("child %s printed no result:\n%s", mode, out)
	return nil
}

// withoutKnobs drops the environment's allocator knobs.
func withoutKnobs(env []string) []string {
	out := env[:0]
	for _, kv := range env {
		keep := true
		for _, k := range []string{"MALLOC_ARENA_MAX", "GLIBC_TUNABLES"} {
			if strings.HasPrefix(kv, k+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// TestTrimGivesFreedBlocksBack: 16 blocks of 3 MiB freed between small
// blocks that stay are kept resident by glibc (the first large free
// raised its mmap threshold, so they came from the heap); Trim gives them
// back.
func TestTrimGivesFreedBlocksBack(t *testing.T) {
	r := child(t, "churn")
	kept, trimmed := r[0], r[1]
	t.Logf("anonymous memory kept after 16 × 3 MiB freed: %d KiB; after Trim: %d KiB", kept, trimmed)
	if kept < 16*3<<10/2 {
		t.Fatalf("only %d KiB were kept before Trim: the churn no longer leaves freed blocks in the heap, so this test proves nothing", kept)
	}
	if trimmed > 4<<10 {
		t.Fatalf("after Trim %d KiB are still kept (before: %d KiB): freed blocks inside the heap did not go back", trimmed, kept)
	}
}

// BenchmarkFrameBuffer is what one frame's buffer (768×576 BGR, 1.3 MB)
// costs the C allocator, with the environment's settings: compare
// MALLOC_ARENA_MAX=1 (what package onearena sets), MALLOC_MMAP_THRESHOLD_=131072 and
// glibc's defaults in one run of bench/cmalloc.sh.
func BenchmarkFrameBuffer(b *testing.B) {
	for b.Loop() {
		frame(768 * 576 * 3)
	}
}

// BenchmarkFrameBufferParallel is BenchmarkFrameBuffer on every core at
// once: what sharing one arena costs.
func BenchmarkFrameBufferParallel(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			frame(768 * 576 * 3)
		}
	})
}
