package modelstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Version is one pushed model file.
type Version struct {
	Name      string    `json:"name"`
	Version   int       `json:"version"` // 1, 2, 3… per name, never reused
	SHA256    string    `json:"sha256"`  // hex
	Bytes     int64     `json:"bytes"`
	PushedAt  time.Time `json:"pushed_at"`
	Input     []int64   `json:"input"` // e.g. [1 3 640 640]; -1 for a dynamic dim
	Classes   []string  `json:"classes"`
	Decoder   string    `json:"decoder"`
	Quantized string    `json:"quantized"`        // "no", or how (model.Info.Quantized)
	Source    string    `json:"source,omitempty"` // the pushed file's base name
	// DecoderClasses is the class count the decoder reads off the output
	// shape (0 for end2end outputs): what Classes holds when the model
	// carries no names.
	DecoderClasses int `json:"decoder_classes,omitempty"`
}

// Ref is the version's reference, "line3@2".
func (v Version) Ref() string { return Ref(v.Name, v.Version) }

// Precision says in a word or two how the weights are stored: "float32",
// "float16", "int8", "int8 QOperator", …; Quantized has the details.
func (v Version) Precision() string {
	q := v.Quantized
	if q == "" || strings.HasPrefix(q, "no") {
		if i, j := strings.Index(q, "("), strings.LastIndex(q, ")"); i >= 0 && j > i {
			return q[i+1 : j]
		}
		return "float32"
	}
	var kinds []string
	if strings.Contains(q, "QOperator") {
		kinds = append(kinds, "int8 QOperator")
	} else if _, ints, ok := strings.Cut(q, "integer tensors "); ok {
		ints, _, _ = strings.Cut(ints, ")")
		first, _, _ := strings.Cut(ints, ",")
		if first = strings.TrimSpace(first); first == "" {
			first = "int8"
		}
		kinds = append(kinds, first)
	}
	if strings.Contains(q, "float16") {
		kinds = append(kinds, "float16")
	}
	if len(kinds) == 0 {
		return "quantized"
	}
	return strings.Join(kinds, "+")
}

// Entry is a name's versions and which one is promoted.
type Entry struct {
	Name     string `json:"name"`
	Promoted int    `json:"promoted"` // 0: none yet
	History  []int  `json:"history"`  // promoted versions before, oldest first: what rollback returns to
	// Candidate is the version on trial: the nodes that follow the name
	// run it in shadow beside the promoted one and report how they agree.
	// A push makes the new version the candidate (but the first, which is
	// promoted); promoting it ends the trial. 0: none.
	Candidate int       `json:"candidate,omitempty"`
	Versions  []Version `json:"versions"`
}

// Version is the entry's version v.
func (e Entry) Version(v int) (Version, bool) {
	for _, x := range e.Versions {
		if x.Version == v {
			return x, true
		}
	}
	return Version{}, false
}

// PromotedVersion is the promoted version; false when none is.
func (e Entry) PromotedVersion() (Version, bool) {
	if e.Promoted == 0 {
		return Version{}, false
	}
	return e.Version(e.Promoted)
}

// Store keeps model versions: NATS for a fleet, Dir for a standalone vigil.
type Store interface {
	// Push checks path (readable, an ONNX model, one input of rank 4, a
	// detector vigil can decode: model.Inspect's decoder), stores it as the
	// name's next version, and returns it. The first version of a name is
	// promoted at once.
	Push(ctx context.Context, name, path string) (Version, error)
	List(ctx context.Context) ([]Entry, error)
	Get(ctx context.Context, name string) (Entry, error) // ErrNotFound (wrapped) for an unknown name
	Promote(ctx context.Context, name string, version int) error
	// SetCandidate puts version on trial in shadow (0: ends the trial).
	SetCandidate(ctx context.Context, name string, version int) error
	Rollback(ctx context.Context, name string) (int, error) // back to the previous promoted version; error naming the reason when there is none
	// Fetch makes a local copy of the name's version (0: the promoted one)
	// under dir, named by its sha256 (reused when already there and
	// intact), checks its sha256 and returns its path.
	Fetch(ctx context.Context, name string, version int, dir string) (string, Version, error)
	// Watch reports the name's Entry now and after every change (push,
	// promote, rollback) until ctx ends. A name not pushed yet is reported
	// as an Entry with no versions; a reader that falls behind gets the
	// latest Entry, not every one between.
	Watch(ctx context.Context, name string) (<-chan Entry, error)
}

// ErrNotFound is an unknown model name.
var ErrNotFound = errors.New("no such model")

// The checks a file must pass, as CheckError.Check names them.
const (
	CheckReadable = "readable" // the file can be read
	CheckONNX     = "onnx"     // it parses as an ONNX model with a graph
	CheckInput    = "input"    // one float32 NCHW image input of rank 4
	CheckDecoder  = "decoder"  // an output vigil's detector decodes
	CheckSHA256   = "sha256"   // a fetched copy has the pushed bytes
)

// CheckError is a model file refused by one of Push's checks, or a fetched
// copy whose sha256 differs from the pushed one. Its message names the
// check and the fix; Check names it for programs (/api).
type CheckError struct {
	Check string
	Err   error
}

func (e *CheckError) Error() string { return e.Err.Error() }
func (e *CheckError) Unwrap() error { return e.Err }

