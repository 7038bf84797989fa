// Package vigilbin builds the vigil binary for benchmarks that run it as
// processes of its own.
package vigilbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build builds ./cmd/vigil (run from the module root) into dir as "vigil",
// with the build tags given, and returns its path. The go command's
// output goes to stderr, after a line naming the bench and the command.
func Build(bench, dir string, tags ...string) (string, error) {
	bin := filepath.Join(dir, "vigil")
	var flags []string
	if len(tags) > 0 {
		flags = []string{"-tags", strings.Join(tags, ",")}
	}
	what := strings.Join(append(append([]string{"go", "build"}, flags...), "./cmd/vigil"), " ")
	fmt.Fprintf(os.Stderr, "%s: %s\n", bench, what)
	build := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bin, "./cmd/vigil")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return bin, nil
}
