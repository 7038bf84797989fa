package cmalloc

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// rssAnonKiB is the process's anonymous resident memory.
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

// TestMain runs the churn child of TestFixGivesFreedBlocksBack when asked
// to: the churn with or without Fix, printing the anonymous memory kept.
func TestMain(m *testing.M) {
	if mode := os.Getenv("VIGIL_CMALLOC_CHILD"); mode != "" {
		if mode == "fix" {
			if got := Fix(); got != "mmap threshold 131072" {
				fmt.Println("Fix() =", got)
				os.Exit(1)
			}
		}
		before, err := rssAnonKiB()
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		churn(16, 3<<20)
		after, _ := rssAnonKiB()
		fmt.Printf("kept-kib %d\n", after-before)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func childKept(t *testing.T, mode string, env ...string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), "VIGIL_CMALLOC_CHILD="+mode), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child (%s): %v\n%s", mode, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "kept-kib "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("child (%s) printed no kept-kib line:\n%s", mode, out)
	return 0
}

// TestFixGivesFreedBlocksBack: 16 blocks of 3 MiB freed between small
// blocks that stay. With glibc's defaults the first free raises the mmap
// threshold, the 3 MiB blocks come from the heap and about 48 MiB stay
// resident; after Fix they are mmapped and go back when freed.
func TestFixGivesFreedBlocksBack(t *testing.T) {
	for _, k := range envKnobs {
		t.Setenv(k, "") // the parent's own tuning must not reach the children
		os.Unsetenv(k)
	}
	def := childKept(t, "default")
	fixed := childKept(t, "fix")
	t.Logf("anonymous memory kept after 16 × 3 MiB freed: defaults %d KiB, Fix %d KiB", def, fixed)
	if def < 16*3<<10/2 {
		t.Fatalf("with glibc's defaults only %d KiB were kept: the churn no longer shows the dynamic threshold, so this test proves nothing", def)
	}
	if fixed > 4<<10 {
		t.Fatalf("after Fix the churn kept %d KiB (defaults: %d KiB): freed large blocks are not given back", fixed, def)
	}
}

func TestFixLeavesTheEnvironmentsChoice(t *testing.T) {
	t.Setenv("MALLOC_MMAP_THRESHOLD_", "65536")
	if got := Fix(); got != "left to the environment (MALLOC_MMAP_THRESHOLD_)" {
		t.Fatalf("Fix() with MALLOC_MMAP_THRESHOLD_ set = %q", got)
	}
}
