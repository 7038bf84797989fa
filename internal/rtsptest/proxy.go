package rtsptest

import (
	"net"
	"sync"
	"sync/atomic"
)

// Proxy forwards TCP connections to a camera's address, and makes the
// camera misbehave without closing anything:
//
//   - Stall: the connections open now forward nothing more, ever, and the
//     reader's end stays open when the server's closes, as with a camera
//     that hangs. Later connections forward normally.
//   - Freeze, Thaw: a camera process stopped (SIGSTOP) and continued.
//     While frozen nothing moves on any connection, old or new (new ones
//     are accepted, as the kernel would); thawed, everything held goes on.
type Proxy struct {
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	links  []*proxyLink
	thawed chan struct{} // nil unless frozen; closed by Thaw
}

type proxyLink struct {
	reader, server net.Conn
	stalled        atomic.Bool
}

// NewProxy listens on a free loopback port and forwards to addr; t's
// cleanup closes it.
func NewProxy(t T, addr string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("rtsptest: proxy: %v", err)
	}
	p := &Proxy{ln: ln}
	p.wg.Add(1)
	go p.accept(addr)
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port; rtsp://Addr/path reaches the server's path.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept(to string) {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", to)
		if err != nil {
			c.Close()
			continue
		}
		l := &proxyLink{reader: c, server: s}
		p.mu.Lock()
		p.links = append(p.links, l)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(l, c, s)
		go p.pipe(l, s, c)
	}
}

func (p *Proxy) pipe(l *proxyLink, dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		thawed := p.thawed
		p.mu.Unlock()
		if thawed != nil {
			<-thawed
		}
		if n > 0 && !l.stalled.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil && err == nil {
				err = werr
			}
		}
		if err != nil {
			if l.stalled.Load() {
				src.Close()
			} else {
				l.reader.Close()
				l.server.Close()
			}
			return
		}
	}
}

// Stall freezes the connections open now, for good.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.stalled.Store(true)
	}
}

// Freeze holds everything on every connection until Thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.thawed == nil {
		p.thawed = make(chan struct{})
	}
}

// Thaw lets everything held by Freeze go on.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.thawed != nil {
		close(p.thawed)
		p.thawed = nil
	}
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.Thaw()
	p.mu.Lock()
	for _, l := range p.links {
		l.reader.Close()
		l.server.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
