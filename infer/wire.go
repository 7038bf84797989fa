package infer

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/vigil-vision/vigil/detect"
)

// Version is the wire format's version; a message of another version is
// refused with an error naming both versions.
const Version = 1

const (
	requestMagic = "VGRQ"
	replyMagic   = "VGRP"
)

// Caps on what a message may hold. They bound the work and memory a
// message can make a reader spend, and are far above what a detector
// sends: a YOLO cut is a few tensors of a few million values.
const (
	maxTensors    = 64
	maxDims       = 8
	maxDim        = 1 << 24
	maxValues     = 1 << 28
	maxName       = 256 // tensor names, labels, sources
	maxLabels     = 4096
	maxDetections = 10000
	maxError      = 4096
	maxSide       = 1 << 16 // a raw frame's and a model input's width and height
	maxClass      = math.MaxInt32
	maxTookMicros = math.MaxInt64 / int64(time.Microsecond)
)

// DType is how a tensor's values are written on the wire.
type DType uint8

const (
	Float32 DType = 1
	Float16 DType = 2 // IEEE 754 half, little-endian
	Uint8   DType = 3 // value = (q - Zero) * Scale
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float16:
		return "float16"
	case Uint8:
		return "uint8"
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// ParseDType reads a dtype as configs spell it: float32, float16 or uint8,
// or f32, f16, u8.
func ParseDType(s string) (DType, error) {
	switch s {
	case "float32", "f32":
		return Float32, nil
	case "float16", "f16":
		return Float16, nil
	case "uint8", "u8":
		return Uint8, nil
	}
	return 0, fmt.Errorf("dtype %q: want float32, float16 or uint8 (or f32, f16, u8)", s)
}

// Size is the bytes one value takes: 4, 2 or 1; 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case Float32:
		return 4
	case Float16:
		return 2
	case Uint8:
		return 1
	}
	return 0
}

// Tensor is one tensor on the wire: its values raw, little-endian.
type Tensor struct {
	Name        string
	Shape       []int64
	DType       DType
	Scale, Zero float32 // Uint8 only
	Data        []byte
}

// Len is the product of Shape, the number of values; -1 when a dim is
// negative or the product overflows an int.
func (t Tensor) Len() int {
	n := uint64(1)
	for _, d := range t.Shape {
		if d < 0 {
			return -1
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return -1
		}
		n = lo
	}
	return int(n)
}

// Kind is what a request asks for.
type Kind uint8

const (
	KindInfo    Kind = 1 // describe the served model (Reply.Info)
	KindJPEG    Kind = 2 // detect on a JPEG-encoded frame (Request.Image)
	KindRaw     Kind = 3 // detect on a raw 8-bit BGR frame, Width×Height×3 bytes (Request.Image)
	KindTensors Kind = 4 // run the tail on the cut tensors (Request.Tensors)
)

