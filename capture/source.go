package capture

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocv.io/x/gocv"
)

// Kind is the kind of source a URL names.
type Kind string

const (
	KindFile    Kind = "file"
	KindRTSP    Kind = "rtsp"
	KindHTTP    Kind = "http"
	KindDevice  Kind = "device"
	KindTestsrc Kind = "testsrc"
)

// KindOf classifies a camera URL.
func KindOf(u string) (Kind, error) {
	switch {
	case u == "testsrc":
		return KindTestsrc, nil
	case strings.HasPrefix(u, "rtsp://"), strings.HasPrefix(u, "rtsps://"):
		return KindRTSP, nil
	case strings.HasPrefix(u, "http://"), strings.HasPrefix(u, "https://"):
		return KindHTTP, nil
	case strings.HasPrefix(u, "/dev/video"):
		if _, err := strconv.Atoi(strings.TrimPrefix(u, "/dev/video")); err != nil {
			return "", fmt.Errorf("device %q: want /dev/videoN", u)
		}
		return KindDevice, nil
	case strings.Contains(u, "://"):
		return "", fmt.Errorf("unsupported scheme %q; use rtsp://, http(s)://, a file path or /dev/videoN", u[:strings.Index(u, "://")])
	case u == "":
		return "", errors.New("empty url; use rtsp://, http(s)://, a file path, /dev/videoN or testsrc")
	}
	return KindFile, nil
}

// Redact hides the password in a URL, for logs and status.
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), "xxxxx")
	}
	return p.String()
}

// source is an open stream of frames.
type source interface {
	// Read fills dst with the next frame. io.EOF-like endings return
	// errEnded; anything else is a failure.
	Read(dst *gocv.Mat) error
	// FPS is the source's nominal frame rate, 0 when unknown.
	FPS() float64
	// Rewind restarts a file from its first frame.
	Rewind() error
	Close() error
}

var errEnded = errors.New("end of stream")

// Options for opening sources.
type sourceOptions struct {
	Kind          Kind
	URL           string
	RTSPTransport string // tcp|udp
	Width, Height int    // testsrc
	FPS           float64
	IOTimeout     time.Duration
	// Probed: the stream has been read before, so an RTSP open may skip
	// FFmpeg's stream probing.
	Probed bool
}

func open(o sourceOptions) (source, error) {
	switch o.Kind {
	case KindTestsrc:
		return newTestsrc(o.Width, o.Height, o.FPS), nil
	case KindFile:
		if _, err := os.Stat(o.URL); err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("%w; check cameras[].url", err)
		}
		return openVideo(o)
	case KindRTSP, KindHTTP:
		if err := probe(o.URL); err != nil {
			return nil, err
		}
		return openVideo(o)
	case KindDevice:
		return openVideo(o)
	}
	return nil, fmt.Errorf("unknown source kind %q", o.Kind)
}

// probe dials a network camera's host first: OpenCV only says "not
// opened", the dial says why (refused, no route, unknown host).
func probe(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad url: %w", err)
	}
	host := u.Host
	if u.Port() == "" {
		port := map[string]string{"rtsp": "554", "rtsps": "322", "http": "80", "https": "443"}[u.Scheme]
		host = net.JoinHostPort(u.Hostname(), port)
	}
	c, err := net.DialTimeout("tcp", host, 3*time.Second)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			return fmt.Errorf("dial %s: %w", host, oe.Err)
		}
		return err
	}
	return c.Close()
}

// socketTimeout is how long FFmpeg waits on a network camera's socket
// before a Read gives up waiting: a quarter of the IO timeout, so that a
// silent camera hands control back to its camera's loop several times
// within the IO timeout. A Read that gives up may still return a frame the
// decoder held back; OpenCV 4.6 fails the Read only after a few such
// waits, their number growing with the decoder's threads (measured on 2
// cores with a 0.5 s timeout: two held-back frames at 0.6 and 1.2 s, the
// failure at 1.8 s). Files and devices have none.
func socketTimeout(kind Kind, io time.Duration) time.Duration {
	if kind != KindRTSP && kind != KindHTTP || io <= 0 {
		return 0
	}
	return io / 4
}

type videoSource struct {
	vc   *gocv.VideoCapture
	kind Kind
	fps  float64
}

// ffmpegOptions guards OPENCV_FFMPEG_CAPTURE_OPTIONS, the only way to pass
// FFmpeg options (RTSP transport, socket timeout) through OpenCV 4.6, and a
// process-wide variable read when a capture opens. Opens that need the same
// value run concurrently; opens that need another value wait their turn.
var ffmpegOptions struct {
	sync.Mutex
	cond  *sync.Cond
	value string
	users int
}

func init() { ffmpegOptions.cond = sync.NewCond(&ffmpegOptions.Mutex) }

func withFFmpegOptions(value string, fn func()) {
	o := &ffmpegOptions
	o.Lock()
	for o.users > 0 && o.value != value {
		o.cond.Wait()
	}
	if o.users == 0 && o.value != value {
		os.Setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", value)
		o.value = value
	}
	o.users++
	o.Unlock()
	defer func() {
		o.Lock()
		o.users--
		o.cond.Broadcast()
		o.Unlock()
	}()
	fn()
}

