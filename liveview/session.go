package liveview

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	// viewerQueue is how many encoded frames a viewer may fall behind before
	// its queue is dropped and it waits for the next keyframe.
	viewerQueue = 4
	// connectTimeout ends sessions whose browser never connects.
	connectTimeout = 20 * time.Second
	// gatherTimeout bounds ICE gathering (STUN, TURN) before answering;
	// the answer then holds the candidates found so far.
	gatherTimeout = 5 * time.Second
	rtpMTU        = 1200
)

// errBadOffer marks negotiation failures caused by the offer (400).
var errBadOffer = errors.New("bad offer")

// errStopped: the camera was removed, or the server closes, while a
// request for it was starting.
var errStopped = errors.New("camera stopped")

// session is one WebRTC viewer of one camera (one WHEP resource).
type session struct {
	id      string
	c       *camera
	pc      *webrtc.PeerConnection
	track   *webrtc.TrackLocalStaticRTP
	pack    rtp.Packetizer
	dropped prometheus.Counter
	created time.Time

	mu      sync.Mutex
	queue   []*encodedFrame
	live    bool // connected: frames are wanted
	needKey bool // waiting for a keyframe before sending again
	nDrop   uint64
	warned  time.Time

	wake    chan struct{}
	done    chan struct{}
	endOnce sync.Once

	// playout is the playout-delay header extension (ID and value) when the
	// browser negotiated it; ID 0: not negotiated.
	playoutID uint8
	playout   []byte

	// Owned by the writer goroutine.
	t0     time.Time // capture time of RTP time ts0
	ts0    uint32
	lastTS uint32
}

func newSessionID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newSession answers a WHEP offer for camera c and starts sending once the
// browser connects. The answer holds every candidate gathered (no trickle).
func (c *camera) newSession(offer string) (*session, string, error) {
	srv := c.s
	pc, err := srv.api.NewPeerConnection(webrtc.Configuration{ICEServers: srv.webrtcICEServers()})
	if err != nil {
		return nil, "", fmt.Errorf("new peer connection: %w", err)
	}
	s := &session{
		id: newSessionID(), c: c, pc: pc, created: now(),
		wake: make(chan struct{}, 1), done: make(chan struct{}),
		needKey: true, ts0: randUint32(),
	}
	fail := func(err error) (*session, string, error) {
		pc.Close()
		return nil, "", err
	}
	s.track, err = webrtc.NewTrackLocalStaticRTP(srv.codec.capability, "video", "vigil-"+c.id)
	if err != nil {
		return fail(err)
	}
	sender, err := pc.AddTrack(s.track)
	if err != nil {
		return fail(err)
	}
	s.pack = rtp.NewPacketizer(rtpMTU, videoPayloadType, randUint32(), srv.codec.payloader(), rtp.NewRandomSequencer(), 90000)
	pc.OnConnectionStateChange(s.onState)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(fmt.Errorf("%w: %v", errBadOffer, err))
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", errBadOffer, err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("set local description: %w", err))
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
		c.log.Warn().Msg("ICE gathering took over 5s (STUN/TURN unreachable?); answering with the candidates found so far")
	}
	for _, ext := range sender.GetParameters().HeaderExtensions {
		if ext.URI == playoutDelayURI && ext.ID > 0 && ext.ID < 15 {
			s.playoutID = uint8(ext.ID)
			s.playout, _ = rtp.PlayoutDelayExtension{MinDelay: 0, MaxDelay: 0}.Marshal()
		}
	}
	s.dropped = srv.m.viewerDropped.WithLabelValues(c.id, s.id[:8])
	if err := c.addSession(s); err != nil {
		srv.m.viewerDropped.DeleteLabelValues(c.id, s.id[:8])
		return fail(err)
	}
	go s.readRTCP(sender)
	go s.writeLoop()
	time.AfterFunc(connectTimeout, func() {
		s.mu.Lock()
		live := s.live
		s.mu.Unlock()
		if !live {
			s.end(fmt.Sprintf("not connected within %s", connectTimeout))
		}
	})
	c.log.Info().Str("viewer", s.id[:8]).Msg("viewer joining")
	return s, pc.LocalDescription().SDP, nil
}

func randUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (s *session) onState(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateConnected:
		s.mu.Lock()
		s.live, s.needKey = true, true
		s.mu.Unlock()
		s.c.requestKey("viewer_joined")
		s.c.log.Info().Str("viewer", s.id[:8]).Dur("setup", now().Sub(s.created)).Msg("viewer connected")
	case webrtc.PeerConnectionStateFailed:
		go s.end("connection failed")
	case webrtc.PeerConnectionStateClosed:
		go s.end("connection closed")
	}
}