func (k Kind) String() string {
	switch k {
	case KindInfo:
		return "info"
	case KindJPEG:
		return "jpeg"
	case KindRaw:
		return "raw"
	case KindTensors:
		return "tensors"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Request is what a client sends. A field its Kind does not carry must be
// zero: AppendRequest refuses it rather than drop it unseen.
type Request struct {
	Kind          Kind
	Source        string // "sha256:…" of the model the sender expects the server to serve (whole model's hash, or the split's source); "" = any
	Width, Height int    // KindRaw: the frame's size
	Image         []byte
	Tensors       []Tensor
}

// TensorSpec names a tensor and its shape.
type TensorSpec = detect.TensorSpec

// Info describes what a server serves.
type Info struct {
	Part           string // "whole" or "tail"
	Source         string // "sha256:…": the whole model's, or the split's source (model metadata vigil_split_source)
	Labels         []string
	Inputs         []TensorSpec // the tail's inputs (the cut), or the whole model's image input
	InputW, InputH int          // the model's (source model's) image input size
}

// Reply is what a server answers.
type Reply struct {
	Error      string             // non-empty: the request failed; this says why (the server keeps serving)
	Source     string             // the served model's Source
	Info       *Info              // KindInfo only
	Detections []detect.Detection // Label is not sent (the client has the labels); Class, Score, Box are
	Took       time.Duration      // the server's time on the request (decode, inference, NMS), sent in whole microseconds
}

// parts are Info.Part's values, by their byte on the wire.
var parts = [...]string{1: "whole", 2: "tail"}

// AppendRequest appends r's encoding to dst. A field that cannot be
// encoded (a tensor whose Data is not Len()×DType.Size() bytes, an unknown
// kind or dtype, a count over its cap) is an error, and dst comes back as
// it was.
func AppendRequest(dst []byte, r *Request) ([]byte, error) {
	if err := checkRequest(r); err != nil {
		return dst, fmt.Errorf("infer request: %w", err)
	}
	dst = append(dst, requestMagic...)
	dst = append(dst, Version, byte(r.Kind))
	dst = appendString(dst, r.Source)
	switch r.Kind {
	case KindJPEG:
		dst = appendString(dst, string(r.Image))
	case KindRaw:
		dst = binary.AppendUvarint(dst, uint64(r.Width))
		dst = binary.AppendUvarint(dst, uint64(r.Height))
		dst = append(dst, r.Image...)
	case KindTensors:
		dst = binary.AppendUvarint(dst, uint64(len(r.Tensors)))
		for _, t := range r.Tensors {
			dst = appendString(dst, t.Name)
			dst = append(dst, byte(t.DType))
			dst = appendShape(dst, t.Shape)
			if t.DType == Uint8 {
				dst = appendF32(dst, t.Scale)
				dst = appendF32(dst, t.Zero)
			}
			dst = append(dst, t.Data...)
		}
	}
	return dst, nil
}

func checkRequest(r *Request) error {
	if r == nil {
		return fmt.Errorf("no request (nil)")
	}
	if err := checkString("source", r.Source, maxName); err != nil {
		return err
	}
	k := r.Kind
	if k < KindInfo || k > KindTensors {
		return fmt.Errorf("unknown kind %d: want 1 (info), 2 (jpeg), 3 (raw) or 4 (tensors)", uint8(k))
	}
	if k != KindRaw && (r.Width != 0 || r.Height != 0) {
		return fmt.Errorf("kind %s carries no frame size (%d×%d given): only raw does", k, r.Width, r.Height)
	}
	if (k == KindInfo || k == KindTensors) && len(r.Image) > 0 {
		return fmt.Errorf("kind %s carries no image (%d bytes given)", k, len(r.Image))
	}
	if k != KindTensors && len(r.Tensors) > 0 {
		return fmt.Errorf("kind %s carries no tensors (%d given)", k, len(r.Tensors))
	}
	switch k {
	case KindJPEG:
		if len(r.Image) == 0 {
			return fmt.Errorf("a jpeg request with no image")
		}
	case KindRaw:
		if r.Width < 1 || r.Width > maxSide || r.Height < 1 || r.Height > maxSide {
			return fmt.Errorf("raw frame %d×%d: each side must be 1..%d", r.Width, r.Height, maxSide)
		}
		if need := int64(r.Width) * int64(r.Height) * 3; int64(len(r.Image)) != need {
			return fmt.Errorf("raw frame %d×%d needs %d bytes of BGR, %d given", r.Width, r.Height, need, len(r.Image))
		}
	case KindTensors:
		if len(r.Tensors) < 1 || len(r.Tensors) > maxTensors {
			return fmt.Errorf("%d tensors: send 1..%d", len(r.Tensors), maxTensors)
		}
		for i, t := range r.Tensors {
			if err := checkTensor(t); err != nil {
				return fmt.Errorf("tensor %d (%q): %w", i, t.Name, err)
			}
		}
	}
	return nil
}

func checkTensor(t Tensor) error {
	if err := checkName(t.Name); err != nil {
		return err
	}
	size := t.DType.Size()
	if size == 0 {
		return fmt.Errorf("unknown dtype %d: want 1 (float32), 2 (float16) or 3 (uint8)", uint8(t.DType))
	}
	n, err := checkShape(t.Shape)
	if err != nil {
		return err
	}
	if need := n * int64(size); int64(len(t.Data)) != need {
		return fmt.Errorf("%d values of %s need %d bytes, %d given", n, t.DType, need, len(t.Data))
	}
	if t.DType == Uint8 {
		return checkQuant(t.Scale, t.Zero)
	}
	if t.Scale != 0 || t.Zero != 0 {
		return fmt.Errorf("scale %g and zero %g given: they are for uint8, not %s", t.Scale, t.Zero, t.DType)
	}
	return nil
}

// checkQuant holds a uint8 tensor's scale and zero point to what
// EncodeTensor makes: a positive, finite scale and a finite zero.
func checkQuant(scale, zero float32) error {
	if !(scale > 0) || math.IsInf(float64(scale), 0) {
		return fmt.Errorf("uint8 scale %g: must be positive and finite", scale)
	}
	if math.IsNaN(float64(zero)) || math.IsInf(float64(zero), 0) {
		return fmt.Errorf("uint8 zero point %g: must be finite", zero)
	}
	return nil
}

func checkName(s string) error {
	if s == "" {
		return fmt.Errorf("no name")
	}
	return checkString("name", s, maxName)
}

func checkString(what, s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%s %.32q… is %d bytes, at most %d", what, s, len(s), limit)
	}
	return nil
}

// checkShape checks a shape against the caps and gives its number of
// values. Each dim is at most 1<<24 and the running product is checked
// after each step, so it cannot overflow.
func checkShape(shape []int64) (int64, error) {
	if len(shape) < 1 || len(shape) > maxDims {
		return 0, fmt.Errorf("shape %v: %d dims, must be 1..%d", shape, len(shape), maxDims)
	}
	n := int64(1)
	for i, d := range shape {
		if d < 1 || d > maxDim {
			return 0, fmt.Errorf("shape %v: dim %d is %d, must be 1..%d", shape, i, d, maxDim)
		}
		n *= d
		if n > maxValues {
			return 0, fmt.Errorf("shape %v: over %d values", shape, maxValues)
		}
	}
	return n, nil
}

// ParseRequest decodes one request, the whole of b. The parsed Image and
// each Tensor's Data alias b (they are not copied): keep b unchanged while
// they are in use.
func ParseRequest(b []byte) (*Request, error) {
	r, err := parseRequest(b)
	if err != nil {
		return nil, fmt.Errorf("infer request: %w", err)
	}
	return r, nil
}

func parseRequest(b []byte) (*Request, error) {
	rd, err := open(b, requestMagic, "a vigil inference request", replyMagic, "a reply")
	if err != nil {
		return nil, err
	}
	k, err := rd.u8("kind")
	if err != nil {
		return nil, err
	}
	r := &Request{Kind: Kind(k)}
	if r.Source, err = rd.string("source", maxName); err != nil {
		return nil, err
	}
	switch r.Kind {
	case KindInfo:
	case KindJPEG:
		n, err := rd.uvarint("image length")
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("a jpeg request with no image")
		}
		if r.Image, err = rd.take(n, "image"); err != nil {
			return nil, err
		}
	case KindRaw:
		w, err := rd.uvarint("width")
		if err != nil {
			return nil, err
		}
		h, err := rd.uvarint("height")
		if err != nil {
			return nil, err
		}
		if w < 1 || w > maxSide || h < 1 || h > maxSide {
			return nil, fmt.Errorf("raw frame %d×%d: each side must be 1..%d", w, h, maxSide)
		}
		r.Width, r.Height = int(w), int(h)
		if r.Image, err = rd.take(w*h*3, fmt.Sprintf("raw frame %d×%d", w, h)); err != nil {
			return nil, err
		}
	case KindTensors:
		n, err := rd.uvarint("tensor count")
		if err != nil {
			return nil, err
		}
		if n < 1 || n > maxTensors {
			return nil, fmt.Errorf("%d tensors: must be 1..%d", n, maxTensors)
		}
		r.Tensors = make([]Tensor, n)
		for i := range r.Tensors {
			if err := rd.tensor(&r.Tensors[i]); err != nil {
				return nil, fmt.Errorf("tensor %d%s: %w", i, quoted(r.Tensors[i].Name), err)
			}
		}
	default:
		return nil, fmt.Errorf("unknown kind %d: want 1 (info), 2 (jpeg), 3 (raw) or 4 (tensors)", k)
	}
	return r, rd.end()
}

