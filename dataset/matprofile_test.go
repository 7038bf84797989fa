//go:build matprofile

package dataset

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"
)

// TestNoMatLeft pre-labels a folder (a JPEG, a PNG re-encoded, a broken
// file), exports it and evaluates on it, then counts the Mats still open.
// Run with -tags matprofile.
func TestNoMatLeft(t *testing.T) {
	det := detector(t)
	before := gocv.MatProfile.Count()
	dir := imagesFolder(t)
	out := t.TempDir()
	if _, err := WriteYOLO(out, Folder{Dir: dir, Detector: det}.Examples(context.Background(), Filter{}), det.Labels(), Split{Val: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := Eval(context.Background(), det, out, ""); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "broken.jpg"), []byte("not an image"), 0o644)
	os.WriteFile(filepath.Join(out, "images", "val", "broken.jpg"), []byte("not an image"), 0o644)
	for range (Folder{Dir: dir, Detector: det}).Examples(context.Background(), Filter{}) {
	}
	if _, err := Eval(context.Background(), det, out, ""); err == nil {
		t.Error("a broken image was evaluated")
	}
	if n := gocv.MatProfile.Count() - before; n != 0 {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Errorf("%d Mats left open:\n%s", n, b.String())
	}
}
