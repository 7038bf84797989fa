// Package natstest runs a real NATS server with JetStream, embedded in the
// test's process, for tests of the packages that keep state in JetStream.
package natstest

import (
	"testing"

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