// quoted is ` ("name")` once a name has been read, so that errors point at
// the tensor.
func quoted(name string) string {
	if name == "" {
		return ""
	}
	return fmt.Sprintf(" (%q)", name)
}

func (rd *reader) tensor(t *Tensor) error {
	var err error
	if t.Name, err = rd.string("name", maxName); err != nil {
		return err
	}
	if t.Name == "" {
		return fmt.Errorf("no name")
	}
	d, err := rd.u8("dtype")
	if err != nil {
		return err
	}
	t.DType = DType(d)
	if t.DType.Size() == 0 {
		return fmt.Errorf("unknown dtype %d: want 1 (float32), 2 (float16) or 3 (uint8)", d)
	}
	n, err := rd.shape(&t.Shape)
	if err != nil {
		return err
	}
	if t.DType == Uint8 {
		if t.Scale, err = rd.f32("uint8 scale"); err != nil {
			return err
		}
		if t.Zero, err = rd.f32("uint8 zero point"); err != nil {
			return err
		}
		if err := checkQuant(t.Scale, t.Zero); err != nil {
			return err
		}
	}
	need := uint64(n) * uint64(t.DType.Size())
	if need > uint64(len(rd.b)) {
		return fmt.Errorf("%d values of %s need %d bytes, %d left", n, t.DType, need, len(rd.b))
	}
	t.Data, _ = rd.take(need, "")
	return nil
}

