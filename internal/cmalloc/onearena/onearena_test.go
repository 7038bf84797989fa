package onearena

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/internal/cmalloc"
)

// TestMain runs the test's child when asked to: eight threads allocating
// at once, then the arena count.
func TestMain(m *testing.M) {
	if os.Getenv("VIGIL_ONEARENA_CHILD") != "" {
		cmalloc.Threads(8)
		fmt.Printf("arenas %d\nsetting %s\n", cmalloc.ArenaCount(), Setting())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func childArenas(t *testing.T, env ...string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MALLOC_ARENA_MAX=") && !strings.HasPrefix(kv, "GLIBC_TUNABLES=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, "VIGIL_ONEARENA_CHILD=1"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %v: %v\n%s", env, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "arenas "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("child %v: %s", env, strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; "))
			return n
		}
	}
	t.Fatalf("child %v printed no arena count:\n%s", env, out)
	return 0
}

// TestOneArena: eight threads allocating at once share one arena in a
// program that imports the package, and get arenas of their own when the
// environment allows them (MALLOC_ARENA_MAX=16, left alone).
func TestOneArena(t *testing.T) {
	one, many := childArenas(t), childArenas(t, "MALLOC_ARENA_MAX=16")
	if many < 2 {
		t.Fatalf("with MALLOC_ARENA_MAX=16, 8 threads made %d arenas: the environment was not left alone, or this test proves nothing", many)
	}
	if one != 1 {
		t.Fatalf("8 threads made %d arenas, want 1", one)
	}
}
