package modelstore

import (
	"encoding/json"
	"testing"
)

// FuzzRecord: whatever JSON a bucket or a folder holds for a name (a
// damaged entry, an old or hand-edited one), reading it and working on it
// never panics, and a version number handed out next is above every
// stored one.
func FuzzRecord(f *testing.F) {
	f.Add([]byte(`{"name":"line3","promoted":2,"history":[1],"candidate":3,"versions":[{"version":1},{"version":2},{"version":3}],"last":3}`))
	f.Add([]byte(`{"promoted":9,"history":[7,-1,0],"candidate":-4,"versions":[{"version":2},{"version":2},{"version":-3}],"last":-8}`))
	f.Add([]byte(`{"versions":null,"history":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &record{}
		if json.Unmarshal(b, r) != nil {
			return
		}
		r.Name = "fuzz"
		r.normalize()
		if r.History == nil || r.Versions == nil {
			t.Fatalf("nil lists after normalize: %+v", r)
		}
		_, _ = pick(r.Entry, 0)
		_, _ = pick(r.Entry, r.Candidate)
		_ = versionList(r.Entry)
		for _, v := range r.Versions {
			if v.Version < 1 {
				if r.promote(v.Version) == nil {
					t.Fatalf("promoted version %d", v.Version)
				}
				continue
			}
			if err := r.promote(v.Version); err != nil {
				t.Fatalf("promote stored version %d: %v", v.Version, err)
			}
			if r.Promoted != v.Version || r.Candidate == v.Version {
				t.Fatalf("after promoting %d: promoted %d, candidate %d", v.Version, r.Promoted, r.Candidate)
			}
		}
		for range len(r.History) + 1 {
			if _, err := r.rollback(); err != nil {
				break
			}
		}
		if err := r.candidate(r.Promoted); r.Promoted != 0 && err == nil {
			t.Fatalf("the promoted version %d taken as a candidate", r.Promoted)
		}
		next := r.take()
		for _, v := range r.Versions {
			if v.Version >= next {
				t.Fatalf("handed out %d with version %d stored", next, v.Version)
			}
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatal(err)
		}
	})
}