func openVideo(o sourceOptions) (source, error) {
	var vc *gocv.VideoCapture
	var err error
	switch o.Kind {
	case KindDevice:
		n, _ := strconv.Atoi(strings.TrimPrefix(o.URL, "/dev/video"))
		vc, err = gocv.VideoCaptureDeviceWithAPI(n, gocv.VideoCaptureV4L2)
	default:
		opts := []string{}
		if o.Kind == KindRTSP {
			t := o.RTSPTransport
			if t == "" {
				t = "tcp"
			}
			opts = append(opts, "rtsp_transport;"+t)
		}
		if o.Kind == KindRTSP && o.Probed {
			// FFmpeg probes a stream for up to 5 s of media before it
			// opens: about 3 s on a 10 fps H.264 camera, against 0.2 s
			// without (the SDP names the codec; the decoder starts at the
			// next keyframe). Only for a stream known to work: a failed
			// short open probes in full next time.
			opts = append(opts, "analyzeduration;0", "probesize;32")
		}
		if d := socketTimeout(o.Kind, o.IOTimeout); d > 0 {
			opts = append(opts, "timeout;"+strconv.FormatInt(d.Microseconds(), 10))
		}
		withFFmpegOptions(strings.Join(opts, "|"), func() {
			vc, err = gocv.VideoCaptureFileWithAPI(o.URL, gocv.VideoCaptureFFmpeg)
		})
	}
	if err != nil || vc == nil || !vc.IsOpened() {
		if vc != nil {
			vc.Close()
		}
		return nil, fmt.Errorf("OpenCV (FFmpeg backend) could not open it; check the path or URL, credentials, and that it carries H.264/H.265/MJPEG video")
	}
	return &videoSource{vc: vc, kind: o.Kind, fps: vc.Get(gocv.VideoCaptureFPS)}, nil
}

func (s *videoSource) Read(dst *gocv.Mat) error {
	if !s.vc.Read(dst) || dst.Empty() {
		if s.kind == KindFile {
			return errEnded
		}
		return errors.New("stream stopped delivering frames")
	}
	if dst.Type() != gocv.MatTypeCV8UC3 {
		switch dst.Channels() {
		case 1:
			gocv.CvtColor(*dst, dst, gocv.ColorGrayToBGR)
		case 4:
			gocv.CvtColor(*dst, dst, gocv.ColorBGRAToBGR)
		default:
			return fmt.Errorf("frame of type %v; want 8-bit BGR", dst.Type())
		}
	}
	return nil
}

func (s *videoSource) FPS() float64 {
	if s.fps > 0 && s.fps < 1000 {
		return s.fps
	}
	return 0
}

func (s *videoSource) Rewind() error {
	s.vc.Set(gocv.VideoCapturePosFrames, 0)
	return nil
}

func (s *videoSource) Close() error { return s.vc.Close() }

// testsrc draws a moving pattern: a colour gradient, bars and two boxes
// that bounce, and the frame number — enough motion to see the pipeline
// work without any media.
type testsrc struct {
	w, h int
	fps  float64
	n    int
	bg   gocv.Mat
}

func newTestsrc(w, h int, fps float64) *testsrc {
	if w <= 0 || h <= 0 {
		w, h = 640, 480
	}
	if fps <= 0 {
		fps = 10
	}
	bg := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	bars := []color.RGBA{{192, 192, 192, 0}, {0, 192, 192, 0}, {192, 192, 0, 0}, {0, 192, 0, 0}, {192, 0, 192, 0}, {0, 0, 192, 0}, {192, 0, 0, 0}}
	for i, c := range bars {
		gocv.Rectangle(&bg, image.Rect(i*w/len(bars), 0, (i+1)*w/len(bars), h), c, -1)
	}
	return &testsrc{w: w, h: h, fps: fps, bg: bg}
}

func (s *testsrc) Read(dst *gocv.Mat) error {
	s.bg.CopyTo(dst)
	s.n++
	bounce := func(p, span int) int {
		p %= 2 * span
		if p > span {
			p = 2*span - p
		}
		return p
	}
	bw, bh := s.w/8, s.h/4
	x := bounce(s.n*8, s.w-bw)
	y := bounce(s.n*5, s.h-bh)
	gocv.Rectangle(dst, image.Rect(x, y, x+bw, y+bh), color.RGBA{255, 255, 255, 0}, -1)
	x2 := s.w - bw - bounce(s.n*6, s.w-bw)
	gocv.Rectangle(dst, image.Rect(x2, s.h-bh-10, x2+bw, s.h-10), color.RGBA{20, 20, 20, 0}, -1)
	gocv.PutText(dst, fmt.Sprintf("vigil testsrc %d", s.n), image.Pt(10, 30), gocv.FontHersheySimplex, 0.8, color.RGBA{0, 0, 0, 0}, 2)
	return nil
}

func (s *testsrc) FPS() float64  { return s.fps }
func (s *testsrc) Rewind() error { s.n = 0; return nil }
func (s *testsrc) Close() error  { return s.bg.Close() }
