// Package vp8 is a VP8 encoder over libvpx for video that is stored, not
// streamed: frames are timed by their capture time, not by when they are
// encoded, so a clip encoded in a burst after the fact gets the same rate
// control as one encoded live. The live view's encoder (mediadevices) times
// frames by the wall clock and resets its configuration on every frame;
// encoding ten seconds of frames in a few hundred milliseconds there makes
// its rate control miss the bitrate by about 2×.
//
// It also exposes libvpx's encode breakout (StaticThreshold): blocks whose
// prediction is already within that error are not coded again, which is
// what a still camera mostly shows.
package vp8

// #cgo pkg-config: vpx
// #include <stdlib.h>
// #include <string.h>
// #include <vpx/vpx_encoder.h>
// #include <vpx/vp8cx.h>
// #include <vpx/vpx_decoder.h>
// #include <vpx/vp8dx.h>
//
// static vpx_codec_ctx_t *vigil_vp8_new(int w, int h, int kbps, int fps, int key, int speed, int breakout, int *err) {
//   vpx_codec_enc_cfg_t cfg;
//   vpx_codec_ctx_t *ctx;
//   *err = vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0);
//   if (*err) return NULL;
//   cfg.g_w = w;
//   cfg.g_h = h;
//   cfg.g_timebase.num = 1;
//   cfg.g_timebase.den = 1000;
//   cfg.g_threads = 1;
//   cfg.g_lag_in_frames = 0;
//   cfg.g_pass = VPX_RC_ONE_PASS;
//   cfg.rc_end_usage = VPX_CBR;
//   cfg.rc_target_bitrate = kbps;
//   cfg.rc_resize_allowed = 0;
//   cfg.kf_mode = VPX_KF_AUTO;
//   cfg.kf_min_dist = 0;
//   cfg.kf_max_dist = key;
//   ctx = malloc(sizeof *ctx);
//   *err = vpx_codec_enc_init(ctx, vpx_codec_vp8_cx(), &cfg, 0);
//   if (*err) { free(ctx); return NULL; }
//   if ((*err = vpx_codec_control(ctx, VP8E_SET_CPUUSED, speed))
//       || (*err = vpx_codec_control(ctx, VP8E_SET_STATIC_THRESHOLD, breakout))) {
//     vpx_codec_destroy(ctx);
//     free(ctx);
//     return NULL;
//   }
//   return ctx;
// }
//
// // vigil_vp8_encode encodes one I420 frame (planes packed, strides w and
// // w/2) and copies the compressed frame to out (cap bytes), returning its
// // size, or -(size needed) when out is too small; *key says a keyframe.
// static long vigil_vp8_encode(vpx_codec_ctx_t *ctx, unsigned char *yuv, int w, int h,
//     long long pts, unsigned long dur, int force, unsigned char *out, long cap, int *key, int *err) {
//   vpx_image_t img;
//   const vpx_codec_cx_pkt_t *pkt;
//   vpx_codec_iter_t it = NULL;
//   long n = 0;
//   vpx_img_wrap(&img, VPX_IMG_FMT_I420, w, h, 1, yuv);
//   *key = 0;
//   *err = vpx_codec_encode(ctx, &img, pts, dur, force ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME);
//   if (*err) return 0;
//   while ((pkt = vpx_codec_get_cx_data(ctx, &it)) != NULL) {
//     if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
//     if (pkt->data.frame.flags & VPX_FRAME_IS_KEY) *key = 1;
//     if (n + (long)pkt->data.frame.sz <= cap) memcpy(out + n, pkt->data.frame.buf, pkt->data.frame.sz);
//     n += pkt->data.frame.sz;
//   }
//   return n <= cap ? n : -n;
// }
//
// static void vigil_vp8_free(vpx_codec_ctx_t *ctx) {
//   vpx_codec_destroy(ctx);
//   free(ctx);
// }
//
// static const char *vigil_vp8_error(vpx_codec_ctx_t *ctx) {
//   const char *d = vpx_codec_error_detail(ctx);
//   return d ? d : vpx_codec_error(ctx);
// }
//
// static vpx_codec_ctx_t *vigil_vp8_dec_new(int *err) {
//   vpx_codec_ctx_t *ctx = malloc(sizeof *ctx);
//   vpx_codec_dec_cfg_t cfg = {1, 0, 0};
//   *err = vpx_codec_dec_init(ctx, vpx_codec_vp8_dx(), &cfg, 0);
//   if (*err) { free(ctx); return NULL; }
//   return ctx;
// }
//
// // vigil_vp8_decode decodes one frame and copies its picture, packed
// // I420, to out (cap bytes); it returns the bytes written, 0 when no
// // picture came out, or -(bytes needed); *w and *h are its size.
// static long vigil_vp8_decode(vpx_codec_ctx_t *ctx, const unsigned char *data, long n,
//     unsigned char *out, long cap, int *w, int *h, int *err) {
//   vpx_codec_iter_t it = NULL;
//   vpx_image_t *img;
//   long need;
//   int p, y;
//   *err = vpx_codec_decode(ctx, data, n, NULL, 0);
//   if (*err) return 0;
//   img = vpx_codec_get_frame(ctx, &it);
//   if (!img || img->fmt != VPX_IMG_FMT_I420) return 0;
//   *w = img->d_w;
//   *h = img->d_h;
//   need = (long)img->d_w * img->d_h + 2 * (long)((img->d_w + 1) / 2) * ((img->d_h + 1) / 2);
//   if (need > cap) return -need;
//   for (p = 0; p < 3; p++) {
//     int pw = p ? (img->d_w + 1) / 2 : img->d_w, ph = p ? (img->d_h + 1) / 2 : img->d_h;
//     for (y = 0; y < ph; y++) {
//       memcpy(out, img->planes[p] + (long)y * img->stride[p], pw);
//       out += pw;
//     }
//   }
//   return need;
// }
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"gocv.io/x/gocv"
)

