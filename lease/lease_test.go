package lease

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/internal/natstest"
)

func open(t *testing.T, js jetstream.JetStream, ttl time.Duration, now func() time.Time) *Bucket {
	t.Helper()
	b, err := Open(ctx(t), js, Options{Name: "VIGIL_LEASES", TTL: ttl, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// eventually polls cond; the bound guards against a hang only.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAcquireIsExclusive(t *testing.T) {
	b := open(t, natstest.JetStream(t), 5*time.Second, nil)
	a, err := b.Acquire(ctx(t), "cam-1", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx(t), "cam-1", "node-b"); !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "node-a") {
		t.Errorf("a second holder: %v", err)
	}
	who, epoch, err := b.Holder(ctx(t), "cam-1")
	if err != nil || who != "node-a" || epoch != a.Epoch() {
		t.Errorf("Holder = %q %d %v, want node-a %d", who, epoch, err, a.Epoch())
	}
	other, err := b.Acquire(ctx(t), "cam-2", "node-b")
	if err != nil || other.Epoch() <= a.Epoch() {
		t.Errorf("another key: %v, epoch %d after %d", err, other.Epoch(), a.Epoch())
	}
}

// TestRenewalsKeepTheLease: renewed well within its TTL, a lease outlives
// three TTLs and nobody else can take it meanwhile.
func TestRenewalsKeepTheLease(t *testing.T) {
	const ttl = time.Second
	b := open(t, natstest.JetStream(t), ttl, nil)
	a, err := b.Acquire(ctx(t), "cam-1", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(3 * ttl); time.Now().Before(end); time.Sleep(ttl / 4) {
		if err := a.Renew(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if !a.Valid(time.Now(), ttl/5) {
			t.Fatal("invalid right after a renewal")
		}
		if _, err := b.Acquire(ctx(t), "cam-1", "node-b"); !errors.Is(err, ErrHeld) {
			t.Fatalf("taken from a renewing holder: %v", err)
		}
	}
	if who, epoch, _ := b.Holder(ctx(t), "cam-1"); who != "node-a" || epoch != a.Epoch() {
		t.Errorf("holder %q at epoch %d: renewals write the key, the epoch stays %d", who, epoch, a.Epoch())
	}
}

// TestExpiryHandsTheLeaseOver: a holder that stops renewing loses the
// lease to the next one, with a greater epoch, and learns it: Valid says
// no before the other could take it, and Renew fails.
func TestExpiryHandsTheLeaseOver(t *testing.T) {
	b := open(t, natstest.JetStream(t), time.Second, nil)
	a, err := b.Acquire(ctx(t), "cam-1", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	var next *Lease
	eventually(t, "node-b taking the expired lease", func() bool {
		next, err = b.Acquire(ctx(t), "cam-1", "node-b")
		return err == nil
	})
	if a.Valid(time.Now(), 0) {
		t.Error("the old holder still thinks it holds the lease")
	}
	if next.Epoch() <= a.Epoch() {
		t.Errorf("epoch %d after %d: it must grow", next.Epoch(), a.Epoch())
	}
	if err := a.Renew(ctx(t)); !errors.Is(err, ErrLost) {
		t.Errorf("the old holder renewed: %v", err)
	}
	if err := next.Renew(ctx(t)); err != nil {
		t.Errorf("the new holder: %v", err)
	}
}

func TestReleaseHandsTheLeaseOverAtOnce(t *testing.T) {
	b := open(t, natstest.JetStream(t), time.Hour, nil)
	a, err := b.Acquire(ctx(t), "cam-1", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if a.Valid(time.Now(), 0) {
		t.Error("valid after its release")
	}
	next, err := b.Acquire(ctx(t), "cam-1", "node-b")
	if err != nil || next.Epoch() <= a.Epoch() {
		t.Fatalf("acquire after a release: %v", err)
	}
	if err := a.Renew(ctx(t)); !errors.Is(err, ErrLost) {
		t.Errorf("renewed a released lease: %v", err)
	}
	if err := a.Release(ctx(t)); !errors.Is(err, ErrLost) {
		t.Errorf("released another holder's lease: %v", err)
	}
}

// TestValidStopsBeforeTheKeyCanExpire, on an injected clock.
func TestValidStopsBeforeTheKeyCanExpire(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	now := t0
	const ttl, margin = 4 * time.Second, time.Second
	b := open(t, natstest.JetStream(t), ttl, func() time.Time { return now })
	a, err := b.Acquire(ctx(t), "cam-1", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Valid(t0.Add(ttl-margin-time.Nanosecond), margin) || a.Valid(t0.Add(ttl-margin), margin) {
		t.Error("valid must end at the acquisition's send time + TTL - margin")
	}
	now = t0.Add(2 * time.Second)
	if err := a.Renew(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if !a.Valid(now.Add(ttl-margin-time.Nanosecond), margin) || a.Valid(now.Add(ttl-margin), margin) {
		t.Error("a renewal moves the end to its send time + TTL - margin")
	}
}

func TestCorruptLeaseValue(t *testing.T) {
	js := natstest.JetStream(t)
	b := open(t, js, time.Second, nil)
	if _, err := b.kv.Put(ctx(t), "cam-1", []byte("garbage\x00")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx(t), "cam-1", "node-a"); !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "not a lease record") {
		t.Errorf("corrupt value: %v", err)
	}
	if _, _, err := b.Holder(ctx(t), "cam-1"); err == nil || !strings.Contains(err.Error(), `"cam-1"`) {
		t.Errorf("Holder of a corrupt value: %v", err)
	}
	eventually(t, "the corrupt value expiring", func() bool {
		_, err := b.Acquire(ctx(t), "cam-1", "node-a")
		return err == nil
	})
}

func TestOpenChecksTheTTL(t *testing.T) {
	js := natstest.JetStream(t)
	open(t, js, time.Second, nil)
	open(t, js, time.Second, nil) // the same: fine
	if _, err := Open(ctx(t), js, Options{Name: "VIGIL_LEASES", TTL: 2 * time.Second}); err == nil || !strings.Contains(err.Error(), "exists with TTL 1s") {
		t.Errorf("another TTL: %v", err)
	}
	if _, err := Open(ctx(t), js, Options{Name: "X", TTL: 0}); err == nil || !strings.Contains(err.Error(), "TTL") {
		t.Errorf("no TTL: %v", err)
	}
}

// TestWatchSeesHoldersComeAndGo: a watcher learns of a take, of the
// holder's info, and of an expiry as it happens, from the limit marker.
func TestWatchSeesHoldersComeAndGo(t *testing.T) {
	b := open(t, natstest.JetStream(t), time.Second, nil)
	early, err := b.Acquire(ctx(t), "node-0", "node-0")
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	next := func() Entry {
		t.Helper()
		select {
		case e, ok := <-w:
			if !ok {
				t.Fatal("watch closed")
			}
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("nothing watched")
		}
		return Entry{}
	}
	if e := next(); e.Key != "node-0" || e.Holder != "node-0" || e.Epoch != early.Epoch() {
		t.Errorf("initial state %+v", e)
	}
	if e := next(); e.Key != "" {
		t.Errorf("want the end of the initial state, got %+v", e)
	}

	a, err := b.Acquire(ctx(t), "cam-1", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Key != "cam-1" || e.Holder != "node-a" || e.Epoch != a.Epoch() {
		t.Errorf("take: %+v, epoch %d", e, a.Epoch())
	}
	if err := a.SetInfo([]byte(`{"load":0.5}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.SetInfo([]byte(`{not json`)); err == nil {
		t.Error("SetInfo took bad JSON")
	}
	if err := a.Renew(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Holder != "node-a" || e.Epoch != a.Epoch() || string(e.Info) != `{"load":0.5}` {
		t.Errorf("renewal: %+v (info %s), epoch %d", e, e.Info, a.Epoch())
	}
	// node-0 and cam-1 now expire, unrenewed: each comes with no holder.
	gone := map[string]bool{}
	for len(gone) < 2 {
		e := next()
		if e.Holder != "" || !e.Expired {
			t.Fatalf("while waiting for expiries: %+v", e)
		}
		gone[e.Key] = true
	}
	if !gone["node-0"] || !gone["cam-1"] {
		t.Errorf("expired: %v", gone)
	}
}

func TestRevokeStopsAtOnce(t *testing.T) {
	b := open(t, natstest.JetStream(t), time.Hour, nil)
	a, err := b.Acquire(ctx(t), "cam-1", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	a.Revoke()
	if a.Valid(time.Now(), 0) {
		t.Error("valid after Revoke")
	}
	if who, _, _ := b.Holder(ctx(t), "cam-1"); who != "node-a" {
		t.Errorf("Revoke wrote the key: holder %q", who)
	}
	w, err := b.Watch(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	<-w // cam-1 held
	<-w // end of the initial state
	if err := a.Release(ctx(t)); err != nil {
		t.Errorf("release after revoke: %v", err)
	}
	if e := <-w; e.Key != "cam-1" || e.Holder != "" || e.Expired {
		t.Errorf("a release watched as %+v", e)
	}
}

// TestRenewAfterALostAnswer: a renewal written but whose answer never
// came (the holder's revision is behind) is not a lost lease.
func TestRenewAfterALostAnswer(t *testing.T) {
	b := open(t, natstest.JetStream(t), time.Hour, nil)
	a, err := b.Acquire(ctx(t), "cam-1", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.kv.Update(ctx(t), "cam-1", a.value, a.rev); err != nil { // the write whose answer was lost
		t.Fatal(err)
	}
	if err := a.Renew(ctx(t)); err != nil {
		t.Fatalf("renew after a lost answer: %v", err)
	}
	if err := a.Renew(ctx(t)); err != nil {
		t.Fatalf("the next renewal: %v", err)
	}
	// Another holder's write is a loss, even when its holder has the same
	// name (the node restarted): the epoch tells them apart.
	if err := a.Release(ctx(t)); err != nil {
		t.Fatal(err)
	}
	again, err := b.Acquire(ctx(t), "cam-1", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Renew(ctx(t)); !errors.Is(err, ErrLost) {
		t.Errorf("the old lease renewed over the new one (epoch %d): %v", again.Epoch(), err)
	}
}
