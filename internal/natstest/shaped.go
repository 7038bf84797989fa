package natstest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Shaped is a TCP proxy to the NATS server at url whose client-to-server
// direction carries at most bitsPerSecond, as a slow uplink from a camera's
// node would: each chunk a client writes is passed on when its last bit
// would have arrived (a token bucket holding one chunk). The other
// direction is not shaped. It returns the URL to connect to; the proxy
// stops when the test ends.
func Shaped(t testing.TB, serverURL string, bitsPerSecond float64) string {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c ...net.Conn) {
		mu.Lock()
		conns = append(conns, c...)
		mu.Unlock()
	}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", u.Host)
			if err != nil {
				c.Close()
				continue
			}
			track(c, s)
			wg.Add(2)
			go func() { defer wg.Done(); shape(s, c, bitsPerSecond); s.Close() }()
			go func() { defer wg.Done(); io.Copy(c, s); c.Close() }()
		}
	}()
	return "nats://" + l.Addr().String()
}

func shape(dst io.Writer, src io.Reader, bitsPerSecond float64) {
	buf := make([]byte, 16<<10)
	var free time.Time // when the link has sent what came before
	for {
		n, err := src.Read(buf)
		if n > 0 {
			free = later(free, time.Now()).Add(time.Duration(float64(n*8) / bitsPerSecond * float64(time.Second)))
			time.Sleep(time.Until(free))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
