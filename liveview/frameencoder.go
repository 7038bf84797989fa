package liveview

import (
	"errors"
	"fmt"
	"image"

	"github.com/vigil-vision/vigil/internal/cmalloc"
	"github.com/vigil-vision/vigil/internal/vp8"
	"gocv.io/x/gocv"
)

// errTooSmall: frames under 16×16 are not encoded.
var errTooSmall = errors.New("frame too small to encode")

// FrameEncoder encodes BGR frames with one of the live view's codecs, as a
// camera's encoder does: converted to I420 (an odd last row or column is
// left out), one frame in, one frame out. It is exported for benchmarks and
// tools; it is not safe for concurrent use.
type FrameEncoder struct {
	spec    *codecSpec
	bitrate int
	fps     float64

	enc  videoEncoder
	w, h int
	yuv  gocv.Mat
}

// Codecs lists the codecs built into this binary: vp8, and h264 when built
// with -tags x264.
func Codecs() []string { return codecNames() }

// NewFrameEncoder makes an encoder for codec at bitrate bits per second for
// frames coming at about fps; the codec starts with the first frame's size.
func NewFrameEncoder(codec string, bitrate int, fps float64) (*FrameEncoder, error) {
	spec, ok := codecSpecs[codec]
	if !ok {
		return nil, fmt.Errorf("codec %q is not built in; have %v", codec, codecNames())
	}
	return newFrameEncoder(spec, bitrate, fps), nil
}

func newFrameEncoder(spec *codecSpec, bitrate int, fps float64) *FrameEncoder {
	return &FrameEncoder{spec: spec, bitrate: bitrate, fps: fps, yuv: gocv.NewMat()}
}

// Encode compresses img (8-bit BGR; it is not changed) and reports whether
// the result is a keyframe. keyframe forces one. A change of frame size
// starts a new stream, with a keyframe.
func (e *FrameEncoder) Encode(img gocv.Mat, keyframe bool) (frame []byte, key bool, err error) {
	w, h := img.Cols()&^1, img.Rows()&^1
	if w < 16 || h < 16 {
		return nil, false, errTooSmall
	}
	if e.enc == nil || w != e.w || h != e.h {
		if e.enc != nil {
			e.enc.Close()
			e.enc = nil
		}
		enc, err := e.spec.newEncoder(encoderParams{
			Width: w, Height: h, Bitrate: e.bitrate, FPS: e.fps,
			KeyInterval: max(30, int(e.fps*5)),
		})
		if err != nil {
			return nil, false, fmt.Errorf("start %s encoder at %dx%d: %w", e.spec.name, w, h, err)
		}
		e.enc, e.w, e.h = enc, w, h
		keyframe = true
	}
	vp8.BGRToI420(img, &e.yuv)
	data, err := e.yuv.DataPtrUint8()
	if err != nil {
		return nil, false, err
	}
	ys, cs := w*h, w*h/4
	yuv := &image.YCbCr{
		Y: data[:ys], Cb: data[ys : ys+cs], Cr: data[ys+cs : ys+2*cs],
		YStride: w, CStride: w / 2, SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect: image.Rect(0, 0, w, h),
	}
	out, err := e.enc.Encode(yuv, keyframe)
	if err != nil {
		return nil, false, err
	}
	return out, e.spec.isKey(out), nil
}

// Close releases the codec and the conversion buffer, and hands the C
// heap's free pages back to the system: a codec frees megabytes that the
// allocator would otherwise keep (package cmalloc).
func (e *FrameEncoder) Close() {
	if e.enc != nil {
		e.enc.Close()
		e.enc = nil
	}
	e.yuv.Close()
	cmalloc.Trim()
}
