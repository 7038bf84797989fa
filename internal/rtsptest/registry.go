package rtsptest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

var errServerClosed = errors.New("server closed")

// gortsplib finds handlers by type assertion and silently skips a method
// whose signature drifts; these make such drift a compile error.
var (
	_ gortsplib.ServerHandlerOnAnnounce     = (*registry)(nil)
	_ gortsplib.ServerHandlerOnRecord       = (*registry)(nil)
	_ gortsplib.ServerHandlerOnDescribe     = (*registry)(nil)
	_ gortsplib.ServerHandlerOnSetup        = (*registry)(nil)
	_ gortsplib.ServerHandlerOnPlay         = (*registry)(nil)
	_ gortsplib.ServerHandlerOnSessionClose = (*registry)(nil)
)

// publication is one publisher session and the stream its readers share.
type publication struct {
	path      string
	session   *gortsplib.ServerSession
	stream    *gortsplib.ServerStream
	recording bool // guarded by registry.mu
	gotRTP    atomic.Bool
	closeOnce sync.Once
}

// close tears down every reader of the stream.
func (p *publication) close() {
	p.closeOnce.Do(p.stream.Close)
}

// registry maps paths to publications and implements gortsplib's handler
// interfaces, so that none of them shows on Server.
type registry struct {
	srv *gortsplib.Server

	mu      sync.Mutex
	pubs    map[string]*publication
	changed chan struct{} // closed and replaced on every change of pubs
	closed  chan struct{}
}

func newRegistry() *registry {
	return &registry{
		pubs:    make(map[string]*publication),
		changed: make(chan struct{}),
		closed:  make(chan struct{}),
	}
}

// notifyLocked wakes every waiter; r.mu must be held.
func (r *registry) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *registry) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.closed:
	default:
		close(r.closed)
	}
}

func (r *registry) waitPublishing(ctx context.Context, path string) error {
	for {
		r.mu.Lock()
		pub := r.pubs[path]
		live := pub != nil && pub.recording && pub.gotRTP.Load()
		changed := r.changed
		r.mu.Unlock()
		if live {
			return nil
		}
		select {
		case <-changed:
		case <-r.closed:
			return errServerClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readable returns the stream of path when its publisher is recording.
func (r *registry) readable(path string) *gortsplib.ServerStream {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pub := r.pubs[path]; pub != nil && pub.recording {
		return pub.stream
	}
	return nil
}

// OnAnnounce lets the newest publisher win, as a rebooted camera would: the
// previous one on the path and its readers are disconnected.
func (r *registry) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	stream := &gortsplib.ServerStream{Server: r.srv, Desc: ctx.Description}
	if err := stream.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, err
	}
	pub := &publication{path: cleanPath(ctx.Path), session: ctx.Session, stream: stream}
	ctx.Session.SetUserData(pub)

	r.mu.Lock()
	old := r.pubs[pub.path]
	r.pubs[pub.path] = pub
	r.notifyLocked()
	r.mu.Unlock()

	if old != nil {
		old.close()
		old.session.Close()
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (r *registry) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	pub, _ := ctx.Session.UserData().(*publication)
	if pub == nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("RECORD without ANNOUNCE")
	}

	ctx.Session.OnPacketRTPAny(func(medi *description.Media, _ format.Format, pkt *rtp.Packet) {
		if pub.gotRTP.CompareAndSwap(false, true) {
			r.mu.Lock()
			r.notifyLocked()
			r.mu.Unlock()
		}
		// The only error is a stream closed under a publisher being replaced;
		// the publisher's session is closing too.
		_ = pub.stream.WritePacketRTP(medi, pkt)
	})

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pubs[pub.path] != pub {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("publisher was replaced")
	}
	pub.recording = true
	r.notifyLocked()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (r *registry) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	stream := r.readable(cleanPath(ctx.Path))
	if stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, stream, nil
}

// OnSetup serves both publishers, which need no stream, and readers.
func (r *registry) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	stream := r.readable(cleanPath(ctx.Path))
	if stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, stream, nil
}

func (r *registry) OnPlay(_ *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose frees the path when its publisher goes away, which
// disconnects the readers.
func (r *registry) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	pub, _ := ctx.Session.UserData().(*publication)
	if pub == nil {
		return // a reader
	}
	r.mu.Lock()
	if r.pubs[pub.path] == pub {
		delete(r.pubs, pub.path)
		r.notifyLocked()
	}
	r.mu.Unlock()
	pub.close()
}
