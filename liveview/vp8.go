package liveview

import (
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

func init() {
	codecSpecs["vp8"] = &codecSpec{
		name:       "vp8",
		capability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: feedback},
		payloader:  func() rtp.Payloader { return &codecs.VP8Payloader{EnablePictureID: true} },
		newEncoder: newVP8,
		isKey:      isVP8Key,
	}
}

// newVP8 is libvpx in real-time mode: constant bitrate, no lag, and its own
// speed selection to keep within the frame interval.
func newVP8(p encoderParams) (videoEncoder, error) {
	params, err := vpx.NewVP8Params()
	if err != nil {
		return nil, err
	}
	params.BitRate = p.Bitrate
	params.KeyFrameInterval = p.KeyInterval
	params.RateControlEndUsage = vpx.RateControlCBR
	params.LagInFrames = 0
	params.ErrorResilient = vpx.ErrorResilientDefault
	e, err := newMDEncoder(&params, p)
	if err != nil {
		return nil, err
	}
	setVP8Speed(e.rc, vp8Speed) // checkVP8Speed reports when this fails
	return e, nil
}

// checkVP8Speed says whether the speed control reaches libvpx in this build.
func checkVP8Speed() error {
	params, err := vpx.NewVP8Params()
	if err != nil {
		return err
	}
	e, err := newMDEncoder(&params, encoderParams{Width: 64, Height: 64, Bitrate: 100_000, FPS: 10, KeyInterval: 30})
	if err != nil {
		return err
	}
	defer e.Close()
	return setVP8Speed(e.rc, vp8Speed)
}

// isVP8Key reads the frame tag (RFC 6386, 9.1): bit 0 is 0 for key frames.
func isVP8Key(frame []byte) bool { return len(frame) > 0 && frame[0]&1 == 0 }
