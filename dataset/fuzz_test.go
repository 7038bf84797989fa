package dataset

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-vision/vigil/internal/fuzztest"
)

// FuzzLabels: a YOLO label file, as `vigil model eval` reads a user's
// dataset, gives boxes inside the image with a known class, or an error.
func FuzzLabels(f *testing.F) {
	for _, s := range []string{
		"0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.05 0.05\n",
		"0 0.1 0.1 0.3 0.1 0.3 0.4\n",
		"", "\n\n", "2 0.5 0.5 0.2 0.4", "0 1.5 0.5 0.2 0.2", "0 NaN 0.5 0.2 0.2", "0 0.5 0.5 -0.1 0.2", "x 0 0 0 0",
	} {
		f.Add(s)
	}
	names := []string{"person", "forklift"}
	f.Fuzz(func(t *testing.T, s string) {
		fuzztest.Watchdog(t)
		path := filepath.Join(t.TempDir(), "a.txt")
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		boxes, err := readLabels(path, 640, 480, names)
		if err != nil {
			if boxes != nil {
				t.Fatalf("boxes %v with the error %v", boxes, err)
			}
			return
		}
		for _, b := range boxes {
			for _, v := range []float64{b.X, b.Y, b.W, b.H} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("box %+v from %q: not finite", b, s)
				}
			}
			const tol = 0.01 // px: what the 1e-6 tolerance allows on 640
			if b.X < -tol || b.Y < -tol || b.W < 0 || b.H < 0 || b.X+b.W > 640+tol || b.Y+b.H > 480+tol {
				t.Fatalf("box %+v from %q: outside 640x480", b, s)
			}
			if b.Class < 0 || b.Class >= len(names) || b.Label != names[b.Class] {
				t.Fatalf("box %+v from %q: class", b, s)
			}
		}
	})
}

// FuzzSplit: --split gives a validation fraction in [0, 1], or an error.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"80/20", "4/1", "100/0", "0/100", "0/0", "NaN/1", "Inf/1", "-1/2", "/", "80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSplit(s)
		if err == nil && !(sp.Val >= 0 && sp.Val <= 1) {
			t.Fatalf("ParseSplit(%q) = %v", s, sp.Val)
		}
	})
}
