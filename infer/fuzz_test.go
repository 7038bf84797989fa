package infer

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/internal/fuzztest"
)

// FuzzParseRequest feeds the request reader anything a NATS subject may
// carry (another version's requests, a reply, another program's bytes): it
// must not panic; it either gives a request or an error that says it is
// about a request; and a request it reads is written back byte for byte
// (each value has one encoding) and reads back equal.
func FuzzParseRequest(f *testing.F) {
	reqs, reps := encodings(f)
	for _, b := range reqs {
		f.Add(b)
	}
	f.Add(reps["info"])
	f.Add([]byte("VGRQ\x02\x01\x00"))
	f.Add([]byte("VGRQ\x01\x04\x00\x01\x01a\x03\x01\x02\x00\x00\x00\x3f\x00\x00\x00\x00\x01\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzztest.Watchdog(t)
		r, err := ParseRequest(b)
		if err != nil {
			if r != nil || !strings.HasPrefix(err.Error(), "infer request: ") {
				t.Fatalf("%q: %+v, %v", b, r, err)
			}
			return
		}
		again, err := AppendRequest(nil, r)
		if err != nil {
			t.Fatalf("%q: read as %+v, does not encode: %v", b, r, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%q: read as %+v, written as %q", b, r, again)
		}
		back, err := ParseRequest(again)
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("%q: read as %+v, reads back as %+v (%v)", b, r, back, err)
		}
	})
}

// FuzzParseReply is FuzzParseRequest for replies.
func FuzzParseReply(f *testing.F) {
	reqs, reps := encodings(f)
	for _, b := range reps {
		f.Add(b)
	}
	f.Add(reqs["tensors"])
	f.Add([]byte("VGRP\x01\x00\x00\x00\x01\x02\x00\x02\x01a\x00\x01\x01b\x01\x03\x80\x05\x80\x05\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzztest.Watchdog(t)
		r, err := ParseReply(b)
		if err != nil {
			if r != nil || !strings.HasPrefix(err.Error(), "infer reply: ") {
				t.Fatalf("%q: %+v, %v", b, r, err)
			}
			return
		}
		again, err := AppendReply(nil, r)
		if err != nil {
			t.Fatalf("%q: read as %+v, does not encode: %v", b, r, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%q: read as %+v, written as %q", b, r, again)
		}
		back, err := ParseReply(again)
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("%q: read as %+v, reads back as %+v (%v)", b, r, back, err)
		}
	})
}
