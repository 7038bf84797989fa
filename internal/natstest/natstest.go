// Package natstest runs a real NATS server with JetStream, embedded in the
// test's process, for tests of the packages that keep state in JetStream.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/sinks"
)

// JetStream starts an embedded server with JetStream on a free port and a
// store of the test's own, connects to it, and stops both when the test
// ends.
func JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	js, _ := Connect(t, Server(t))
	return js
}

// Server starts an embedded server with JetStream on a free port and a
// store of the test's own, stopped when the test ends; it returns the
// client URL.
func Server(t testing.TB) string {
	t.Helper()
	srv, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Port: -1, JetStream: true, StoreDir: t.TempDir(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv.ClientURL()
}

// Connect opens a connection of its own to url, closed when the test
// ends (closing it sooner is how a test cuts a client off).
func Connect(t testing.TB, url string) (jetstream.JetStream, *nats.Conn) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js, nc
}

// FreePort is a TCP port free on 127.0.0.1 now: for a server a test stops
// and starts again at the same address.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartAt runs a real nats-server with JetStream on 127.0.0.1:port with
// its store in store, stopped when the test ends; after a Shutdown the
// same port and store bring the same server back (an outage and its end).
func StartAt(t testing.TB, name string, port int, store string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{ServerName: name, Host: "127.0.0.1", Port: port,
		JetStream: true, StoreDir: store, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// Reconnecting connects to url, also while nothing listens there yet,
// and keeps reconnecting quickly, as vigil's connection does; closed
// when the test ends.
func Reconnecting(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
