package modelstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/internal/natstest"
)

func sha(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func versions(e Entry) []int {
	var v []int
	for _, x := range e.Versions {
		v = append(v, x.Version)
	}
	return v
}

// TestRoundTrip: push, list, get, promote, rollback and fetch, the real
// YOLOv8n among the files.
func TestRoundTrip(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := testCtx(t)
			s := b.open(t)
			v1, err := s.Push(ctx, "line3", assets.Model())
			if err != nil {
				t.Fatal(err)
			}
			want := Version{Name: "line3", Version: 1, SHA256: sha(t, assets.Model()), Input: []int64{1, 3, 640, 640},
				Decoder: "yolov8", DecoderClasses: 80, Quantized: "no (float32)", Source: "yolov8n.onnx"}
			if st, _ := os.Stat(assets.Model()); v1.Bytes != st.Size() {
				t.Errorf("bytes %d, the file has %d", v1.Bytes, st.Size())
			}
			if v1.PushedAt.IsZero() || len(v1.Classes) != 80 || v1.Classes[0] != "person" {
				t.Errorf("pushed_at %v, classes %v", v1.PushedAt, v1.Classes)
			}
			got := v1
			got.Bytes, got.PushedAt, got.Classes = 0, want.PushedAt, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("push:\n got %+v\nwant %+v", got, want)
			}
			if v1.Precision() != "float32" {
				t.Errorf("precision %q", v1.Precision())
			}
			v2, err := s.Push(ctx, "line3", qdq(t))
			if err != nil {
				t.Fatal(err)
			}
			if v2.Version != 2 || v2.Precision() != "int8" || !strings.HasPrefix(v2.Quantized, "yes: QDQ") || !slices.Equal(v2.Input, []int64{1, 3, 64, 64}) {
				t.Errorf("second push: %+v (%s)", v2, v2.Precision())
			}
			if _, err := s.Push(ctx, "dock", tinyDetector(t, "a")); err != nil {
				t.Fatal(err)
			}

			list, err := s.List(ctx)
			if err != nil || len(list) != 2 || list[0].Name != "dock" || list[1].Name != "line3" {
				t.Fatalf("list: %v %+v", err, list)
			}
			e := list[1]
			if e.Promoted != 1 || len(e.History) != 0 || !slices.Equal(versions(e), []int{1, 2}) {
				t.Errorf("the first version is promoted at once, the second waits: %+v", e)
			}
			if !e.Versions[0].PushedAt.Equal(v1.PushedAt) || e.Versions[1].SHA256 != v2.SHA256 {
				t.Errorf("list's versions differ from push's: %+v", e.Versions)
			}

			if err := s.Promote(ctx, "line3", 2); err != nil {
				t.Fatal(err)
			}
			if err := s.Promote(ctx, "line3", 2); err != nil { // again: no change
				t.Fatal(err)
			}
			v3, err := s.Push(ctx, "line3", tinyDetector(t, "b"))
			if err != nil || v3.Version != 3 {
				t.Fatalf("third push: %v %+v", err, v3)
			}
			if err := s.Promote(ctx, "line3", 3); err != nil {
				t.Fatal(err)
			}
			if e, _ := s.Get(ctx, "line3"); e.Promoted != 3 || !slices.Equal(e.History, []int{1, 2}) {
				t.Errorf("after promoting 2 (twice) and 3: %+v", e)
			}
			for _, want := range []int{2, 1} {
				got, err := s.Rollback(ctx, "line3")
				if err != nil || got != want {
					t.Fatalf("rollback: %d %v, want %d", got, err, want)
				}
			}
			_, err = s.Rollback(ctx, "line3")
			if err == nil || !strings.Contains(err.Error(), "nothing to roll back to: version 1 is the first promoted one") {
				t.Errorf("rollback with no history: %v", err)
			}
			if e, _ := s.Get(ctx, "line3"); e.Promoted != 1 || len(e.History) != 0 {
				t.Errorf("after rollbacks: %+v", e)
			}
			if err := s.Promote(ctx, "line3", 9); err == nil || !strings.Contains(err.Error(), "line3 has no version 9 (versions 1, 2, 3)") {
				t.Errorf("promote a missing version: %v", err)
			}
			if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `model "nope": no such model`) {
				t.Errorf("get an unknown name: %v", err)
			}
			if err := s.Promote(ctx, "nope", 1); !errors.Is(err, ErrNotFound) {
				t.Errorf("promote an unknown name: %v", err)
			}
			if _, err := s.Rollback(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("rollback an unknown name: %v", err)
			}

			// Fetch: the promoted one by default, named by its sha256, reused.
			cache := t.TempDir()
			p, v, err := s.Fetch(ctx, "line3", 0, cache)
			if err != nil || v.Version != 1 || p != filepath.Join(cache, v1.SHA256+".onnx") || sha(t, p) != v1.SHA256 {
				t.Fatalf("fetch the promoted: %v %s %+v", err, p, v)
			}
			before, _ := os.Stat(p)
			if p2, _, err := s.Fetch(ctx, "line3", 1, cache); err != nil || p2 != p {
				t.Fatalf("fetch again: %v %s", err, p2)
			}
			if after, _ := os.Stat(p); !os.SameFile(before, after) {
				t.Errorf("an intact copy was fetched again instead of reused")
			}
			// A damaged local copy is replaced.
			if err := os.WriteFile(p, []byte("damaged"), 0o644); err != nil {
				t.Fatal(err)
			}
			if p2, _, err := s.Fetch(ctx, "line3", 1, cache); err != nil || p2 != p || sha(t, p) != v1.SHA256 {
				t.Errorf("fetch over a damaged copy: %v", err)
			}
			if _, _, err := s.Fetch(ctx, "line3", 7, cache); err == nil || !strings.Contains(err.Error(), "line3@7: no such version") {
				t.Errorf("fetch a missing version: %v", err)
			}
		})
	}
}