// shape reads ndims and the dims into *s and gives the number of values.
func (rd *reader) shape(s *[]int64) (int64, error) {
	nd, err := rd.u8("ndims")
	if err != nil {
		return 0, err
	}
	if nd < 1 || nd > maxDims {
		return 0, fmt.Errorf("%d dims: must be 1..%d", nd, maxDims)
	}
	*s = make([]int64, nd)
	n := int64(1)
	for i := range *s {
		d, err := rd.uvarint(fmt.Sprintf("dim %d", i))
		if err != nil {
			return 0, err
		}
		if d < 1 || d > maxDim {
			return 0, fmt.Errorf("dim %d is %d: must be 1..%d", i, d, maxDim)
		}
		(*s)[i] = int64(d)
		n *= int64(d)
		if n > maxValues {
			return 0, fmt.Errorf("shape %v…: over %d values", (*s)[:i+1], maxValues)
		}
	}
	return n, nil
}

// AppendReply appends r's encoding to dst. Detections' labels are not
// sent, and Took is sent in whole microseconds. An Error over 4096 bytes is
// cut to fit (a failure must always get through); any other field that
// cannot be encoded is an error, and dst comes back as it was.
func AppendReply(dst []byte, r *Reply) ([]byte, error) {
	if err := checkReply(r); err != nil {
		return dst, fmt.Errorf("infer reply: %w", err)
	}
	dst = append(dst, replyMagic...)
	dst = append(dst, Version)
	dst = appendString(dst, clip(r.Error, maxError))
	dst = appendString(dst, r.Source)
	dst = binary.AppendUvarint(dst, uint64(r.Took/time.Microsecond))
	if in := r.Info; in == nil {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1, byte(slices.Index(parts[:], in.Part)))
		dst = appendString(dst, in.Source)
		dst = binary.AppendUvarint(dst, uint64(len(in.Labels)))
		for _, l := range in.Labels {
			dst = appendString(dst, l)
		}
		dst = binary.AppendUvarint(dst, uint64(len(in.Inputs)))
		for _, s := range in.Inputs {
			dst = appendString(dst, s.Name)
			dst = appendShape(dst, s.Shape)
		}
		dst = binary.AppendUvarint(dst, uint64(in.InputW))
		dst = binary.AppendUvarint(dst, uint64(in.InputH))
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Detections)))
	for _, d := range r.Detections {
		dst = binary.AppendUvarint(dst, uint64(d.Class))
		dst = appendF32(dst, d.Score)
		dst = appendF32(dst, d.Box.X1)
		dst = appendF32(dst, d.Box.Y1)
		dst = appendF32(dst, d.Box.X2)
		dst = appendF32(dst, d.Box.Y2)
	}
	return dst, nil
}

