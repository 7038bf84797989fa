package alerts

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func openSpool(t *testing.T, o SpoolOptions) *Spool {
	t.Helper()
	s, err := OpenSpool(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t *testing.T, s *Spool, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := s.Append("vigil.cam.events.door", fmt.Sprintf("id-%d", i), []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
}

// drain acks everything pending and returns the ids in order.
func drain(t *testing.T, s *Spool) []string {
	t.Helper()
	var ids []string
	for {
		e, ok := s.Head()
		if !ok {
			return ids
		}
		ids = append(ids, e.MsgID)
		if err := s.Ack(e.Seq); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("id-%d", i))
	}
	return out
}

func TestSpoolSurvivesACrash(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, SpoolOptions{Dir: dir, SegmentBytes: 200}) // a few records per segment
	appendN(t, s, 1, 10)
	for range 4 { // 4 delivered before the crash
		e, _ := s.Head()
		s.Ack(e.Seq)
	}
	// No Close: the process dies here. What was appended is on disk.
	s2 := openSpool(t, SpoolOptions{Dir: dir, SegmentBytes: 200})
	e, ok := s2.Head()
	if !ok || e.MsgID != "id-5" || e.Subject != "vigil.cam.events.door" || string(e.Data) != `{"n":5}` || e.Seq != 5 {
		t.Fatalf("head after reopen: %+v %v", e, ok)
	}
	appendN(t, s2, 11, 12)
	if got := drain(t, s2); !reflect.DeepEqual(got, ids(5, 12)) {
		t.Fatalf("after reopen %v", got)
	}
	// Fully delivered segments are gone; the last one stays to append to.
	segs, _ := filepath.Glob(filepath.Join(dir, segPrefix+"*"))
	if len(segs) != 1 {
		t.Errorf("%d segment files left after everything was acknowledged: %v", len(segs), segs)
	}
	s2.Close()
	s3 := openSpool(t, SpoolOptions{Dir: dir})
	if st := s3.Stats(); st.Pending != 0 {
		t.Errorf("%d pending after all were acknowledged", st.Pending)
	}
	appendN(t, s3, 13, 13)
	if e, _ := s3.Head(); e.Seq != 13 {
		t.Errorf("seq after reopen %d, want 13: a seq must never be reused", e.Seq)
	}
}

func TestSpoolCutsATornRecord(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, SpoolOptions{Dir: dir})
	appendN(t, s, 1, 3)
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, segPrefix+"*"))
	f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := encodeRecord(Entry{Seq: 4, Subject: "s", MsgID: "id-4", Data: []byte("{}"), Accepted: time.Now()})
	f.Write(rec[:len(rec)-3]) // the crash came mid-write
	f.Close()
	s2 := openSpool(t, SpoolOptions{Dir: dir})
	appendN(t, s2, 4, 5) // appends after the good data
	if got := drain(t, s2); !reflect.DeepEqual(got, ids(1, 5)) {
		t.Fatalf("got %v", got)
	}
}

func TestSpoolDropsOldestWhenFull(t *testing.T) {
	var dropped []int
	rec := int64(len(encodeRecord(Entry{Subject: "vigil.cam.events.door", MsgID: "id-1", Data: []byte(`{"n":1}`)})))
	s := openSpool(t, SpoolOptions{Dir: t.TempDir(), MaxBytes: 5 * rec, OnDrop: func(n int, _ string) { dropped = append(dropped, n) }})
	appendN(t, s, 1, 8)
	if st := s.Stats(); st.Pending != 5 || st.Dropped != 3 || st.Bytes > 5*rec {
		t.Fatalf("stats %+v", st)
	}
	if !reflect.DeepEqual(dropped, []int{1, 1, 1}) {
		t.Errorf("drops reported %v", dropped)
	}
	if got := drain(t, s); !reflect.DeepEqual(got, ids(4, 8)) {
		t.Fatalf("kept %v, want the newest five", got)
	}
	if _, err := s.Append("s", "big", make([]byte, 6*rec)); err == nil {
		t.Error("an entry larger than the spool was accepted")
	}
}

func TestSpoolDropsWhatIsTooOld(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	var reasons []string
	dir := t.TempDir()
	o := SpoolOptions{Dir: dir, MaxAge: time.Hour, Now: func() time.Time { return now }, OnDrop: func(n int, r string) { reasons = append(reasons, fmt.Sprint(n, " ", r)) }}
	s := openSpool(t, o)
	appendN(t, s, 1, 2)
	now = now.Add(40 * time.Minute)
	appendN(t, s, 3, 3)
	now = now.Add(21 * time.Minute) // 1 and 2 are 61 min old
	if e, _ := s.Head(); e.MsgID != "id-3" {
		t.Fatalf("head %s", e.MsgID)
	}
	if !reflect.DeepEqual(reasons, []string{"2 older than the spool's max age"}) {
		t.Errorf("drops %q", reasons)
	}
	// The drop is durable: a restart does not bring them back.
	s.Close()
	s2 := openSpool(t, o)
	if got := drain(t, s2); !reflect.DeepEqual(got, ids(3, 3)) {
		t.Errorf("after reopen %v", got)
	}
}

func TestSpoolRejectsNoDir(t *testing.T) {
	if _, err := OpenSpool(SpoolOptions{}); err == nil {
		t.Error("no error without a directory")
	}
}