// TestCandidate: a push puts the new version on trial (not the first,
// which is promoted); promoting it ends the trial; SetCandidate chooses
// another or none, and refuses what cannot be on trial.
func TestCandidate(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := testCtx(t)
			s := b.open(t)
			get := func() Entry {
				t.Helper()
				e, err := s.Get(ctx, "line3")
				if err != nil {
					t.Fatal(err)
				}
				return e
			}
			for i, want := range []int{0, 2, 3} {
				if _, err := s.Push(ctx, "line3", tinyDetector(t, fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
				if e := get(); e.Candidate != want || e.Promoted != 1 {
					t.Fatalf("push %d: candidate %d, promoted %d; want candidate %d", i+1, e.Candidate, e.Promoted, want)
				}
			}
			if err := s.SetCandidate(ctx, "line3", 2); err != nil || get().Candidate != 2 {
				t.Fatalf("candidate 2: %v %+v", err, get())
			}
			if err := s.Promote(ctx, "line3", 2); err != nil {
				t.Fatal(err)
			}
			if e := get(); e.Candidate != 0 || e.Promoted != 2 {
				t.Errorf("the candidate promoted: %+v", e)
			}
			if err := s.SetCandidate(ctx, "line3", 1); err != nil {
				t.Fatal(err)
			}
			if v, err := s.Rollback(ctx, "line3"); err != nil || v != 1 || get().Candidate != 0 {
				t.Errorf("rollback to the candidate: %d %v %+v", v, err, get())
			}
			if err := s.SetCandidate(ctx, "line3", 3); err != nil {
				t.Fatal(err)
			}
			if err := s.SetCandidate(ctx, "line3", 0); err != nil || get().Candidate != 0 {
				t.Errorf("end the trial: %v %+v", err, get())
			}
			if err := s.SetCandidate(ctx, "line3", 9); err == nil || !strings.Contains(err.Error(), "line3 has no version 9") {
				t.Errorf("a missing version on trial: %v", err)
			}
			if err := s.SetCandidate(ctx, "line3", 1); err == nil || !strings.Contains(err.Error(), "it is the promoted version") {
				t.Errorf("the promoted version on trial: %v", err)
			}
			if err := s.SetCandidate(ctx, "nope", 1); !errors.Is(err, ErrNotFound) {
				t.Errorf("an unknown name: %v", err)
			}
		})
	}
}