// Options configure an encoder. Zero values take the defaults.
type Options struct {
	Bitrate     int     // bits a second; default 1,000,000
	FPS         float64 // the frame rate expected, for the first frame's duration; default 10
	KeyInterval int     // frames between keyframes at most; default 2 s of FPS
	// Speed is libvpx's cpu-used: -16 (fastest) to 16; negative fixes it,
	// positive lets libvpx adapt it to the frame interval. Default -6.
	Speed int
	// StaticThreshold is libvpx's encode breakout: a block whose
	// prediction error is under it is left as predicted. 0 codes every
	// block; default 0.
	StaticThreshold int
}

func (o Options) withDefaults() Options {
	if o.Bitrate <= 0 {
		o.Bitrate = 1_000_000
	}
	if o.FPS <= 0 {
		o.FPS = 10
	}
	if o.KeyInterval <= 0 {
		o.KeyInterval = max(1, int(o.FPS*2+0.5))
	}
	if o.Speed == 0 {
		o.Speed = -6
	}
	return o
}

// Encoder encodes BGR frames to VP8. The stream starts with the first
// frame's size (an odd last row or column is left out); a frame of another
// size starts a new stream, with a keyframe. Not safe for concurrent use.
type Encoder struct {
	o    Options
	ctx  *C.vpx_codec_ctx_t
	w, h int
	yuv  gocv.Mat
	last time.Duration // the previous frame's time
	n    int           // frames encoded in this stream
	out  []byte
}

// New makes an encoder; the codec starts with the first frame.
func New(o Options) *Encoder {
	return &Encoder{o: o.withDefaults(), yuv: gocv.NewMat()}
}

// ErrTooSmall: frames under 16×16 are not encoded.
var ErrTooSmall = errors.New("vp8: frame too small to encode (16×16 at least)")

// Encode compresses img (8-bit BGR; not changed), shown at time at (from
// any origin, increasing). key forces a keyframe. The frame returned is
// the caller's; it can be empty when libvpx dropped the frame.
func (e *Encoder) Encode(img gocv.Mat, at time.Duration, key bool) (frame []byte, isKey bool, err error) {
	w, h := img.Cols()&^1, img.Rows()&^1
	if w < 16 || h < 16 {
		return nil, false, ErrTooSmall
	}
	if err := e.start(w, h); err != nil {
		return nil, false, err
	}
	BGRToI420(img, &e.yuv)
	data, err := e.yuv.DataPtrUint8()
	if err != nil {
		return nil, false, err
	}
	return e.encode(data, at, key)
}

// EncodeI420 compresses a packed I420 picture of w×h (even sizes), as
// Decoder gives them; otherwise as Encode.
func (e *Encoder) EncodeI420(yuv []byte, w, h int, at time.Duration, key bool) (frame []byte, isKey bool, err error) {
	if w < 16 || h < 16 || w&1 != 0 || h&1 != 0 {
		return nil, false, fmt.Errorf("vp8: I420 picture %dx%d: need even sizes, 16×16 at least", w, h)
	}
	if len(yuv) < w*h*3/2 {
		return nil, false, fmt.Errorf("vp8: I420 picture %dx%d needs %d bytes, got %d", w, h, w*h*3/2, len(yuv))
	}
	if err := e.start(w, h); err != nil {
		return nil, false, err
	}
	return e.encode(yuv, at, key)
}

