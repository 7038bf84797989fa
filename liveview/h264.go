//go:build x264

package liveview

import (
	"github.com/pion/mediadevices/pkg/codec/x264"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

func init() {
	codecSpecs["h264"] = &codecSpec{
		name: "h264",
		capability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: feedback,
			// Constrained Baseline, level 3.1: what x264's ultrafast preset
			// produces (no CABAC, no B-frames) and every browser decodes.
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		},
		payloader:  func() rtp.Payloader { return &codecs.H264Payloader{} },
		newEncoder: newH264,
		isKey:      isH264Key,
	}
}

// newH264 is x264 with the ultrafast preset and zerolatency tuning (no
// lookahead, no B-frames), Annex B with SPS/PPS before every IDR.
func newH264(p encoderParams) (videoEncoder, error) {
	params, err := x264.NewParams()
	if err != nil {
		return nil, err
	}
	params.BitRate = p.Bitrate
	params.KeyFrameInterval = p.KeyInterval
	params.Preset = x264.PresetUltrafast
	return newMDEncoder(&params, p)
}