// TestFetchDetectsCorruption: a stored file whose bytes changed after the
// push is refused with the sha256 check, and leaves nothing in the cache.
func TestFetchDetectsCorruption(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := testCtx(t)
			s := b.open(t)
			if _, err := s.Push(ctx, "line3", tinyDetector(t, "a")); err != nil {
				t.Fatal(err)
			}
			v2, err := s.Push(ctx, "line3", tinyDetector(t, "b"))
			if err != nil {
				t.Fatal(err)
			}
			otherFile := tinyDetector(t, "c")
			other, _ := os.ReadFile(otherFile)
			b.corrupt(t, s, "line3", 2, other)
			cache := t.TempDir()
			_, _, err = s.Fetch(ctx, "line3", 2, cache)
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != CheckSHA256 {
				t.Fatalf("fetch a changed file: %v", err)
			}
			want := `model "line3"@2: sha256 mismatch: stored ` + v2.SHA256[:12] + "…, got " + sha(t, otherFile)[:12] + "…; push it again"
			if err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
			if left, _ := os.ReadDir(cache); len(left) != 0 {
				t.Errorf("a refused fetch left %v", left)
			}
			if _, v, err := s.Fetch(ctx, "line3", 0, cache); err != nil || v.Version != 1 {
				t.Errorf("the promoted version still fetches: %v", err)
			}
		})
	}
}

// TestBadInput: each refused file names its check; nothing is stored, the
// promoted version stays, and no temporary file is left behind.
func TestBadInput(t *testing.T) {
	cases := []struct {
		what, path, check string
		want              []string
	}{
		{"a text file", "testdata/notamodel.txt", CheckONNX, []string{`push "line3": testdata/notamodel.txt is not an ONNX model (truncated, or not protobuf)`, "export the detector to ONNX"}},
		{"a truncated YOLOv8n", "", CheckONNX, []string{"is not an ONNX model (truncated, or not protobuf): ", "push the .onnx file whole"}},
		{"a rank-3 input", "", CheckInput, []string{`input "images" has rank 3 ([3 64 64]); vigil needs one NCHW image input of rank 4`}},
		{"no detector output", "", CheckDecoder, []string{"no decoder for outputs output0 float32 [1,3,64,64]: output shape [1 3 64 64] is not a detector output"}},
		{"a missing file", "/nonexistent/model.onnx", CheckReadable, []string{"/nonexistent/model.onnx is not readable: no such file or directory"}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := testCtx(t)
			s := b.open(t)
			good, err := s.Push(ctx, "line3", tinyDetector(t, "a"))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cases {
				path := c.path
				switch c.what {
				case "a truncated YOLOv8n":
					path = truncated(t)
				case "a rank-3 input":
					path = rank3(t)
				case "no detector output":
					path = noDecoder(t)
				}
				_, err := s.Push(ctx, "line3", path)
				var ce *CheckError
				if !errors.As(err, &ce) || ce.Check != c.check {
					t.Errorf("%s: %v, want the %s check", c.what, err, c.check)
					continue
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %v\nlacks %q", c.what, err, w)
					}
				}
			}
			if _, err := s.Push(ctx, "line 3", tinyDetector(t, "b")); err == nil || !strings.Contains(err.Error(), `model name "line 3": use 1 to 64 letters, digits, '-' or '_'`) {
				t.Errorf("a bad name: %v", err)
			}
			e, err := s.Get(ctx, "line3")
			if err != nil || e.Promoted != good.Version || len(e.Versions) != 1 {
				t.Errorf("after refused pushes: %v %+v", err, e)
			}
			// A refused push takes no number: the next good one is 2.
			if v, err := s.Push(ctx, "line3", tinyDetector(t, "b")); err != nil || v.Version != 2 {
				t.Errorf("the push after refused ones: %v %+v", err, v)
			}
			if d, ok := s.(*Dir); ok {
				for _, dir := range []string{d.root, filepath.Join(d.root, "line3")} {
					des, _ := os.ReadDir(dir)
					for _, de := range des {
						if strings.HasPrefix(de.Name(), ".push-") || strings.HasPrefix(de.Name(), ".entry-") {
							t.Errorf("left behind: %s", filepath.Join(dir, de.Name()))
						}
					}
				}
			}
		})
	}
}

