package infer

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vision/vigil/detect"
)

const source = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// ramp is n values from -a to b, evenly spaced.
func ramp(n int, a, b float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = -a + (a+b)*float32(i)/float32(max(n-1, 1))
	}
	return v
}

func mustTensor(t testing.TB, name string, shape []int64, src []float32, d DType) Tensor {
	t.Helper()
	tt, err := EncodeTensor(name, shape, src, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// sampleRequests are a request of each kind, small enough to cut at every
// byte and to seed the fuzzer.
func sampleRequests(t testing.TB) map[string]*Request {
	raw := make([]byte, 4*3*3)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	return map[string]*Request{
		"info":     {Kind: KindInfo},
		"info-src": {Kind: KindInfo, Source: source},
		"jpeg":     {Kind: KindJPEG, Source: source, Image: []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0xff, 0xd9}},
		"raw":      {Kind: KindRaw, Width: 4, Height: 3, Image: raw},
		"tensors": {Kind: KindTensors, Source: source, Tensors: []Tensor{
			mustTensor(t, "/model.4/cv2/act/Mul_output_0", []int64{1, 2, 2, 2}, ramp(8, 1.5, 3), Uint8),
			mustTensor(t, "/model.6/cv2/act/Mul_output_0", []int64{1, 3, 1, 1}, []float32{-0.5, 0, 65504}, Float16),
			mustTensor(t, "/model.9/cv2/act/Mul_output_0", []int64{2}, []float32{float32(math.Pi), -1e-30}, Float32),
		}},
	}
}

func sampleReplies() map[string]*Reply {
	return map[string]*Reply{
		"empty": {},
		"info": {Source: source, Took: 1500 * time.Microsecond, Info: &Info{
			Part: "tail", Source: source, Labels: []string{"person", "bicycle", "", "traffic light"},
			Inputs: []TensorSpec{{Name: "/model.4/cv2/act/Mul_output_0", Shape: []int64{1, 64, 80, 80}}, {Name: "/model.6/cv2/act/Mul_output_0", Shape: []int64{1, 128, 40, 40}}},
			InputW: 640, InputH: 640,
		}},
		"info-whole": {Info: &Info{Part: "whole", Inputs: []TensorSpec{{Name: "images", Shape: []int64{1, 3, 640, 640}}}}},
		"detections": {Source: source, Took: 23 * time.Millisecond, Detections: []detect.Detection{
			{Class: 0, Score: 0.91, Box: detect.Box{X1: 10.5, Y1: 20, X2: 110.25, Y2: 300}},
			{Class: 79, Score: 0.25, Box: detect.Box{X1: -3, Y1: 0, X2: 1920, Y2: 1080}},
			{Class: 300, Score: 1, Box: detect.Box{}},
		}},
		"error": {Error: `tensor "/model.4/cv2/act/Mul_output_0": shape [1 64 80 80], the tail wants [1 64 40 40]`, Source: source, Took: 7 * time.Microsecond},
	}
}

func TestRequestRoundTrip(t *testing.T) {
	for name, r := range sampleRequests(t) {
		t.Run(name, func(t *testing.T) {
			prefix := []byte("nats header")
			b, err := AppendRequest(prefix, r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("nats headerVGRQ\x01")) || b[16] != byte(r.Kind) {
				t.Fatalf("encoded as %q…", b[:min(len(b), 20)])
			}
			b = b[len(prefix):]
			got, err := ParseRequest(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("sent %+v\nparsed %+v", r, got)
			}
			again, err := AppendRequest(nil, got)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("written again as %x (%v), first %x", again, err, b)
			}
			// Image and Data alias the message.
			if len(got.Image) > 0 {
				got.Image[0] ^= 0xff
				if !bytes.Contains(b, got.Image) {
					t.Fatal("Image does not alias the message")
				}
			}
			for _, tt := range got.Tensors {
				tt.Data[0] ^= 0xff
				if !bytes.Contains(b, tt.Data) {
					t.Fatalf("tensor %q: Data does not alias the message", tt.Name)
				}
			}
		})
	}
}