func refuse(check, format string, args ...any) error {
	return &CheckError{Check: check, Err: fmt.Errorf(format, args...)}
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckName says why name cannot name a model, or nil.
func CheckName(name string) error {
	if !nameRe.MatchString(name) {
		return fmt.Errorf("model name %q: use 1 to 64 letters, digits, '-' or '_' (e.g. line3)", name)
	}
	return nil
}

// ParseRef reads "NAME" (version 0: follow the promoted one) or
// "NAME@VERSION"; names are [A-Za-z0-9_-]{1,64}.
func ParseRef(ref string) (name string, version int, err error) {
	name, v, pinned := strings.Cut(ref, "@")
	if err := CheckName(name); err != nil {
		return "", 0, fmt.Errorf("model %q: %w; write NAME or NAME@VERSION", ref, err)
	}
	if !pinned {
		return name, 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || strings.HasPrefix(v, "+") {
		return "", 0, fmt.Errorf("model %q: version %q is not a number ≥ 1; write NAME or NAME@VERSION (e.g. %s@2)", ref, v, name)
	}
	return name, n, nil
}

// Ref writes a reference ParseRef reads: "line3@2", or "line3" for
// version 0 (the promoted one).
func Ref(name string, version int) string {
	if version == 0 {
		return name
	}
	return fmt.Sprintf("%s@%d", name, version)
}

// record is what a store keeps for a name: the Entry and the highest
// version number handed out, which may be above the last stored version
// when a push failed after taking its number.
type record struct {
	Entry
	Last int `json:"last"`
}

// normalize sorts the versions and gives nil lists as empty ones, so that
// JSON readers see [] rather than null.
func (r *record) normalize() {
	if r.History == nil {
		r.History = []int{}
	}
	if r.Versions == nil {
		r.Versions = []Version{}
	}
	slices.SortFunc(r.Versions, func(a, b Version) int { return a.Version - b.Version })
	for _, v := range r.Versions {
		r.Last = max(r.Last, v.Version)
	}
}

// take hands out the next version number.
func (r *record) take() int {
	r.normalize()
	r.Last++
	return r.Last
}

// add stores v, promoting it when nothing is promoted yet, else making
// it the candidate.
func (r *record) add(v Version) {
	r.Versions = append(r.Versions, v)
	if r.Promoted == 0 {
		r.Promoted = v.Version
	} else {
		r.Candidate = v.Version
	}
	r.normalize()
}

// candidate puts version on trial; 0 ends the trial.
func (r *record) candidate(version int) error {
	if version == 0 {
		r.Candidate = 0
		return nil
	}
	if version < 0 {
		return fmt.Errorf("shadow %s: version %d is not a number ≥ 1; vigil model list shows the versions", r.Name, version)
	}
	if _, ok := r.Version(version); !ok {
		return fmt.Errorf("shadow %s: %s has no version %d (%s); vigil model list shows them", Ref(r.Name, version), r.Name, version, versionList(r.Entry))
	}
	if r.Promoted == version {
		return fmt.Errorf("shadow %s: it is the promoted version; a candidate is checked against it, so name another", Ref(r.Name, version))
	}
	r.Candidate = version
	return nil
}

// promote makes version the promoted one; promoting the promoted version
// changes nothing.
func (r *record) promote(version int) error {
	if version < 1 {
		return fmt.Errorf("promote %s: version %d is not a number ≥ 1 (a damaged entry?); vigil model list shows the versions", r.Name, version)
	}
	if _, ok := r.Version(version); !ok {
		return fmt.Errorf("promote %s: %s has no version %d (%s); vigil model list shows them", Ref(r.Name, version), r.Name, version, versionList(r.Entry))
	}
	if r.Candidate == version {
		r.Candidate = 0 // its trial is over
	}
	if r.Promoted == version {
		return nil
	}
	if r.Promoted != 0 {
		r.History = append(r.History, r.Promoted)
	}
	r.Promoted = version
	return nil
}

// rollback promotes the version promoted before the current one.
func (r *record) rollback() (int, error) {
	if len(r.History) == 0 {
		if r.Promoted == 0 {
			return 0, fmt.Errorf("rollback %q: nothing to roll back: no version is promoted", r.Name)
		}
		return 0, fmt.Errorf("rollback %q: nothing to roll back to: version %d is the first promoted one (no earlier promotion); promote another with vigil model promote %s@VERSION", r.Name, r.Promoted, r.Name)
	}
	prev := r.History[len(r.History)-1]
	r.History = r.History[:len(r.History)-1]
	r.Promoted = prev
	if r.Candidate == prev {
		r.Candidate = 0
	}
	return prev, nil
}

func versionList(e Entry) string {
	if len(e.Versions) == 0 {
		return "none stored"
	}
	s := make([]string, len(e.Versions))
	for i, v := range e.Versions {
		s[i] = strconv.Itoa(v.Version)
	}
	return "versions " + strings.Join(s, ", ")
}

// pick is the version Fetch wants: version, or the promoted one for 0.
func pick(e Entry, version int) (Version, error) {
	if version == 0 {
		if e.Promoted == 0 {
			return Version{}, fmt.Errorf("model %q has no promoted version; promote one with vigil model promote %s@VERSION", e.Name, e.Name)
		}
		version = e.Promoted
	}
	v, ok := e.Version(version)
	if !ok {
		return Version{}, fmt.Errorf("model %s: no such version (%s)", Ref(e.Name, version), versionList(e))
	}
	return v, nil
}

// notFound is the error for an unknown name in where (a bucket, a folder).
func notFound(name, where string) error {
	return fmt.Errorf("model %q: %w in %s; push it with vigil model push FILE --name %s", name, ErrNotFound, where, name)
}

// latest sends e on ch (capacity 1) replacing an unread one, so that a
// slow reader gets the newest Entry and the sender never waits. Only one
// goroutine sends on ch.
func latest(ch chan Entry, e Entry) {
	select {
	case ch <- e:
		return
	default:
	}
	select {
	case <-ch:
	default:
	}
	ch <- e
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}