func checkReply(r *Reply) error {
	if r == nil {
		return fmt.Errorf("no reply (nil)")
	}
	if err := checkString("source", r.Source, maxName); err != nil {
		return err
	}
	if r.Took < 0 {
		return fmt.Errorf("took %v: a negative time", r.Took)
	}
	if in := r.Info; in != nil {
		if err := checkInfo(in); err != nil {
			return fmt.Errorf("info: %w", err)
		}
	}
	if len(r.Detections) > maxDetections {
		return fmt.Errorf("%d detections: at most %d", len(r.Detections), maxDetections)
	}
	for i, d := range r.Detections {
		if err := checkDetection(d); err != nil {
			return fmt.Errorf("detection %d: %w", i, err)
		}
	}
	return nil
}

func checkInfo(in *Info) error {
	if i := slices.Index(parts[:], in.Part); i < 1 {
		return fmt.Errorf("part %q: want whole or tail", in.Part)
	}
	if err := checkString("source", in.Source, maxName); err != nil {
		return err
	}
	if len(in.Labels) > maxLabels {
		return fmt.Errorf("%d labels: at most %d", len(in.Labels), maxLabels)
	}
	for i, l := range in.Labels {
		if err := checkString(fmt.Sprintf("label %d", i), l, maxName); err != nil {
			return err
		}
	}
	if len(in.Inputs) > maxTensors {
		return fmt.Errorf("%d inputs: at most %d", len(in.Inputs), maxTensors)
	}
	for i, s := range in.Inputs {
		if err := checkName(s.Name); err != nil {
			return fmt.Errorf("input %d: %w", i, err)
		}
		if _, err := checkShape(s.Shape); err != nil {
			return fmt.Errorf("input %d (%q): %w", i, s.Name, err)
		}
	}
	if in.InputW < 0 || in.InputW > maxSide || in.InputH < 0 || in.InputH > maxSide {
		return fmt.Errorf("input size %d×%d: each side must be 0..%d", in.InputW, in.InputH, maxSide)
	}
	return nil
}

// checkDetection refuses what a detector should never give: a NaN or
// infinite score or corner would mean nothing to the client.
func checkDetection(d detect.Detection) error {
	if d.Class < 0 || d.Class > maxClass {
		return fmt.Errorf("class %d: must be 0..%d", d.Class, maxClass)
	}
	for _, v := range [...]float32{d.Score, d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2} {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("class %d, score %g, box %v: not finite", d.Class, d.Score, d.Box)
		}
	}
	return nil
}

// clip cuts s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	cut := n - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// ParseReply decodes one reply, the whole of b. It copies what it keeps:
// the reply does not alias b.
func ParseReply(b []byte) (*Reply, error) {
	r, err := parseReply(b)
	if err != nil {
		return nil, fmt.Errorf("infer reply: %w", err)
	}
	return r, nil
}

