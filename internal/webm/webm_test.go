package webm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/internal/mediatest"
	"github.com/vigil-vision/vigil/liveview"
	"gocv.io/x/gocv"
)

// encodeVideo encodes the sample video's first n frames with libvpx, a
// keyframe every keyEvery, 10 fps.
func encodeVideo(t *testing.T, n, keyEvery int) Video {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(assets.Media("vtest.avi"))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	enc, err := liveview.NewFrameEncoder("vp8", 1_000_000, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	img := gocv.NewMat()
	defer img.Close()
	v := Video{App: "vigil-test"}
	for i := range n {
		if !vc.Read(&img) {
			t.Fatalf("vtest.avi ended at %d", i)
		}
		data, key, err := enc.Encode(img, i%keyEvery == 0)
		if err != nil {
			t.Fatal(err)
		}
		v.Width, v.Height = img.Cols(), img.Rows()
		v.Frames = append(v.Frames, Frame{Data: data, Key: key, At: time.Duration(i) * 100 * time.Millisecond})
	}
	return v
}

func TestAClipPlaysWholeWithItsDuration(t *testing.T) {
	v := encodeVideo(t, 60, 20)
	var buf bytes.Buffer
	if err := Write(&buf, v); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "clip.webm")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	p := mediatest.ProbeFile(t, path)
	if p.Codec != "vp8" || p.Width != 768 || p.Height != 576 || p.Format != "matroska,webm" {
		t.Fatalf("probe %+v", p)
	}
	if p.Frames != 60 {
		t.Errorf("ffprobe decoded %d frames of 60", p.Frames)
	}
	if p.Duration < 5.95 || p.Duration > 6.05 {
		t.Errorf("duration %.3f s, want 6.0", p.Duration)
	}
	// OpenCV (FFmpeg underneath) reads it too, frame by frame.
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	img := gocv.NewMat()
	defer img.Close()
	n := 0
	for vc.Read(&img) && !img.Empty() {
		n++
	}
	if n != 60 {
		t.Errorf("gocv read %d frames of 60", n)
	}
	// Seeking to 4.5 s lands on the keyframe cluster at 4 s, found by
	// the cues.
	out, err := exec.Command("ffprobe", "-v", "error", "-read_intervals", "4.5%+0.1", "-show_frames", "-select_streams", "v",
		"-show_entries", "frame=pts_time,key_frame", "-of", "csv=p=0", path).Output()
	if err != nil || !bytes.HasPrefix(out, []byte("1,4.0")) {
		t.Errorf("seek to 4.5 s: first frame %q (%v), want the keyframe at 4.0", firstLine(out), err)
	}
}

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

func TestWriteRefusesWhatNoPlayerCouldStart(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, Video{Width: 2, Height: 2}); err == nil {
		t.Error("no frames written")
	}
	if err := Write(&buf, Video{Width: 2, Height: 2, Frames: []Frame{{Data: []byte{1}, Key: false}}}); err == nil {
		t.Error("a clip that starts without a keyframe written")
	}
	if err := Write(&buf, Video{Width: 2, Height: 2, Frames: []Frame{{Key: true, At: time.Second}, {At: 0}}}); err == nil {
		t.Error("frames out of time order written")
	}
}

func TestSizes(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want []byte
	}{{0, []byte{0x80}}, {126, []byte{0xFE}}, {127, []byte{0x40, 0x7F}}, {16382, []byte{0x7F, 0xFE}}, {16383, []byte{0x20, 0x3F, 0xFF}}} {
		if got := sizeBytes(c.n); !bytes.Equal(got, c.want) {
			t.Errorf("size %d: % x, want % x", c.n, got, c.want)
		}
	}
	if got := idBytes(idSegment); !bytes.Equal(got, []byte{0x18, 0x53, 0x80, 0x67}) {
		t.Errorf("segment id % x", got)
	}
	if got := uintBytes(0); !bytes.Equal(got, []byte{0}) {
		t.Errorf("uint 0: % x", got)
	}
}
