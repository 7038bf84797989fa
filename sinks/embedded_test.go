package sinks

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestStartEmbeddedServesClientsAndJetStream(t *testing.T) {
	e := startNATS(t)
	if !strings.HasPrefix(e.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("ClientURL = %q, want nats://127.0.0.1:<port>", e.ClientURL())
	}
	nc := connect(t, e.ClientURL())
	if !nc.IsConnected() {
		t.Fatalf("not connected to %s", e.ClientURL())
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("JetStream account info: %v", err)
	}
}

func TestEmbeddedShutdownIsIdempotent(t *testing.T) {
	e, err := StartEmbedded(EmbeddedOptions{Port: -1}) // zero Logger: silent
	if err != nil {
		t.Fatal(err)
	}
	e.Shutdown()
	e.Shutdown()
	if _, err := net.Dial("tcp", strings.TrimPrefix(e.ClientURL(), "nats://")); err == nil {
		t.Fatalf("%s still accepts connections after Shutdown", e.ClientURL())
	}
}

func TestStartEmbeddedPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	other, err := StartEmbedded(EmbeddedOptions{Port: -1, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Shutdown()
	natsPort := other.srv.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name string
		port int
	}{
		{"plain listener", port},
		{"another embedded NATS", natsPort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := StartEmbedded(EmbeddedOptions{Port: tc.port, Logger: testLogger(t)})
			if err == nil {
				e.Shutdown()
				t.Fatalf("StartEmbedded on busy port %d succeeded", tc.port)
			}
			addr := "127.0.0.1:" + strconv.Itoa(tc.port)
			for _, want := range []string{addr, "address in use", "nats.listen", "nats.url"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestStartEmbeddedJetStreamNeedsStoreDir(t *testing.T) {
	e, err := StartEmbedded(EmbeddedOptions{Port: -1, JetStream: true, Logger: testLogger(t)})
	if err == nil {
		e.Shutdown()
		t.Fatal("StartEmbedded with JetStream and no store dir succeeded")
	}
	if !strings.Contains(err.Error(), "store dir") {
		t.Errorf("error %q does not say the store dir is missing", err)
	}
}

func TestStartEmbeddedReportsServerFailure(t *testing.T) {
	// A store dir that is a file: the server fails after starting, through its logger.
	file := t.TempDir() + "/not-a-dir"
	if err := writeFile(file); err != nil {
		t.Fatal(err)
	}
	e, err := StartEmbedded(EmbeddedOptions{Port: -1, JetStream: true, StoreDir: file, Logger: testLogger(t)})
	if err == nil {
		e.Shutdown()
		t.Fatal("StartEmbedded with a file as store dir succeeded")
	}
	if !strings.Contains(err.Error(), "embedded NATS on 127.0.0.1:") {
		t.Errorf("error %q does not name the address", err)
	}
}