// push queues f for this viewer; it never blocks. A viewer whose queue is
// full loses what it queued and then waits for a keyframe (a decoder cannot
// skip frames otherwise), which it asks the encoder for.
func (s *session) push(f *encodedFrame) {
	s.mu.Lock()
	if !s.live {
		s.mu.Unlock()
		return
	}
	dropped, resync := 0, false
	if len(s.queue) >= viewerQueue {
		dropped = len(s.queue)
		clear(s.queue)
		s.queue = s.queue[:0]
		resync = !f.key
		s.needKey = true
	}
	if s.needKey && !f.key {
		dropped++
	} else {
		s.needKey = false
		s.queue = append(s.queue, f)
	}
	s.nDrop += uint64(dropped)
	warn := dropped > 0 && now().Sub(s.warned) > 10*time.Second
	if warn {
		s.warned = now()
	}
	total := s.nDrop
	s.mu.Unlock()

	if dropped > 0 {
		s.dropped.Add(float64(dropped))
		s.c.s.m.dropped.WithLabelValues(s.c.id, "viewer_slow").Add(float64(dropped))
	}
	if resync {
		s.c.requestKey("resync")
	}
	if warn && resync {
		s.c.log.Warn().Str("viewer", s.id[:8]).Uint64("dropped", total).Msg("viewer is too slow, discarding frames until the next keyframe")
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *session) writeLoop() {
	var batch []*encodedFrame
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		s.mu.Unlock()
		for i, f := range batch {
			if err := s.send(f); err != nil {
				if errors.Is(err, io.ErrClosedPipe) {
					return
				}
			}
			batch[i] = nil
		}
	}
}

// send packetizes one frame with the RTP time of its capture, so the
// browser plays frames at the pace they were captured, gaps included.
func (s *session) send(f *encodedFrame) error {
	if s.t0.IsZero() {
		s.t0 = f.at
	}
	ts := s.ts0 + uint32(f.at.Sub(s.t0).Seconds()*90000)
	if int32(ts-s.lastTS) < 0 { // a capture clock that stepped back
		ts = s.lastTS + 1
	}
	s.lastTS = ts
	var errs []error
	for _, p := range s.pack.Packetize(f.data, 0) {
		p.Timestamp = ts
		if s.playoutID != 0 {
			p.Header.SetExtension(s.playoutID, s.playout)
		}
		if err := s.track.WriteRTP(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readRTCP serves keyframe requests; reading also lets the interceptors
// (NACK, reports) see the browser's feedback.
func (s *session) readRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication:
				s.c.requestKey("pli")
			case *rtcp.FullIntraRequest:
				s.c.requestKey("fir")
			}
		}
	}
}

// end closes the session once: the viewer left, failed, or the server
// closes. The camera's encoder stops with its last viewer.
func (s *session) end(reason string) {
	s.endOnce.Do(func() {
		close(s.done)
		s.c.removeSession(s)
		s.pc.Close()
		s.c.s.m.viewerDropped.DeleteLabelValues(s.c.id, s.id[:8])
		s.mu.Lock()
		dropped := s.nDrop
		s.mu.Unlock()
		s.c.log.Info().Str("viewer", s.id[:8]).Str("reason", reason).Uint64("dropped", dropped).
			Dur("duration", now().Sub(s.created).Round(time.Millisecond)).Msg("viewer left")
	})
}

// addSession registers s; the first viewer starts the encoder.
func (c *camera) addSession(s *session) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errStopped
	}
	c.sessions[s.id] = s
	c.publishViewers()
	if c.enc == nil {
		c.enc = startEncoder(c)
	}
	c.updateActive()
	return nil
}

// removeSession forgets s; the last viewer stops the encoder.
func (c *camera) removeSession(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions[s.id] != s {
		return
	}
	delete(c.sessions, s.id)
	c.publishViewers()
	if len(c.sessions) == 0 && c.enc != nil {
		c.enc.stop()
		c.enc = nil
	}
	c.updateActive()
}

// publishViewers gives the encoder a fresh list of sessions; c.mu held.
func (c *camera) publishViewers() {
	list := make([]*session, 0, len(c.sessions))
	for _, s := range c.sessions {
		list = append(list, s)
	}
	c.viewers.Store(&list)
	c.s.m.viewers.WithLabelValues(c.id).Set(float64(len(list)))
}

// requestKey asks the running encoder, if any, for a keyframe. It counts
// the request under c.mu, so that a stopped camera counts none (its series
// stay deleted).
func (c *camera) requestKey(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.enc != nil {
		c.enc.requestKey(reason)
	}
}

func (c *camera) session(id string) *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[id]
}