func parseReply(b []byte) (*Reply, error) {
	rd, err := open(b, replyMagic, "a vigil inference reply", requestMagic, "a request")
	if err != nil {
		return nil, err
	}
	r := &Reply{}
	if r.Error, err = rd.string("error", maxError); err != nil {
		return nil, err
	}
	if r.Source, err = rd.string("source", maxName); err != nil {
		return nil, err
	}
	us, err := rd.uvarint("took")
	if err != nil {
		return nil, err
	}
	if us > uint64(maxTookMicros) {
		return nil, fmt.Errorf("took %dµs: over %dµs", us, maxTookMicros)
	}
	r.Took = time.Duration(us) * time.Microsecond
	has, err := rd.u8("info flag")
	if err != nil {
		return nil, err
	}
	switch has {
	case 0:
	case 1:
		if r.Info, err = rd.info(); err != nil {
			return nil, fmt.Errorf("info: %w", err)
		}
	default:
		return nil, fmt.Errorf("info flag %d: must be 0 or 1", has)
	}
	n, err := rd.uvarint("detection count")
	if err != nil {
		return nil, err
	}
	if n > maxDetections {
		return nil, fmt.Errorf("%d detections: at most %d", n, maxDetections)
	}
	if n > 0 {
		// Each detection takes at least 21 bytes: allocate for what is there.
		r.Detections = make([]detect.Detection, 0, min(n, uint64(len(rd.b)/21)))
	}
	for i := range n {
		d, err := rd.detection()
		if err != nil {
			return nil, fmt.Errorf("detection %d: %w", i, err)
		}
		r.Detections = append(r.Detections, d)
	}
	return r, rd.end()
}

func (rd *reader) info() (*Info, error) {
	in := &Info{}
	p, err := rd.u8("part")
	if err != nil {
		return nil, err
	}
	if p < 1 || int(p) >= len(parts) {
		return nil, fmt.Errorf("part %d: want 1 (whole) or 2 (tail)", p)
	}
	in.Part = parts[p]
	if in.Source, err = rd.string("source", maxName); err != nil {
		return nil, err
	}
	n, err := rd.uvarint("label count")
	if err != nil {
		return nil, err
	}
	if n > maxLabels {
		return nil, fmt.Errorf("%d labels: at most %d", n, maxLabels)
	}
	if n > 0 {
		in.Labels = make([]string, 0, min(n, uint64(len(rd.b)))) // each takes a byte at least
	}
	for i := range n {
		l, err := rd.string(fmt.Sprintf("label %d", i), maxName)
		if err != nil {
			return nil, err
		}
		in.Labels = append(in.Labels, l)
	}
	if n, err = rd.uvarint("input count"); err != nil {
		return nil, err
	}
	if n > maxTensors {
		return nil, fmt.Errorf("%d inputs: at most %d", n, maxTensors)
	}
	if n > 0 {
		in.Inputs = make([]TensorSpec, n)
	}
	for i := range in.Inputs {
		s := &in.Inputs[i]
		if s.Name, err = rd.string(fmt.Sprintf("input %d name", i), maxName); err != nil {
			return nil, err
		}
		if s.Name == "" {
			return nil, fmt.Errorf("input %d: no name", i)
		}
		if _, err := rd.shape(&s.Shape); err != nil {
			return nil, fmt.Errorf("input %d (%q): %w", i, s.Name, err)
		}
	}
	w, err := rd.uvarint("input width")
	if err != nil {
		return nil, err
	}
	h, err := rd.uvarint("input height")
	if err != nil {
		return nil, err
	}
	if w > maxSide || h > maxSide {
		return nil, fmt.Errorf("input size %d×%d: each side must be 0..%d", w, h, maxSide)
	}
	in.InputW, in.InputH = int(w), int(h)
	return in, nil
}

func (rd *reader) detection() (detect.Detection, error) {
	var d detect.Detection
	c, err := rd.uvarint("class")
	if err != nil {
		return d, err
	}
	if c > maxClass {
		return d, fmt.Errorf("class %d: must be 0..%d", c, maxClass)
	}
	d.Class = int(c)
	if len(rd.b) < 20 {
		return d, fmt.Errorf("score and box need 20 bytes, %d left", len(rd.b))
	}
	for _, p := range [...]*float32{&d.Score, &d.Box.X1, &d.Box.Y1, &d.Box.X2, &d.Box.Y2} {
		*p, _ = rd.f32("")
	}
	return d, checkDetection(d)
}

// reader reads a message's fields in order; b is what is left.
type reader struct{ b []byte }

