package liveview

// #cgo pkg-config: vpx
// #include <vpx/vpx_encoder.h>
// #include <vpx/vp8cx.h>
//
// static int vigil_vp8_set_speed(void *ctx, int speed) {
//   return vpx_codec_control((vpx_codec_ctx_t *)ctx, VP8E_SET_CPUUSED, speed);
// }
import "C"

import (
	"fmt"
	"reflect"
)

// vp8Speed is libvpx's VP8 cpu-used control for real-time encoding: a
// negative value fixes the speed at its magnitude (higher is faster). With
// the default (0) libvpx picks its speed from the frame interval and, at a
// camera's 10 fps, picks its slowest: on this project's 2-core machine a
// 768×576 frame then takes 22.7 ms of CPU, and 4.1 ms at -6 (3.9 at -8,
// 2.7 at -16), conversion included. -6 is what WebRTC in desktop browsers
// uses.
const vp8Speed = -6

// setVP8Speed sets cpu-used on a mediadevices VP8 encoder. mediadevices
// does not expose the control, so this reaches its libvpx context by
// reflection; it fails (and the encoder keeps libvpx's default speed) if a
// new mediadevices version renames the field. TestVP8SpeedControl catches
// that.
func setVP8Speed(enc any, speed int) error {
	v := reflect.ValueOf(enc)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("vp8 encoder is a %T, not a struct pointer", enc)
	}
	f := v.Elem().FieldByName("codec")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return fmt.Errorf("vp8 encoder %T has no libvpx context field", enc)
	}
	if rc := C.vigil_vp8_set_speed(f.UnsafePointer(), C.int(speed)); rc != 0 {
		return fmt.Errorf("vpx_codec_control(VP8E_SET_CPUUSED, %d) failed (%d)", speed, int(rc))
	}
	return nil
}