func TestRequestValues(t *testing.T) {
	r := sampleRequests(t)["tensors"]
	b, err := AppendRequest(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float32{ramp(8, 1.5, 3), {-0.5, 0, 65504}, {float32(math.Pi), -1e-30}}
	for i, tt := range got.Tensors {
		v := make([]float32, tt.Len())
		if err := DecodeTensor(tt, v); err != nil {
			t.Fatal(err)
		}
		for j := range v {
			if d := math.Abs(float64(v[j] - want[i][j])); d > 4.5/255/2+1e-6 {
				t.Errorf("tensor %d value %d: sent %g, read %g", i, j, want[i][j], v[j])
			}
		}
	}
	if got.Tensors[2].Len() != 2 || got.Tensors[0].Len() != 8 || got.Tensors[0].Scale != float32(4.5/255.0) {
		t.Fatalf("len %d, %d, scale %g", got.Tensors[2].Len(), got.Tensors[0].Len(), got.Tensors[0].Scale)
	}
}

func TestReplyRoundTrip(t *testing.T) {
	for name, r := range sampleReplies() {
		t.Run(name, func(t *testing.T) {
			b, err := AppendReply(nil, r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("VGRP\x01")) {
				t.Fatalf("encoded as %q…", b[:min(len(b), 8)])
			}
			got, err := ParseReply(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("sent %+v\nparsed %+v", r, got)
			}
			if got.Info != nil && r.Info != nil && !reflect.DeepEqual(*got.Info, *r.Info) {
				t.Fatalf("info sent %+v\nparsed %+v", *r.Info, *got.Info)
			}
		})
	}
}

func TestReplyDropsLabelsAndNanoseconds(t *testing.T) {
	r := &Reply{Took: 1234567 * time.Nanosecond, Detections: []detect.Detection{{Class: 2, Label: "car", Score: 0.5, Box: detect.Box{X1: 1, Y1: 2, X2: 3, Y2: 4}}}}
	b, err := AppendReply(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseReply(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &Reply{Took: 1234 * time.Microsecond, Detections: []detect.Detection{{Class: 2, Score: 0.5, Box: detect.Box{X1: 1, Y1: 2, X2: 3, Y2: 4}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestReplyClipsLongError(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6000 bytes
	b, err := AppendReply(nil, &Reply{Error: long})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseReply(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Error) > maxError || !strings.HasSuffix(got.Error, "é…") || !strings.HasPrefix(long, strings.TrimSuffix(got.Error, "…")) {
		t.Fatalf("clipped to %d bytes: …%q", len(got.Error), got.Error[len(got.Error)-10:])
	}
}

func TestDType(t *testing.T) {
	for _, c := range []struct {
		names []string
		d     DType
		size  int
	}{
		{[]string{"float32", "f32"}, Float32, 4},
		{[]string{"float16", "f16"}, Float16, 2},
		{[]string{"uint8", "u8"}, Uint8, 1},
	} {
		for _, s := range c.names {
			d, err := ParseDType(s)
			if err != nil || d != c.d {
				t.Errorf("ParseDType(%q) = %v, %v", s, d, err)
			}
		}
		if c.d.String() != c.names[0] || c.d.Size() != c.size {
			t.Errorf("%d: %q, size %d", c.d, c.d.String(), c.d.Size())
		}
	}
	if DType(7).String() != "dtype(7)" || DType(7).Size() != 0 || DType(0).Size() != 0 {
		t.Errorf("dtype 7: %q, size %d", DType(7).String(), DType(7).Size())
	}
	_, err := ParseDType("fp32")
	if err == nil || !strings.Contains(err.Error(), `"fp32"`) || !strings.Contains(err.Error(), "float32, float16 or uint8") {
		t.Errorf("ParseDType(fp32): %v", err)
	}
	for k, s := range map[Kind]string{KindInfo: "info", KindJPEG: "jpeg", KindRaw: "raw", KindTensors: "tensors", 9: "kind(9)"} {
		if k.String() != s {
			t.Errorf("kind %d: %q", k, k.String())
		}
	}
}

func TestTensorLen(t *testing.T) {
	for _, c := range []struct {
		shape []int64
		n     int
	}{
		{nil, 1}, {[]int64{1, 64, 80, 80}, 409600}, {[]int64{3, 0, 2}, 0}, {[]int64{2, -1}, -1},
		{[]int64{1 << 32, 1 << 32}, -1}, {[]int64{math.MaxInt64, 2}, -1},
	} {
		if n := (Tensor{Shape: c.shape}).Len(); n != c.n {
			t.Errorf("%v: Len %d, want %d", c.shape, n, c.n)
		}
	}
}

// values is a spread of float32s over many magnitudes, both signs.
func values(n int) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((rng.Float64()*2 - 1) * math.Pow(10, float64(rng.IntN(9)-4)))
	}
	return v
}

func TestEncodeDecodeTensor(t *testing.T) {
	src := values(4000)
	src[10], src[11] = 0, 1000
	shape := []int64{2, 20, 100}
	for _, d := range []DType{Float32, Float16, Uint8} {
		t.Run(d.String(), func(t *testing.T) {
			storage := make([]byte, 0, 16)
			tt, err := EncodeTensor("x", shape, src, d, storage)
			if err != nil {
				t.Fatal(err)
			}
			if tt.Name != "x" || tt.DType != d || !reflect.DeepEqual(tt.Shape, shape) || len(tt.Data) != len(src)*d.Size() {
				t.Fatalf("%+v", tt)
			}
			got := make([]float32, len(src))
			if err := DecodeTensor(tt, got); err != nil {
				t.Fatal(err)
			}
			var lo, hi float32
			for _, v := range src {
				lo, hi = min(lo, v), max(hi, v)
			}
			for i, v := range src {
				g := got[i]
				switch d {
				case Float32:
					if math.Float32bits(g) != math.Float32bits(v) {
						t.Fatalf("value %d: sent %g, read %g", i, v, g)
					}
				case Float16:
					a := math.Abs(float64(v))
					if a < 6.2e-5 || a > 65504 { // only normal halves are held to 1e-3
						continue
					}
					if rel := math.Abs(float64(g-v)) / a; rel > 1e-3 {
						t.Fatalf("value %d: sent %g, read %g, relative error %g", i, v, g, rel)
					}
				case Uint8:
					if tt.Scale != float32((float64(hi)-float64(lo))/255) {
						t.Fatalf("scale %g for range [%g, %g]", tt.Scale, lo, hi)
					}
					if e := math.Abs(float64(g - v)); e > float64(tt.Scale)/2+1e-6*float64(hi-lo) {
						t.Fatalf("value %d: sent %g, read %g, error %g over scale/2 %g", i, v, g, e, tt.Scale/2)
					}
					if v == 0 && g != 0 {
						t.Fatalf("0 read as %g", g)
					}
				}
			}
			// dst is reused storage.
			again, err := EncodeTensor("x", shape, src[:4000], d, tt.Data)
			if err != nil || &again.Data[0] != &tt.Data[0] {
				t.Fatalf("storage not reused (%v)", err)
			}
		})
	}
}

func TestUint8Range(t *testing.T) {
	for _, c := range []struct {
		src        []float32
		scale      float32
		zero       float32
		exactEnds  bool
		allExactly bool
	}{
		{src: []float32{0, 0, 0}, scale: 1, zero: 0, allExactly: true},
		{src: []float32{5, 5, 5, 5}, scale: 5, zero: 0, allExactly: true},
		{src: []float32{-3.25, -3.25}, scale: 3.25, zero: 1, allExactly: true},
		{src: []float32{1e-44, 1e-44}, scale: 1e-44, zero: 0, allExactly: true},
		{src: []float32{1, 2, 3}, scale: 3.0 / 255, zero: 0},        // widened to include 0
		{src: []float32{-2, -1}, scale: 2.0 / 255, zero: 255},       // widened to include 0
		{src: []float32{-1, 0, 1}, scale: 2.0 / 255, zero: 127},     // 1/scale is just under 127.5
		{src: []float32{-255, 0, 255}, scale: 2, zero: 128},         // one step is 2
		{src: []float32{0, 1e-45, 0}, scale: 1, zero: 0},            // a range below float32's step
		{src: []float32{-3e38, 3e38}, scale: 6e38 / 255, zero: 128}, // over float32's range, not over float64's
	} {
		tt, err := EncodeTensor("c", []int64{int64(len(c.src))}, c.src, Uint8, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tt.Scale != c.scale || tt.Zero != c.zero {
			t.Errorf("%v: scale %g zero %g, want %g and %g", c.src, tt.Scale, tt.Zero, c.scale, c.zero)
		}
		got := make([]float32, len(c.src))
		if err := DecodeTensor(tt, got); err != nil {
			t.Fatal(err)
		}
		for i, v := range c.src {
			e := math.Abs(float64(got[i]) - float64(v))
			if c.allExactly && e != 0 || e > float64(tt.Scale)/2+1e-6*(float64(slices.Max(c.src))-float64(slices.Min(c.src))) {
				t.Errorf("%v: value %d read as %g (q %d)", c.src, i, got[i], tt.Data[i])
			}
		}
	}
}

func TestUint8NotFinite(t *testing.T) {
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		_, err := EncodeTensor("/model.4/m/cv1/conv/Conv_output_0", []int64{3}, []float32{1, v, 2}, Uint8, nil)
		if err == nil || !strings.Contains(err.Error(), `tensor "/model.4/m/cv1/conv/Conv_output_0": value 1 is`) {
			t.Errorf("%g: %v", v, err)
		}
		for _, d := range []DType{Float32, Float16} {
			tt, err := EncodeTensor("x", []int64{3}, []float32{1, v, 2}, d, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, 3)
			DecodeTensor(tt, got)
			if math.IsNaN(float64(v)) != math.IsNaN(float64(got[1])) || !math.IsNaN(float64(v)) && v != got[1] {
				t.Errorf("%s: %g read as %g", d, v, got[1])
			}
		}
	}
}

func TestEncodeTensorErrors(t *testing.T) {
	for _, c := range []struct {
		shape []int64
		n     int
		d     DType
		want  string
	}{
		{[]int64{2, 3}, 5, Float32, `encode tensor "t": shape [2 3] holds 6 values, 5 given`},
		{[]int64{2, 0}, 0, Float32, "dim 1 is 0, must be 1..16777216"},
		{nil, 1, Float32, "0 dims, must be 1..8"},
		{[]int64{1, 1, 1, 1, 1, 1, 1, 1, 1}, 1, Float32, "9 dims"},
		{[]int64{1 << 14, 1 << 14, 2}, 0, Float32, "over 268435456 values"},
		{[]int64{2}, 2, 9, "unknown dtype dtype(9)"},
	} {
		_, err := EncodeTensor("t", c.shape, make([]float32, c.n), c.d, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %s: %v, want %q", c.shape, c.d, err, c.want)
		}
	}
}

func TestDecodeTensorErrors(t *testing.T) {
	tt := mustTensor(t, "/model.22/Concat_output_0", []int64{2, 3}, make([]float32, 6), Float16)
	err := DecodeTensor(tt, make([]float32, 5))
	if err == nil || err.Error() != `decode tensor "/model.22/Concat_output_0": shape [2 3] holds 6 values, dst has room for 5` {
		t.Errorf("short dst: %v", err)
	}
	tt.Data = tt.Data[:11]
	if err := DecodeTensor(tt, make([]float32, 6)); err == nil || !strings.Contains(err.Error(), "6 values of float16 need 12 bytes, 11 given") {
		t.Errorf("short data: %v", err)
	}
	tt.DType = 0
	if err := DecodeTensor(tt, make([]float32, 6)); err == nil || !strings.Contains(err.Error(), "unknown dtype") {
		t.Errorf("dtype 0: %v", err)
	}
}

// TestHalfEveryValue converts every half to float32 and back.
func TestHalfEveryValue(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := fromHalf(h)
		back := toHalf(f)
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 { // NaN
			if !math.IsNaN(float64(f)) || back&0x7c00 != 0x7c00 || back&0x3ff == 0 || back&0x8000 != h&0x8000 {
				t.Fatalf("NaN %#04x: %g, back %#04x", h, f, back)
			}
			continue
		}
		if back != h {
			t.Fatalf("%#04x: %g, back %#04x", h, f, back)
		}
		if e := uint32(h>>10) & 0x1f; e > 0 && e < 0x1f {
			want := math.Ldexp(1+float64(h&0x3ff)/1024, int(e)-15)
			if h&0x8000 != 0 {
				want = -want
			}
			if float64(f) != want {
				t.Fatalf("%#04x: %g, want %g", h, f, want)
			}
		}
	}
}

// TestHalfRounding checks toHalf against the nearest half found by search,
// ties to even, on values in every part of the half range and beyond.
func TestHalfRounding(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(f float32) {
		h := toHalf(f)
		if math.Abs(float64(f)) >= 65520 { // half of the way from 65504 to 2^16, and up
			if h&0x7fff != 0x7c00 {
				t.Fatalf("%g: %#04x, want ±Inf", f, h)
			}
			return
		}
		got := float64(fromHalf(h))
		for _, n := range []uint16{h - 1, h + 1} {
			if n&0x7c00 == 0x7c00 || (n^h)&0x8000 != 0 {
				continue
			}
			other := float64(fromHalf(n))
			d, od := math.Abs(got-float64(f)), math.Abs(other-float64(f))
			if od < d || od == d && h&1 == 1 {
				t.Fatalf("%g: %#04x (%g), but %#04x (%g) is nearer or even", f, h, got, n, other)
			}
		}
		if got != 0 && math.Signbit(got) != math.Signbit(float64(f)) {
			t.Fatalf("%g: %g", f, got)
		}
	}
	for range 200000 {
		check(float32(math.Ldexp(rng.Float64()*2-1, rng.IntN(46)-25)))
	}
	for _, c := range []struct {
		f float32
		h uint16
	}{
		{1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {65519.99, 0x7bff}, {65520, 0x7c00}, {1e6, 0x7c00}, {-1e6, 0xfc00},
		{1 + 1.0/2048, 0x3c00}, {1 + 3.0/2048, 0x3c02}, // ties to even
		{0x1p-24, 0x0001}, {0x1p-25, 0x0000}, {0x1.000002p-25, 0x0001}, {0x3p-25, 0x0002}, // subnormal ties
		{0x1.ff8p-15, 0x03ff}, {0x1.ffcp-15, 0x0400}, // the largest subnormal, and a tie up to the smallest normal
		{1e-30, 0}, {-1e-30, 0x8000}, {float32(math.Copysign(0, -1)), 0x8000},
		{float32(math.Inf(1)), 0x7c00}, {float32(math.Inf(-1)), 0xfc00},
	} {
		if h := toHalf(c.f); h != c.h {
			t.Errorf("toHalf(%g) = %#04x, want %#04x", c.f, h, c.h)
		}
	}
}

// encodings are the samples, encoded.
func encodings(t testing.TB) (reqs, reps map[string][]byte) {
	reqs, reps = map[string][]byte{}, map[string][]byte{}
	for name, r := range sampleRequests(t) {
		b, err := AppendRequest(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		reqs[name] = b
	}
	for name, r := range sampleReplies() {
		b, err := AppendReply(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		reps[name] = b
	}
	return reqs, reps
}

func TestTruncated(t *testing.T) {
	reqs, reps := encodings(t)
	for name, b := range reqs {
		for i := range b {
			if r, err := ParseRequest(b[:i]); err == nil || r != nil || !strings.HasPrefix(err.Error(), "infer request: ") {
				t.Fatalf("%s cut to %d of %d bytes: %+v, %v", name, i, len(b), r, err)
			}
		}
	}
	for name, b := range reps {
		for i := range b {
			if r, err := ParseReply(b[:i]); err == nil || r != nil || !strings.HasPrefix(err.Error(), "infer reply: ") {
				t.Fatalf("%s cut to %d of %d bytes: %+v, %v", name, i, len(b), r, err)
			}
		}
	}
}

func TestTrailingBytes(t *testing.T) {
	reqs, reps := encodings(t)
	for name, b := range reqs {
		_, err := ParseRequest(append(b, 0))
		if err == nil || err.Error() != "infer request: 1 trailing bytes after the message" {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, b := range reps {
		_, err := ParseReply(append(b, 1, 2))
		if err == nil || err.Error() != "infer reply: 2 trailing bytes after the message" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestWrongMagicAndVersion(t *testing.T) {
	reqs, reps := encodings(t)
	req, rep := reqs["info"], reps["empty"]
	for _, c := range []struct {
		err  error
		want string
	}{
		{second(ParseRequest(rep)), "infer request: not a vigil inference request: a reply"},
		{second(ParseReply(req)), "infer reply: not a vigil inference reply: a request"},
		{second(ParseRequest([]byte("{\"kind\":1}"))), `infer request: not a vigil inference request (10 bytes, starting "{\"kind\":")`},
		{second(ParseRequest(nil)), `infer request: not a vigil inference request (0 bytes, starting "")`},
		{second(ParseReply([]byte("VGRP"))), "infer reply: a vigil inference reply cut short: no version byte"},
		{second(ParseRequest(append([]byte("VGRQ\x02"), req[5:]...))), "infer request: wire version 2, this vigil speaks 1: run the same vigil version on both sides"},
		{second(ParseReply(append([]byte("VGRP\x00"), rep[5:]...))), "infer reply: wire version 0, this vigil speaks 1: run the same vigil version on both sides"},
	} {
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("%v, want %q", c.err, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// msg builds a message field by field, valid or not, for the parser.
type msg []byte

func (m msg) uv(v uint64) msg  { return binary.AppendUvarint(m, v) }
func (m msg) b(v ...byte) msg  { return append(m, v...) }
func (m msg) str(s string) msg { return append(m.uv(uint64(len(s))), s...) }
func (m msg) f32(v ...float32) msg {
	for _, f := range v {
		m = binary.LittleEndian.AppendUint32(m, math.Float32bits(f))
	}
	return m
}

func request(kind Kind) msg { return msg("VGRQ\x01").b(byte(kind)).str("") }

// reply is a reply's header with no error, source or time, before the info flag.
func reply() msg { return msg("VGRP\x01").str("").str("").uv(0) }

// info is a reply with an info up to its labels.
func info() msg { return reply().b(1, 1).str(source) }

func TestParseRefuses(t *testing.T) {
	tensor := func(m msg, name string, d DType, dims ...uint64) msg {
		m = m.str(name).b(byte(d), byte(len(dims)))
		for _, d := range dims {
			m = m.uv(d)
		}
		return m
	}
	long := strings.Repeat("x", 257)
	for _, c := range []struct {
		name string
		b    msg
		want string
	}{
		{"unknown kind", request(5), "infer request: unknown kind 5: want 1 (info), 2 (jpeg), 3 (raw) or 4 (tensors)"},
		{"kind 0", request(0), "unknown kind 0"},
		{"long source", msg("VGRQ\x01\x01").str(long), "infer request: source: 257 bytes, at most 256"},
		{"empty jpeg", request(KindJPEG).uv(0), "a jpeg request with no image"},
		{"huge jpeg", request(KindJPEG).uv(1<<62).b(1, 2, 3), "infer request: image: 4611686018427387904 bytes, 3 left"},
		{"padded varint", request(KindJPEG).b(0x83, 0x00, 1, 2, 3), "image length: varint padded with zero bytes"},
		{"varint over 64 bits", request(KindJPEG).b(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), "image length: varint over 64 bits"},
		{"raw side 0", request(KindRaw).uv(0).uv(480), "raw frame 0×480: each side must be 1..65536"},
		{"raw side over", request(KindRaw).uv(1<<16 + 1).uv(480), "raw frame 65537×480: each side must be 1..65536"},
		{"raw short", request(KindRaw).uv(640).uv(480).b(make([]byte, 1000)...), "infer request: raw frame 640×480: 921600 bytes, 1000 left"},
		{"no tensors", request(KindTensors).uv(0), "0 tensors: must be 1..64"},
		{"65 tensors", request(KindTensors).uv(65), "infer request: 65 tensors: must be 1..64"},
		{"unnamed tensor", tensor(request(KindTensors).uv(1), "", Float32, 1), "infer request: tensor 0: no name"},
		{"long name", request(KindTensors).uv(1).str(long), "tensor 0: name: 257 bytes, at most 256"},
		{"unknown dtype", tensor(request(KindTensors).uv(1), "a", 4, 1), `infer request: tensor 0 ("a"): unknown dtype 4: want 1 (float32), 2 (float16) or 3 (uint8)`},
		{"no dims", tensor(request(KindTensors).uv(1), "a", Float32), `tensor 0 ("a"): 0 dims: must be 1..8`},
		{"9 dims", tensor(request(KindTensors).uv(1), "a", Float32, 1, 1, 1, 1, 1, 1, 1, 1, 1), `tensor 0 ("a"): 9 dims: must be 1..8`},
		{"dim 0", tensor(request(KindTensors).uv(1), "a", Float32, 1, 0), `tensor 0 ("a"): dim 1 is 0: must be 1..16777216`},
		{"dim over", tensor(request(KindTensors).uv(1), "a", Float32, 1<<24+1), "dim 0 is 16777217: must be 1..16777216"},
		{"dim over 64 bits", tensor(request(KindTensors).uv(1), "a", Float32, 1<<63), "dim 0 is 9223372036854775808"},
		{"too many values", tensor(request(KindTensors).uv(1), "a", Float32, 1<<14, 1<<14, 2), `tensor 0 ("a"): shape [16384 16384 2]…: over 268435456 values`},
		{"short data", tensor(request(KindTensors).uv(3), "a", Float32, 1).b(1, 2, 3, 4).str("/model.4/cv2/act/Mul_output_0").b(3, 1).uv(409600).f32(0.5, 0).b(make([]byte, 1024)...),
			`infer request: tensor 1 ("/model.4/cv2/act/Mul_output_0"): 409600 values of uint8 need 409600 bytes, 1024 left`},
		{"scale 0", tensor(request(KindTensors).uv(1), "a", Uint8, 1).f32(0, 0).b(7), `tensor 0 ("a"): uint8 scale 0: must be positive and finite`},
		{"scale NaN", tensor(request(KindTensors).uv(1), "a", Uint8, 1).f32(float32(math.NaN()), 0).b(7), "uint8 scale NaN"},
		{"zero Inf", tensor(request(KindTensors).uv(1), "a", Uint8, 1).f32(1, float32(math.Inf(1))).b(7), "uint8 zero point +Inf: must be finite"},

		{"info flag 2", reply().b(2), "infer reply: info flag 2: must be 0 or 1"},
		{"long error", msg("VGRP\x01").str(strings.Repeat("e", 4097)), "infer reply: error: 4097 bytes, at most 4096"},
		{"took over", reply()[:len(reply())-1].uv(math.MaxInt64/1000 + 1), "took 9223372036854776µs: over 9223372036854775µs"},
		{"part 0", reply().b(1, 0), "infer reply: info: part 0: want 1 (whole) or 2 (tail)"},
		{"part 3", reply().b(1, 3), "info: part 3: want 1 (whole) or 2 (tail)"},
		{"4097 labels", info().uv(4097), "infer reply: info: 4097 labels: at most 4096"},
		{"long label", info().uv(2).str("person").str(long), "info: label 1: 257 bytes, at most 256"},
		{"labels missing", info().uv(4096).str("person"), "info: label 1 length: the message ends inside it"},
		{"65 inputs", info().uv(0).uv(65), "info: 65 inputs: at most 64"},
		{"unnamed input", info().uv(0).uv(1).str(""), "info: input 0: no name"},
		{"input dim 0", info().uv(0).uv(1).str("images").b(2).uv(1).uv(0), `info: input 0 ("images"): dim 1 is 0`},
		{"input size", info().uv(0).uv(0).uv(1<<16 + 1).uv(640), "info: input size 65537×640: each side must be 0..65536"},
		{"10001 detections", reply().b(0).uv(10001), "infer reply: 10001 detections: at most 10000"},
		{"class over", reply().b(0).uv(1).uv(1 << 31), "detection 0: class 2147483648: must be 0..2147483647"},
		{"short box", reply().b(0).uv(1).uv(3).f32(0.5, 1, 2, 3), "infer reply: detection 0: score and box need 20 bytes, 16 left"},
		{"NaN score", reply().b(0).uv(2).uv(3).f32(0.5, 1, 2, 3, 4).uv(1).f32(float32(math.NaN()), 1, 2, 3, 4), "detection 1: class 1, score NaN, box {1 2 3 4}: not finite"},
		{"Inf box", reply().b(0).uv(1).uv(3).f32(0.5, 1, 2, float32(math.Inf(-1)), 4), "not finite"},
		{"detections missing", reply().b(0).uv(10000).uv(3).f32(0.5, 1, 2, 3, 4), "detection 1: class: the message ends inside it"},
	} {
		var err error
		if bytes.HasPrefix(c.b, []byte("VGRQ")) {
			_, err = ParseRequest(c.b)
		} else {
			_, err = ParseReply(c.b)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v\nwant %q", c.name, err, c.want)
		}
	}
}

func TestAppendRefuses(t *testing.T) {
	ok := mustTensor(t, "a", []int64{1, 2}, []float32{1, 2}, Float32)
	tensors := func(n int) []Tensor {
		ts := make([]Tensor, n)
		for i := range ts {
			ts[i] = ok
		}
		return ts
	}
	with := func(f func(*Tensor)) []Tensor {
		t := ok
		t.Shape = append([]int64(nil), ok.Shape...)
		f(&t)
		return []Tensor{ok, t}
	}
	long := strings.Repeat("x", 257)
	for _, c := range []struct {
		name string
		r    *Request
		want string
	}{
		{"nil", nil, "infer request: no request (nil)"},
		{"kind 0", &Request{}, "infer request: unknown kind 0"},
		{"long source", &Request{Kind: KindInfo, Source: long}, `infer request: source "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"… is 257 bytes, at most 256`},
		{"info with image", &Request{Kind: KindInfo, Image: []byte{1}}, "kind info carries no image (1 bytes given)"},
		{"jpeg with size", &Request{Kind: KindJPEG, Width: 640, Height: 480, Image: []byte{1}}, "kind jpeg carries no frame size (640×480 given): only raw does"},
		{"jpeg with tensors", &Request{Kind: KindJPEG, Image: []byte{1}, Tensors: tensors(1)}, "kind jpeg carries no tensors (1 given)"},
		{"empty jpeg", &Request{Kind: KindJPEG}, "a jpeg request with no image"},
		{"raw short", &Request{Kind: KindRaw, Width: 640, Height: 480, Image: make([]byte, 1000)}, "infer request: raw frame 640×480 needs 921600 bytes of BGR, 1000 given"},
		{"raw side 0", &Request{Kind: KindRaw, Width: 640}, "raw frame 640×0: each side must be 1..65536"},
		{"raw side over", &Request{Kind: KindRaw, Width: 1 << 17, Height: 1}, "raw frame 131072×1: each side must be 1..65536"},
		{"tensors with image", &Request{Kind: KindTensors, Image: []byte{1}, Tensors: tensors(1)}, "kind tensors carries no image"},
		{"no tensors", &Request{Kind: KindTensors}, "0 tensors: send 1..64"},
		{"65 tensors", &Request{Kind: KindTensors, Tensors: tensors(65)}, "infer request: 65 tensors: send 1..64"},
		{"short data", &Request{Kind: KindTensors, Tensors: with(func(t *Tensor) {
			t.Name, t.DType, t.Shape, t.Scale, t.Data = "/model.4/cv2/act/Mul_output_0", Uint8, []int64{1, 64, 80, 80}, 0.5, make([]byte, 1024)
		})}, `infer request: tensor 1 ("/model.4/cv2/act/Mul_output_0"): 409600 values of uint8 need 409600 bytes, 1024 given`},
		{"unknown dtype", &Request{Kind: KindTensors, Tensors: with(func(t *Tensor) { t.DType = 0 })}, `tensor 1 ("a"): unknown dtype 0`},
		{"no name", &Request{Kind: KindTensors, Tensors: with(func(t *Tensor) { t.Name = "" })}, `tensor 1 (""): no name`},
		{"long name", &Request{Kind: KindTensors, Tensors: with(func(t *Tensor) { t.Name = long })}, "is 257 bytes, at most 256"},
		{"9 dims", &Request{Kind: KindTensors, Tensors: with(func(t *Tensor) { t.Shape = []int64{1, 1, 1, 1, 1, 1, 1, 1, 2} })}, "shape [1 1 1 1 1 1 1 1 2]: 9 dims, must be 1..8"},
		{"dim -1", &Request{Kind: KindTensors, Tensors: with(func(t *Tensor) { t.Shape = []int64{-1, 2} })}, "shape [-1 2]: dim 0 is -1, must be 1..16777216"},
		{"dim over", &Request{Kind: KindTensors, Tensors: with(func(t *Tensor) { t.Shape = []int64{1 << 25} })}, "dim 0 is 33554432"},
		{"too many values", &Request{Kind: KindTensors, Tensors: with(func(t *Tensor) { t.Shape = []int64{1 << 20, 1 << 20, 1 << 20} })}, "over 268435456 values"},
		{"scale on float32", &Request{Kind: KindTensors, Tensors: with(func(t *Tensor) { t.Scale = 0.1 })}, "scale 0.1 and zero 0 given: they are for uint8, not float32"},
		{"uint8 scale 0", &Request{Kind: KindTensors, Tensors: with(func(t *Tensor) { t.DType, t.Shape, t.Data = Uint8, []int64{2}, []byte{1, 2} })}, "uint8 scale 0: must be positive and finite"},
	} {
		dst := []byte("kept")
		b, err := AppendRequest(dst, c.r)
		if err == nil || !strings.Contains(err.Error(), c.want) || string(b) != "kept" {
			t.Errorf("%s: %q, %v\nwant %q", c.name, b, err, c.want)
		}
	}

	labels := make([]string, 4097)
	for _, c := range []struct {
		name string
		r    *Reply
		want string
	}{
		{"nil", nil, "infer reply: no reply (nil)"},
		{"long source", &Reply{Source: long}, "source \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"… is 257 bytes"},
		{"negative took", &Reply{Took: -time.Millisecond}, "infer reply: took -1ms: a negative time"},
		{"part", &Reply{Info: &Info{Part: "head"}}, `infer reply: info: part "head": want whole or tail`},
		{"no part", &Reply{Info: &Info{}}, `info: part "": want whole or tail`},
		{"4097 labels", &Reply{Info: &Info{Part: "whole", Labels: labels}}, "info: 4097 labels: at most 4096"},
		{"long label", &Reply{Info: &Info{Part: "whole", Labels: []string{"a", long}}}, "info: label 1 \"xxx"},
		{"65 inputs", &Reply{Info: &Info{Part: "tail", Inputs: make([]TensorSpec, 65)}}, "info: 65 inputs: at most 64"},
		{"unnamed input", &Reply{Info: &Info{Part: "tail", Inputs: []TensorSpec{{Shape: []int64{1}}}}}, "info: input 0: no name"},
		{"dynamic input", &Reply{Info: &Info{Part: "whole", Inputs: []TensorSpec{{Name: "images", Shape: []int64{-1, 3, 640, 640}}}}}, `info: input 0 ("images"): shape [-1 3 640 640]: dim 0 is -1`},
		{"input size", &Reply{Info: &Info{Part: "whole", InputW: -1}}, "info: input size -1×0: each side must be 0..65536"},
		{"10001 detections", &Reply{Detections: make([]detect.Detection, 10001)}, "infer reply: 10001 detections: at most 10000"},
		{"negative class", &Reply{Detections: []detect.Detection{{}, {Class: -1}}}, "detection 1: class -1: must be 0..2147483647"},
		{"NaN score", &Reply{Detections: []detect.Detection{{Score: float32(math.NaN())}}}, "detection 0: class 0, score NaN, box {0 0 0 0}: not finite"},
		{"Inf box", &Reply{Detections: []detect.Detection{{Box: detect.Box{X2: float32(math.Inf(1))}}}}, "not finite"},
	} {
		b, err := AppendReply([]byte("kept"), c.r)
		if err == nil || !strings.Contains(err.Error(), c.want) || string(b) != "kept" {
			t.Errorf("%s: %q, %v\nwant %q", c.name, b, err, c.want)
		}
	}
}

// TestParseAllocatesForBytes checks that a count a message claims does not
// make the parser allocate for it before the bytes are there.
func TestParseAllocatesForBytes(t *testing.T) {
	for name, b := range map[string]msg{
		"detections": reply().b(0).uv(10000).uv(3).f32(0.5, 1, 2, 3, 4),
		"labels":     info().uv(4096).str("person"),
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 10 {
			if _, err := ParseReply(b); err == nil {
				t.Fatalf("%s: parsed", name)
			}
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 8<<10 {
			t.Errorf("%s: a %d-byte message claiming thousands allocates %d bytes", name, len(b), per)
		}
	}
}