// open checks a message's magic and version and gives a reader of the
// rest. other is the magic of the message it is often confused with, so
// the error can say which it got.
func open(b []byte, magic, is, other, otherIs string) (*reader, error) {
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		if len(b) >= len(other) && string(b[:len(other)]) == other {
			return nil, fmt.Errorf("not %s: %s", is, otherIs)
		}
		return nil, fmt.Errorf("not %s (%d bytes, starting %q)", is, len(b), b[:min(len(b), 8)])
	}
	b = b[len(magic):]
	if len(b) < 1 {
		return nil, fmt.Errorf("%s cut short: no version byte", is)
	}
	if b[0] != Version {
		return nil, fmt.Errorf("wire version %d, this vigil speaks %d: run the same vigil version on both sides", b[0], Version)
	}
	return &reader{b: b[1:]}, nil
}

func (rd *reader) end() error {
	if len(rd.b) > 0 {
		return fmt.Errorf("%d trailing bytes after the message", len(rd.b))
	}
	return nil
}

func (rd *reader) u8(what string) (byte, error) {
	if len(rd.b) < 1 {
		return 0, fmt.Errorf("%s: the message ends before it", what)
	}
	v := rd.b[0]
	rd.b = rd.b[1:]
	return v, nil
}

// uvarint reads a minimally encoded varint: one value, one encoding.
func (rd *reader) uvarint(what string) (uint64, error) {
	v, n := binary.Uvarint(rd.b)
	switch {
	case n == 0:
		return 0, fmt.Errorf("%s: the message ends inside it", what)
	case n < 0:
		return 0, fmt.Errorf("%s: varint over 64 bits", what)
	case n > 1 && rd.b[n-1] == 0:
		return 0, fmt.Errorf("%s: varint padded with zero bytes", what)
	}
	rd.b = rd.b[n:]
	return v, nil
}

// take gives the next n bytes, aliasing the message.
func (rd *reader) take(n uint64, what string) ([]byte, error) {
	if n > uint64(len(rd.b)) {
		return nil, fmt.Errorf("%s: %d bytes, %d left", what, n, len(rd.b))
	}
	v := rd.b[:n:n]
	rd.b = rd.b[n:]
	return v, nil
}

