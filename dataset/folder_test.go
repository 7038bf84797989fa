package dataset

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
)

func detector(t testing.TB) *detect.Detector {
	t.Helper()
	if err := detect.InitRuntime(assets.Library()); err != nil {
		t.Fatal(err)
	}
	d, err := detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// imagesFolder holds messi5.jpg at the top (no camera) and
// basketball1.png under court/ (camera "court").
func imagesFolder(t testing.TB) string {
	dir := t.TempDir()
	copyFile(t, assets.Media("messi5.jpg"), filepath.Join(dir, "messi5.jpg"))
	copyFile(t, assets.Media("basketball1.png"), filepath.Join(dir, "court", "basketball1.png"))
	return dir
}

func collect(t *testing.T, src Source, f Filter) []Example {
	t.Helper()
	var out []Example
	for e, err := range src.Examples(context.Background(), f) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestFolder(t *testing.T) {
	dir := imagesFolder(t)
	src := Folder{Dir: dir, Reason: "pre-labelled"}
	ex := collect(t, src, Filter{})
	if len(ex) != 2 || ex[0].ID != "court_basketball1" || ex[0].Camera != "court" || ex[1].ID != "messi5" || ex[1].Camera != "" {
		t.Fatalf("%+v", ex)
	}
	orig, _ := os.ReadFile(filepath.Join(dir, "messi5.jpg"))
	if !bytes.Equal(ex[1].JPEG, orig) || ex[1].Width != 548 || ex[1].Height != 342 {
		t.Errorf("a JPEG is exported as it is: %d bytes, %dx%d", len(ex[1].JPEG), ex[1].Width, ex[1].Height)
	}
	if !bytes.HasPrefix(ex[0].JPEG, []byte{0xff, 0xd8, 0xff}) || ex[0].Reason != "pre-labelled" || len(ex[0].Boxes) != 0 {
		t.Errorf("the PNG as a JPEG, without a detector no boxes: %+v", ex[0].Boxes)
	}
	if ex := collect(t, src, Filter{Camera: "court"}); len(ex) != 1 || ex[0].ID != "court_basketball1" {
		t.Errorf("camera court: %d examples", len(ex))
	}
	if ex := collect(t, src, Filter{Since: time.Now().Add(time.Hour)}); len(ex) != 0 {
		t.Errorf("since an hour ahead: %d examples", len(ex))
	}
	copyFile(t, filepath.Join(dir, "messi5.jpg"), filepath.Join(dir, "messi5.png"))
	if ex := collect(t, src, Filter{}); len(ex) != 3 || ex[1].ID != "messi5.jpg" || ex[2].ID != "messi5.png" {
		t.Errorf("two files with one stem keep their extensions: %+v", ex)
	}
	for _, c := range []struct{ name, dir, want string }{
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"no images", t.TempDir(), "no images"},
	} {
		for _, err := range (Folder{Dir: c.dir}).Examples(context.Background(), Filter{}) {
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %v, want %q", c.name, err, c.want)
			}
		}
	}
	os.WriteFile(filepath.Join(dir, "broken.jpg"), []byte("not an image"), 0o644)
	var last error
	for _, err := range src.Examples(context.Background(), Filter{}) {
		last = err
	}
	if last == nil || !strings.Contains(last.Error(), "broken.jpg") {
		t.Errorf("a broken image: %v", last)
	}
}

// TestEvalOwnPredictions pre-labels images with the model, exports them
// in the YOLO layout, and evaluates the same model on them: every
// prediction matches its own label (the labels went through 6 decimals),
// so AP is 1 at every IoU threshold.
func TestEvalOwnPredictions(t *testing.T) {
	det := detector(t)
	out := t.TempDir()
	w, err := WriteYOLO(out, Folder{Dir: imagesFolder(t), Detector: det}.Examples(context.Background(), Filter{}), det.Labels(), Split{Val: 1})
	if err != nil {
		t.Fatal(err)
	}
	if w.Val != 2 || w.Boxes < 4 {
		t.Fatalf("written %+v", w)
	}
	ev, err := Eval(context.Background(), det, out, "")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Images != 2 || ev.MAP50 != 1 || ev.MAP50_95 != 1 || ev.All.Precision != 1 || ev.All.Recall != 1 || ev.All.Truth != w.Boxes || ev.LeftOut != 0 {
		t.Errorf("the model against its own labels: %+v", ev)
	}
	if _, err := Eval(context.Background(), det, out, "train"); err == nil || !strings.Contains(err.Error(), "the train split has no images") {
		t.Errorf("empty split: %v", err)
	}
	os.WriteFile(filepath.Join(out, "data.yaml"), []byte("val: images/val\nnames: {0: forklift}\n"), 0o644)
	if _, err := Eval(context.Background(), det, out, ""); err == nil || !strings.Contains(err.Error(), "share no name") {
		t.Errorf("other classes: %v", err)
	}
	if _, err := Eval(context.Background(), det, t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "data.yaml") {
		t.Errorf("no data.yaml: %v", err)
	}
}

func TestHasEXIF(t *testing.T) {
	seg := func(marker byte, body string) []byte {
		n := len(body) + 2
		return append([]byte{0xff, marker, byte(n >> 8), byte(n)}, body...)
	}
	soi := []byte{0xff, 0xd8}
	jfif := append(append(soi, seg(0xe0, "JFIF\x00\x01\x01")...), seg(0xda, "")...)
	exif := append(append(append(soi, seg(0xe0, "JFIF\x00")...), seg(0xe1, "Exif\x00\x00MM\x00*")...), seg(0xda, "")...)
	afterScan := append(append(soi, seg(0xda, "")...), seg(0xe1, "Exif\x00\x00")...)
	messi, _ := os.ReadFile(assets.Media("messi5.jpg"))
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"JFIF", jfif, false}, {"EXIF", exif, true}, {"after the scan", afterScan, false},
		{"truncated", exif[:7], false}, {"messi5.jpg", messi, false},
	} {
		if got := hasEXIF(c.b); got != c.want {
			t.Errorf("%s: %v", c.name, got)
		}
	}
}
