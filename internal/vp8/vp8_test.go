package vp8

import (
	"image"
	"math"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/internal/mediatest"
	"gocv.io/x/gocv"
)

// psnr of a decoded I420 picture against the BGR frame it came from.
func psnr(t *testing.T, yuv []byte, w, h int, want gocv.Mat) float64 {
	t.Helper()
	m, err := gocv.NewMatFromBytes(h*3/2, w, gocv.MatTypeCV8UC1, yuv)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	bgr := gocv.NewMat()
	defer bgr.Close()
	gocv.CvtColor(m, &bgr, gocv.ColorYUVToBGRIYUV)
	d := gocv.NormWithMats(bgr, want, gocv.NormL2)
	mse := d * d / float64(w*h*3)
	return 10 * math.Log10(255*255/mse)
}

// Frames timed at 10 fps come out at the bitrate asked for, with a
// keyframe first and then every KeyInterval frames, and decode to
// pictures close to the originals — however fast they were encoded.
func TestEncodeDecode(t *testing.T) {
	frames := mediatest.SampleFrames(t, 0, 60)
	const bitrate = 800_000
	enc := New(Options{Bitrate: bitrate, FPS: 10, KeyInterval: 20, StaticThreshold: 2000})
	defer enc.Close()
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var total int
	var keys []int
	worst := math.Inf(1)
	for i, f := range frames {
		data, key, err := enc.Encode(f, time.Duration(i)*100*time.Millisecond, false)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if len(data) == 0 {
			t.Fatalf("frame %d: libvpx dropped it", i)
		}
		if key != (data[0]&1 == 0) {
			t.Fatalf("frame %d: key %v, but the frame tag says otherwise", i, key)
		}
		if key {
			keys = append(keys, i)
		}
		total += len(data)
		yuv, w, h, err := dec.Decode(data)
		if err != nil {
			t.Fatalf("decode frame %d: %v", i, err)
		}
		if w != 768 || h != 576 {
			t.Fatalf("frame %d decoded at %dx%d, want 768x576", i, w, h)
		}
		worst = min(worst, psnr(t, yuv, w, h, f))
	}
	if len(keys) != 3 || keys[0] != 0 || keys[1] != 20 || keys[2] != 40 {
		t.Errorf("keyframes at %v, want [0 20 40]", keys)
	}
	got := float64(total*8) / 6 // bits a second over the 6 s of video
	if got < bitrate*0.7 || got > bitrate*1.3 {
		t.Errorf("encoded at %.0f bits/s, asked for %d", got, bitrate)
	}
	if worst < 30 {
		t.Errorf("worst frame at %.1f dB PSNR; want ≥ 30", worst)
	}
}

// A forced keyframe is one; a new size starts a new stream; pictures the
// decoder gives encode again; bad input is an error, not a crash.
func TestKeysSizesAndErrors(t *testing.T) {
	frames := mediatest.SampleFrames(t, 0, 3)
	enc := New(Options{})
	defer enc.Close()
	if _, key, err := enc.Encode(frames[0], 0, false); err != nil || !key {
		t.Fatalf("first frame: key %v, err %v; want a keyframe", key, err)
	}
	if _, key, err := enc.Encode(frames[1], 100*time.Millisecond, false); err != nil || key {
		t.Fatalf("second frame: key %v, err %v; want an inter frame", key, err)
	}
	if _, key, err := enc.Encode(frames[2], 200*time.Millisecond, true); err != nil || !key {
		t.Fatalf("forced: key %v, err %v; want a keyframe", key, err)
	}
	// Half the size, and odd: a new stream at 384×288, starting with a key.
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(frames[0], &small, image.Pt(385, 289), 0, 0, gocv.InterpolationArea)
	data, key, err := enc.Encode(small, 300*time.Millisecond, false)
	if err != nil || !key {
		t.Fatalf("new size: key %v, err %v; want a keyframe", key, err)
	}
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	yuv, w, h, err := dec.Decode(data)
	if err != nil || w != 384 || h != 288 {
		t.Fatalf("decoded %dx%d, err %v; want 384x288", w, h, err)
	}
	again := New(Options{})
	defer again.Close()
	if _, key, err := again.EncodeI420(yuv, w, h, 0, false); err != nil || !key {
		t.Fatalf("EncodeI420 of a decoded picture: key %v, err %v", key, err)
	}
	if _, _, err := again.EncodeI420(yuv[:100], w, h, time.Second, false); err == nil {
		t.Error("EncodeI420 took a short buffer")
	}
	tiny := gocv.NewMatWithSize(8, 8, gocv.MatTypeCV8UC3)
	defer tiny.Close()
	if _, _, err := enc.Encode(tiny, time.Second, false); err != ErrTooSmall {
		t.Errorf("8×8 frame: err %v, want ErrTooSmall", err)
	}
	garbage, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	if _, _, _, err := garbage.Decode([]byte("not a vp8 frame at all, just bytes")); err == nil {
		t.Error("garbage decoded without an error")
	}
}

// Times that go back are taken as just after the last frame: libvpx
// refuses times out of order.
func TestTimesGoingBack(t *testing.T) {
	frames := mediatest.SampleFrames(t, 0, 2)
	enc := New(Options{})
	defer enc.Close()
	if _, _, err := enc.Encode(frames[0], time.Second, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := enc.Encode(frames[1], 0, false); err != nil {
		t.Fatalf("a frame timed before the last: %v", err)
	}
}

func BenchmarkEncode(b *testing.B) {
	frames := mediatest.SampleFrames(b, 0, 50)
	for _, st := range []int{0, 2000} {
		b.Run(map[int]string{0: "every-block", 2000: "static-2000"}[st], func(b *testing.B) {
			enc := New(Options{StaticThreshold: st})
			defer enc.Close()
			var bytes, i int
			for b.Loop() {
				data, _, err := enc.Encode(frames[i%len(frames)], time.Duration(i)*100*time.Millisecond, false)
				if err != nil {
					b.Fatal(err)
				}
				bytes += len(data)
				i++
			}
			b.ReportMetric(float64(bytes)/float64(i), "bytes/frame")
		})
	}
}
