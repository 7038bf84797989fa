package sinks

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/internal/disktest"
)

func TestEmbeddedJetStreamStoresAgainAfterAFullDisk(t *testing.T) {
	store := disktest.Tmpfs(t, 8<<20)
	e, err := StartEmbedded(EmbeddedOptions{Port: -1, JetStream: true, StoreDir: store,
		StoreCheck: 50 * time.Millisecond, StoreMinFree: 1 << 20, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	nc := connect(t, e.ClientURL())
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	publish := func(i int) error {
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		m := &nats.Msg{Subject: "t.x", Data: make([]byte, 2000), Header: nats.Header{}}
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprint("m-", i))
		_, err := js.PublishMsg(pctx, m, jetstream.WithRetryAttempts(0))
		return err
	}
	for i := 1; i <= 3; i++ {
		if err := publish(i); err != nil {
			t.Fatal(err)
		}
	}
	filler := disktest.Fill(t, store)
	// A few may still fit in the block's last page; then the stream fails
	// and stays failed.
	failed := 0
	for i := 4; i < 20 && failed == 0; i++ {
		if publish(i) != nil {
			failed = i
		}
	}
	if failed == 0 {
		t.Fatal("JetStream stored 16 messages on a full disk")
	}
	waitUntil(t, "StoreError to say so", func() bool { return strings.Contains(e.StoreError(), "no space left on device") })
	if err := publish(failed); err == nil {
		t.Fatal("a stream with a write error stored again before the disk had room")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "JetStream restarted", func() bool { return e.StoreError() == "" })
	for i := failed; i <= failed+5; i++ {
		for publish(i) != nil { // the stream loads again after the restart
			if ctx.Err() != nil {
				t.Fatal("JetStream does not store after its restart")
			}
		}
	}
	st, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := int(info.State.Msgs); n != failed+5 || info.State.LastSeq != uint64(n) {
		t.Fatalf("stream holds %d messages (last seq %d), want %d: %+v", n, info.State.LastSeq, failed+5, info.State)
	}
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); id != fmt.Sprint("m-", seq) {
			t.Errorf("message %d is %s", seq, id)
		}
	}
}

// TestEmbeddedClusterSaysJetStreamIsOff: in a cluster a server that runs
// out of disk turns its JetStream off, for good; StoreError says so, and
// nothing starts it again (see StoreError).
func TestEmbeddedClusterSaysJetStreamIsOff(t *testing.T) {
	stores := []string{disktest.Tmpfs(t, 16<<20), disktest.Tmpfs(t, 16<<20), disktest.Tmpfs(t, 16<<20)}
	srv := startClusterOn(t, stores, EmbeddedOptions{StoreCheck: 20 * time.Millisecond, StoreMinFree: 1 << 20})
	js, _ := jetstream.New(connect(t, srv[0].ClientURL()))
	retry(t, "create a stream with 3 replicas", func(ctx context.Context) error {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3})
		return err
	})
	publish := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := js.Publish(ctx, "t.x", make([]byte, 3000), jetstream.WithRetryAttempts(0))
		return err
	}
	retry(t, "the first message", func(context.Context) error { return publish() })
	var fillers []string
	for _, s := range stores {
		fillers = append(fillers, disktest.Fill(t, s))
	}
	for range 40 {
		if publish() != nil {
			break
		}
	}
	off := func() (n int) {
		for _, e := range srv {
			if strings.Contains(e.StoreError(), "JetStream is off") {
				n++
			}
		}
		return n
	}
	waitUntil(t, "a server to say its JetStream is off", func() bool { return off() > 0 })
	n := off()
	for _, f := range fillers {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * 20 * time.Millisecond) // checks that find room
	if off() != n {
		t.Errorf("%d servers say JetStream is off, %d did before the disks had room", off(), n)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a hang guard, not a timing assertion
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
