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
	srv, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Port: -1, JetStream: true, StoreDir: t.TempDir(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