// TestConcurrentPushes: pushers of one name at once each get a number of
// their own, and every version is recorded.
func TestConcurrentPushes(t *testing.T) {
	const n = 4
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := testCtx(t)
			s := b.open(t)
			files := make([]string, n)
			for i := range files {
				files[i] = tinyDetector(t, string(rune('a'+i)))
			}
			got := make([]int, n)
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					v, err := s.Push(ctx, "dock", files[i])
					got[i], errs[i] = v.Version, err
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, []int{1, 2, 3, 4}) {
				t.Errorf("versions %v, want 1…4 each once", got)
			}
			e, err := s.Get(ctx, "dock")
			if err != nil || !slices.Equal(versions(e), []int{1, 2, 3, 4}) || e.Promoted == 0 {
				t.Errorf("entry: %v %+v", err, e)
			}
		})
	}
}

// TestVersionNumbersNeverReused: a number a failed push took stays unused.
func TestVersionNumbersNeverReused(t *testing.T) {
	r := record{Entry: Entry{Name: "line3", Versions: []Version{{Version: 1}, {Version: 2}}}, Last: 3}
	if v := r.take(); v != 4 {
		t.Errorf("after 1, 2 and a failed 3: %d", v)
	}
	r = record{Entry: Entry{Name: "line3", Versions: []Version{{Version: 5}}}}
	if v := r.take(); v != 6 {
		t.Errorf("a record without last: %d", v)
	}
}

// TestWatch: a watcher of a name not pushed yet sees it empty, then each
// push and promotion.
func TestWatch(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(testCtx(t))
			s := b.open(t)
			ch, err := s.Watch(ctx, "line7")
			if err != nil {
				t.Fatal(err)
			}
			next(t, ch, "no versions yet", func(e Entry) bool { return e.Name == "line7" && e.Promoted == 0 && len(e.Versions) == 0 })
			if _, err := s.Push(ctx, "line7", tinyDetector(t, "a")); err != nil {
				t.Fatal(err)
			}
			next(t, ch, "version 1 promoted", func(e Entry) bool { return e.Promoted == 1 && len(e.Versions) == 1 })
			if _, err := s.Push(ctx, "line7", tinyDetector(t, "b")); err != nil {
				t.Fatal(err)
			}
			next(t, ch, "version 2 pushed", func(e Entry) bool { return e.Promoted == 1 && len(e.Versions) == 2 })
			if err := s.Promote(ctx, "line7", 2); err != nil {
				t.Fatal(err)
			}
			next(t, ch, "version 2 promoted", func(e Entry) bool { return e.Promoted == 2 && slices.Equal(e.History, []int{1}) })
			if _, err := s.Rollback(ctx, "line7"); err != nil {
				t.Fatal(err)
			}
			next(t, ch, "rolled back to 1", func(e Entry) bool { return e.Promoted == 1 && len(e.History) == 0 })
			// Another name's change is not this watcher's.
			if _, err := s.Push(ctx, "line8", tinyDetector(t, "c")); err != nil {
				t.Fatal(err)
			}
			cancel()
			for e := range ch { // closed once ctx ends
				if e.Name != "line7" {
					t.Errorf("watch of line7 reported %q", e.Name)
				}
			}
		})
	}
}

