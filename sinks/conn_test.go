package sinks

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://user:secret@host:4222", "nats://user:xxxxx@host:4222"},
		{"nats://s3cr3t-token@host:4222", "nats://xxxxx@host:4222"},
		{"tls://u:p@ss:word@host:4222/path?q=1", "tls://u:xxxxx@host:4222/path?q=1"},
		{"nats://host:4222", "nats://host:4222"},
		{"user:secret@host:4222", "user:xxxxx@host:4222"},
		{"nats://a:secret@h1:4222, nats://b:secret@h2:4222", "nats://a:xxxxx@h1:4222, nats://b:xxxxx@h2:4222"},
		{"nats://host:4222/x@y", "nats://host:4222/x@y"},
		{"", ""},
	} {
		got := RedactURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "secret") || strings.Contains(got, "s3cr3t") {
			t.Errorf("RedactURL(%q) = %q leaks the secret", tc.in, got)
		}
	}
}

func TestConnectRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    ConnOptions
		want string
	}{
		{"two auth methods", ConnOptions{User: "u", Password: "secret", Token: "secret"}, "choose one"},
		{"password without user", ConnOptions{Password: "secret"}, "without a user"},
		{"missing creds file", ConnOptions{CredsFile: "testdata/missing.creds"}, "missing.creds"},
		{"cert without key", ConnOptions{TLSCert: "c.pem"}, "together"},
		{"missing CA", ConnOptions{TLSCA: "testdata/missing-ca.pem"}, "rootCA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.URL = "nats://admin:secret@127.0.0.1:1"
			nc, err := Connect(tc.o)
			if err == nil {
				nc.Close()
				t.Fatal("Connect succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

// TestConnectReconnectsAndKeepsSecretsOutOfLogs runs NATS, stops it and
// starts it again on the same port: the client must come back by itself.
func TestConnectReconnectsAndKeepsSecretsOutOfLogs(t *testing.T) {
	var logs syncBuffer
	first, err := StartEmbedded(EmbeddedOptions{Port: -1, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown()
	port := first.srv.Addr().(*net.TCPAddr).Port
	url := strings.Replace(first.ClientURL(), "nats://", "nats://vigil:secret@", 1)

	nc, err := Connect(ConnOptions{URL: url, Name: "reconnect-test", Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	reconnected := nc.StatusChanged(nats.RECONNECTING, nats.CONNECTED)

	first.Shutdown()
	waitStatus(t, reconnected, nats.RECONNECTING)

	second, err := StartEmbedded(EmbeddedOptions{Port: port, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("restart NATS on port %d: %v", port, err)
	}
	defer second.Shutdown()
	waitStatus(t, reconnected, nats.CONNECTED)

	// The connection works again.
	sub := subscribe(t, nc, "vigil.check")
	if err := nc.Publish("vigil.check", []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(msgWait); err != nil {
		t.Fatalf("after reconnect: %v", err)
	}

	// The client's handlers log on its own callback goroutine, which may
	// run after the status has changed: give them a moment.
	wants := []string{"NATS disconnected", "NATS reconnected", "vigil:xxxxx@127.0.0.1"}
	logged := func() bool {
		for _, w := range wants {
			if !strings.Contains(logs.String(), w) {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); !logged() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	out := logs.String()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret") {
		t.Errorf("logs leak the password:\n%s", out)
	}
}

func waitStatus(t *testing.T, ch chan nats.Status, want nats.Status) {
	t.Helper()
	timeout := time.After(msgWait)
	for {
		select {
		case s := <-ch:
			if s == want {
				return
			}
		case <-timeout:
			t.Fatalf("connection never reached %v", want)
		}
	}
}