func (e *Encoder) encode(data []byte, at time.Duration, key bool) ([]byte, bool, error) {
	w, h := e.w, e.h
	if e.n == 0 {
		key = true
	}
	dur := time.Duration(float64(time.Second) / e.o.FPS)
	if e.n > 0 && at > e.last {
		dur = at - e.last
	}
	if e.n > 0 && at <= e.last {
		at = e.last + time.Millisecond // libvpx wants increasing times
	}
	pts := at.Milliseconds()
	var ckey, cerr C.int
	n := C.vigil_vp8_encode(e.ctx, (*C.uchar)(unsafe.Pointer(&data[0])), C.int(w), C.int(h),
		C.longlong(pts), C.ulong(max(1, dur.Milliseconds())), boolInt(key),
		(*C.uchar)(unsafe.Pointer(&e.out[0])), C.long(len(e.out)), &ckey, &cerr)
	if cerr != 0 {
		return nil, false, fmt.Errorf("vp8: encode: libvpx error %d: %s", int(cerr), C.GoString(C.vigil_vp8_error(e.ctx)))
	}
	if n < 0 { // cannot happen: out holds a raw frame and more
		return nil, false, fmt.Errorf("vp8: a compressed frame of %d bytes outgrew its %d-byte buffer", -n, len(e.out))
	}
	e.last, e.n = at, e.n+1
	return append([]byte(nil), e.out[:n]...), ckey != 0, nil
}

// start starts a stream at w×h unless one runs at that size.
func (e *Encoder) start(w, h int) error {
	if e.ctx != nil && w == e.w && h == e.h {
		return nil
	}
	e.free()
	var cerr C.int
	ctx := C.vigil_vp8_new(C.int(w), C.int(h), C.int(max(1, e.o.Bitrate/1000)), C.int(e.o.FPS),
		C.int(e.o.KeyInterval), C.int(e.o.Speed), C.int(e.o.StaticThreshold), &cerr)
	if ctx == nil {
		return fmt.Errorf("vp8: start the encoder at %dx%d: libvpx error %d", w, h, int(cerr))
	}
	e.ctx, e.w, e.h, e.n = ctx, w, h, 0
	if need := w*h*3/2 + 64<<10; len(e.out) < need {
		e.out = make([]byte, need) // more than any compressed frame
	}
	return nil
}

// Reset ends the stream: the next frame starts a new one, with a
// keyframe (for frames whose times went back).
func (e *Encoder) Reset() { e.free() }

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func (e *Encoder) free() {
	if e.ctx != nil {
		C.vigil_vp8_free(e.ctx)
		e.ctx = nil
	}
}

// Close releases the codec and its buffers.
func (e *Encoder) Close() {
	e.free()
	e.yuv.Close()
}

// Decoder decodes VP8 frames to packed I420 pictures. Not safe for
// concurrent use.
type Decoder struct {
	ctx *C.vpx_codec_ctx_t
	out []byte
}

// NewDecoder makes a decoder.
func NewDecoder() (*Decoder, error) {
	var cerr C.int
	ctx := C.vigil_vp8_dec_new(&cerr)
	if ctx == nil {
		return nil, fmt.Errorf("vp8: start the decoder: libvpx error %d", int(cerr))
	}
	return &Decoder{ctx: ctx}, nil
}

// Decode decodes frame (the stream's frames in order, from a keyframe)
// and returns its picture, packed I420 of w×h, valid until the next call;
// nil when the frame shows none.
func (d *Decoder) Decode(frame []byte) (yuv []byte, w, h int, err error) {
	if len(frame) == 0 {
		return nil, 0, 0, nil
	}
	for {
		var cw, ch, cerr C.int
		var out *C.uchar
		if len(d.out) > 0 {
			out = (*C.uchar)(unsafe.Pointer(&d.out[0]))
		}
		n := C.vigil_vp8_decode(d.ctx, (*C.uchar)(unsafe.Pointer(&frame[0])), C.long(len(frame)), out, C.long(len(d.out)), &cw, &ch, &cerr)
		if cerr != 0 {
			return nil, 0, 0, fmt.Errorf("vp8: decode: libvpx error %d: %s", int(cerr), C.GoString(C.vigil_vp8_error(d.ctx)))
		}
		if n >= 0 {
			if n == 0 {
				return nil, 0, 0, nil
			}
			return d.out[:n], int(cw), int(ch), nil
		}
		// The picture is bigger than the buffer: grow it and decode the
		// frame again. libvpx has taken the frame already, so only a
		// keyframe can be decoded twice; a larger picture always starts
		// with one.
		d.out = make([]byte, -n)
		if frame[0]&1 != 0 {
			return nil, 0, 0, fmt.Errorf("vp8: decode: a %dx%d picture outgrew the buffer on an inter frame", int(cw), int(ch))
		}
	}
}

// Close releases the decoder.
func (d *Decoder) Close() {
	if d.ctx != nil {
		C.vpx_codec_destroy(d.ctx)
		C.free(unsafe.Pointer(d.ctx))
		d.ctx = nil
	}
}