// TestOpenNATSTakesExistingBuckets: a second opener sees the first's
// models; asking a lone server for 3 copies is an error naming the bucket.
func TestOpenNATSTakesExistingBuckets(t *testing.T) {
	ctx := testCtx(t)
	js := natstest.JetStream(t)
	a, err := OpenNATS(ctx, js, Options{Bucket: "M", TagsBucket: "T", MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Push(ctx, "line3", tinyDetector(t, "a")); err != nil {
		t.Fatal(err)
	}
	b, err := OpenNATS(ctx, js, Options{Bucket: "M", TagsBucket: "T"})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := b.Get(ctx, "line3"); err != nil || e.Promoted != 1 {
		t.Errorf("the second opener: %v %+v", err, e)
	}
	if st, err := js.Stream(ctx, "OBJ_M"); err != nil || st.CachedInfo().Config.MaxBytes != 64<<20 {
		t.Errorf("the bucket kept its size limit: %v", err)
	}
	if _, err := OpenNATS(ctx, js, Options{Bucket: "M", TagsBucket: "T", Replicas: 3}); err == nil || !strings.Contains(err.Error(), "bucket M") {
		t.Errorf("3 replicas on one server: %v", err)
	}
	if _, err := js.ObjectStore(ctx, DefaultBucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("named buckets only: %v", err)
	}
}

func TestParseRef(t *testing.T) {
	cases := []struct {
		ref     string
		name    string
		version int
		err     string
	}{
		{"line3", "line3", 0, ""},
		{"line3@2", "line3", 2, ""},
		{"Dock_2-b@10", "Dock_2-b", 10, ""},
		{strings.Repeat("a", 64), strings.Repeat("a", 64), 0, ""},
		{strings.Repeat("a", 65), "", 0, "use 1 to 64 letters"},
		{"", "", 0, "use 1 to 64 letters"},
		{"line 3", "", 0, "use 1 to 64 letters"},
		{"line3/x", "", 0, "use 1 to 64 letters"},
		{"line3@", "", 0, `version "" is not a number ≥ 1`},
		{"line3@0", "", 0, `version "0" is not a number ≥ 1`},
		{"line3@-1", "", 0, "is not a number"},
		{"line3@+1", "", 0, "is not a number"},
		{"line3@two", "", 0, "write NAME or NAME@VERSION (e.g. line3@2)"},
		{"line3@1@2", "", 0, "is not a number"},
	}
	for _, c := range cases {
		name, version, err := ParseRef(c.ref)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want %q", c.ref, err, c.err)
			}
			continue
		}
		if err != nil || name != c.name || version != c.version {
			t.Errorf("%q: %q %d %v", c.ref, name, version, err)
		}
		if Ref(name, version) != c.ref {
			t.Errorf("Ref(%q, %d) = %q", name, version, Ref(name, version))
		}
	}
}

func TestPrecision(t *testing.T) {
	for q, want := range map[string]string{
		"no (float32)":    "float32",
		"":                "float32",
		"float16 weights": "float16",
		"yes: QDQ (10 QuantizeLinear, 12 DequantizeLinear; integer tensors int8, uint8)":                      "int8",
		"yes: QDQ (1 QuantizeLinear, 1 DequantizeLinear; integer tensors int4); by vigil: minmax":             "int4",
		"yes: QOperator (integer operators such as QLinearConv)":                                              "int8 QOperator",
		"yes: QDQ (1 QuantizeLinear, 1 DequantizeLinear; integer tensors int8); float16 weights; by vigil: …": "int8+float16",
	} {
		if got := (Version{Quantized: q}).Precision(); got != want {
			t.Errorf("%q: %q, want %q", q, got, want)
		}
	}
}