func (rd *reader) string(what string, limit int) (string, error) {
	n, err := rd.uvarint(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(limit) {
		return "", fmt.Errorf("%s: %d bytes, at most %d", what, n, limit)
	}
	v, err := rd.take(n, what)
	return string(v), err
}

func (rd *reader) f32(what string) (float32, error) {
	if len(rd.b) < 4 {
		return 0, fmt.Errorf("%s: 4 bytes, %d left", what, len(rd.b))
	}
	v := math.Float32frombits(binary.LittleEndian.Uint32(rd.b))
	rd.b = rd.b[4:]
	return v, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendShape(dst []byte, shape []int64) []byte {
	dst = append(dst, byte(len(shape)))
	for _, d := range shape {
		dst = binary.AppendUvarint(dst, uint64(d))
	}
	return dst
}

func appendF32(dst []byte, v float32) []byte {
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
}

// EncodeTensor encodes src, the float32 values of a tensor of the given
// shape, in dtype d, appending to dst[:0]; the Tensor's Data aliases that
// storage and its Shape is shape. Float32 is sent raw; Float16 is rounded
// to the nearest even half (overflow to ±Inf, subnormals kept, NaN stays
// NaN); Uint8 gets one scale and zero point for the tensor, from the range
// of src widened to include 0, so that 0 is exact, a constant tensor is
// exact, and any other value is off by Scale/2 at most (and float32's
// rounding of Scale). Uint8 cannot hold
// NaN or ±Inf: such a value is an error naming the tensor.
func EncodeTensor(name string, shape []int64, src []float32, d DType, dst []byte) (Tensor, error) {
	n, err := checkShape(shape)
	if err != nil {
		return Tensor{}, fmt.Errorf("encode tensor %q: %w", name, err)
	}
	if int64(len(src)) != n {
		return Tensor{}, fmt.Errorf("encode tensor %q: shape %v holds %d values, %d given", name, shape, n, len(src))
	}
	t := Tensor{Name: name, Shape: shape, DType: d}
	buf := dst[:0]
	switch d {
	case Float32:
		buf = slices.Grow(buf, 4*len(src))
		for _, v := range src {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	case Float16:
		buf = slices.Grow(buf, 2*len(src))
		for _, v := range src {
			buf = binary.LittleEndian.AppendUint16(buf, toHalf(v))
		}
	case Uint8:
		for i, v := range src {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return Tensor{}, fmt.Errorf("encode tensor %q: value %d is %g, and uint8 holds only finite values: send float16 or float32", name, i, v)
			}
		}
		t.Scale, t.Zero = quantParams(src)
		buf = slices.Grow(buf, len(src))
		inv, zero := 1/float64(t.Scale), float64(t.Zero)
		for _, v := range src {
			q := math.Round(float64(v)*inv) + zero
			buf = append(buf, byte(min(max(q, 0), 255)))
		}
	default:
		return Tensor{}, fmt.Errorf("encode tensor %q: unknown dtype %v: want float32, float16 or uint8", name, d)
	}
	t.Data = buf
	return t, nil
}

// quantParams gives the asymmetric uint8 scale and zero point for src,
// all finite. A constant tensor c gets scale |c| and q 1 (or 0 with zero
// 1 when c < 0), so that it decodes to c exactly.
func quantParams(src []float32) (scale, zero float32) {
	if len(src) == 0 {
		return 1, 0
	}
	lo, hi := src[0], src[0]
	for _, v := range src[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	switch {
	case lo == hi && lo > 0:
		return lo, 0
	case lo == hi && lo < 0:
		return -lo, 1
	}
	lo, hi = min(lo, 0), max(hi, 0)
	scale = float32((float64(hi) - float64(lo)) / 255)
	if scale == 0 { // all zero, or a range below float32's smallest step
		return 1, 0
	}
	z := math.Round(-float64(lo) / float64(scale))
	return scale, float32(min(max(z, 0), 255))
}

// DecodeTensor writes t's values as float32 into dst, which must hold
// exactly t.Len() values.
func DecodeTensor(t Tensor, dst []float32) error {
	n := t.Len()
	if len(dst) != n {
		return fmt.Errorf("decode tensor %q: shape %v holds %d values, dst has room for %d", t.Name, t.Shape, n, len(dst))
	}
	size := t.DType.Size()
	if size == 0 {
		return fmt.Errorf("decode tensor %q: unknown dtype %v: want float32, float16 or uint8", t.Name, t.DType)
	}
	if len(t.Data) != n*size {
		return fmt.Errorf("decode tensor %q: %d values of %s need %d bytes, %d given", t.Name, n, t.DType, n*size, len(t.Data))
	}
	switch t.DType {
	case Float32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	case Float16:
		for i := range dst {
			dst[i] = fromHalf(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
	case Uint8:
		for i, q := range t.Data {
			dst[i] = (float32(q) - t.Zero) * t.Scale
		}
	}
	return nil
}

// toHalf rounds f to the nearest IEEE 754 half, ties to even.
func toHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 // NaN, quiet
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // the half's biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e >= 1 {
		h := uint32(e)<<10 | mant>>13
		rest := mant & 0x1fff
		if rest > 0x1000 || rest == 0x1000 && h&1 == 1 {
			h++ // a carry into the exponent is right, up to Inf
		}
		return sign | uint16(h)
	}
	// A half subnormal: the value is m × 2^-24, m = the full mantissa
	// shifted right by 14-e.
	shift := uint(14 - e)
	if shift > 24 {
		return sign // under half the smallest subnormal
	}
	m := mant | 0x800000
	h := m >> shift
	rest, half := m&(1<<shift-1), uint32(1)<<(shift-1)
	if rest > half || rest == half && h&1 == 1 {
		h++
	}
	return sign | uint16(h)
}

// fromHalf gives the float32 equal to the half h; every half has one.
func fromHalf(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0:
		v := float32(mant) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}
