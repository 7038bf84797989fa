package liveview

import (
	"errors"
	"image"
	"io"
	"sort"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// videoEncoder turns I420 frames into one codec's bitstream, one frame in,
// one frame out (no lookahead: latency matters more than size here).
type videoEncoder interface {
	Encode(img *image.YCbCr, keyframe bool) ([]byte, error)
	Close() error
}

// encoderParams are what every codec takes.
type encoderParams struct {
	Width, Height int
	Bitrate       int // bits per second
	FPS           float64
	KeyInterval   int // frames between unrequested keyframes
}

// codecSpec is one codec the live view can send.
type codecSpec struct {
	name       string
	capability webrtc.RTPCodecCapability
	payloader  func() rtp.Payloader
	newEncoder func(encoderParams) (videoEncoder, error)
	isKey      func(frame []byte) bool
}

// codecSpecs holds the codecs built into this binary: vp8 always, h264
// with -tags x264.
var codecSpecs = map[string]*codecSpec{}

func codecNames() []string {
	var names []string
	for n := range codecSpecs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// feedback asks browsers for retransmissions and for keyframes when they
// lose one (PLI, FIR).
var feedback = []webrtc.RTCPFeedback{
	{Type: webrtc.TypeRTCPFBNACK},
	{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
	{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
}

// mdEncoder adapts a mediadevices encoder, which pulls frames from a
// reader, to videoEncoder, which is handed them.
type mdEncoder struct {
	rc  codec.ReadCloser
	kf  codec.KeyFrameController
	cur *image.YCbCr
}

func newMDEncoder(b codec.VideoEncoderBuilder, p encoderParams) (*mdEncoder, error) {
	e := &mdEncoder{}
	r := video.ReaderFunc(func() (image.Image, func(), error) {
		if e.cur == nil {
			return nil, func() {}, io.EOF
		}
		return e.cur, func() {}, nil
	})
	rc, err := b.BuildVideoEncoder(r, prop.Media{Video: prop.Video{Width: p.Width, Height: p.Height, FrameRate: float32(p.FPS)}})
	if err != nil {
		return nil, err
	}
	e.rc = rc
	e.kf, _ = rc.Controller().(codec.KeyFrameController)
	return e, nil
}

func (e *mdEncoder) Encode(img *image.YCbCr, keyframe bool) ([]byte, error) {
	if keyframe && e.kf != nil {
		if err := e.kf.ForceKeyFrame(); err != nil {
			return nil, err
		}
	}
	e.cur = img
	defer func() { e.cur = nil }()
	b, release, err := e.rc.Read()
	if release != nil {
		defer release()
	}
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("encoder returned no data")
	}
	return b, nil
}

func (e *mdEncoder) Close() error { return e.rc.Close() }
