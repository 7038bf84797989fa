package evidence

import (
	"testing"
	"time"

	"github.com/vigil-vision/vigil/internal/mediatest"
	"github.com/vigil-vision/vigil/internal/vp8"
	"gocv.io/x/gocv"
)

// The two ways to keep a camera's last seconds for clips, priced per
// frame on the sample video (768×576): keep each frame as a JPEG and
// make the clip when an event asks (BenchmarkRingJPEG continuously, then
// BenchmarkClipFromJPEG per frame of a clip), or encode VP8 all the time
// and only cut the clip (BenchmarkRingVP8 continuously, what the ring
// does). Frames are timed at 10 fps, so rate control works as it does
// live.

func benchFrames(b *testing.B) []gocv.Mat { return mediatest.SampleFrames(b, 0, 50) }

func BenchmarkRingJPEG(b *testing.B) {
	frames := benchFrames(b)
	var bytes int
	i := 0
	for b.Loop() {
		buf, err := encode(frames[i%len(frames)], 80)
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(buf)
		i++
	}
	b.ReportMetric(float64(bytes)/float64(i), "bytes/frame")
}

func BenchmarkRingVP8(b *testing.B) {
	frames := benchFrames(b)
	enc := vp8.New(ClipOptions{}.withDefaults().vp8Options())
	defer enc.Close()
	var bytes int
	i := 0
	for b.Loop() {
		data, _, err := enc.Encode(frames[i%len(frames)], time.Duration(i)*100*time.Millisecond, false)
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(data)
		i++
	}
	b.ReportMetric(float64(bytes)/float64(i), "bytes/frame")
}

func BenchmarkClipFromJPEG(b *testing.B) {
	frames := benchFrames(b)
	jpegs := make([][]byte, len(frames))
	for i, f := range frames {
		var err error
		if jpegs[i], err = encode(f, 80); err != nil {
			b.Fatal(err)
		}
	}
	enc := vp8.New(ClipOptions{}.withDefaults().vp8Options())
	defer enc.Close()
	i := 0
	for b.Loop() {
		img, err := gocv.IMDecode(jpegs[i%len(jpegs)], gocv.IMReadColor)
		if err != nil {
			b.Fatal(err)
		}
		_, _, err = enc.Encode(img, time.Duration(i)*100*time.Millisecond, false)
		img.Close()
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}
