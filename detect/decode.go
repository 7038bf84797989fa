package detect

import (
	"fmt"
	"math"
	"strings"
	"unsafe"
)

// Layout is the arrangement of a detector's output tensor.
type Layout int

const (
	// LayoutYOLOv8 is [1, 4+C, N]: per anchor cx, cy, w, h then C class
	// scores, anchors along the last axis (YOLOv8, YOLO11).
	LayoutYOLOv8 Layout = iota + 1
	// LayoutYOLOv5 is [1, N, 5+C]: cx, cy, w, h, objectness, C class scores.
	LayoutYOLOv5
	// LayoutEnd2End is [1, N, 6]: x1, y1, x2, y2, score, class, with NMS
	// already done inside the model (YOLOv10, NMS-exported models).
	LayoutEnd2End
)

func (l Layout) String() string {
	switch l {
	case LayoutYOLOv8:
		return "yolov8"
	case LayoutYOLOv5:
		return "yolov5"
	case LayoutEnd2End:
		return "end2end"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// ParseLayout reads a decoder name as written in the config; "auto" and ""
// give 0, meaning "choose from the shape".
func ParseLayout(s string) (Layout, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return 0, nil
	case "yolov8", "yolo11", "yolov11":
		return LayoutYOLOv8, nil
	case "yolov5":
		return LayoutYOLOv5, nil
	case "end2end", "yolov10":
		return LayoutEnd2End, nil
	}
	return 0, fmt.Errorf("unknown decoder %q; use auto, yolov8, yolov5 or end2end", s)
}

// Limits on what a model may declare, checked before anything is made for
// it: a damaged model file would otherwise have vigil allocate terabytes
// for its tensors, or name 2^40 classes one by one.
const (
	MaxInputSide      = 8192    // pixels, each side of the input image
	MaxOutputElements = 1 << 27 // floats in the output; a YOLOv8 at 8192×8192 has 116M
	MaxClasses        = 100_000
)

const layoutHelp = "vigil decodes [1,4+C,N] (YOLOv8/YOLO11), [1,N,5+C] (YOLOv5) and [1,N,6] (end-to-end, NMS inside)"

// ChooseLayout picks the decoder for an output shape, or checks the forced
// one against it, and returns the number of classes the shape implies (0
// for end-to-end, where the class is a value, not a column).
//
// [1,N,6] is read as end-to-end even though a one-class YOLOv5 has the same
// shape; such a model sets model.decoder: yolov5.
func ChooseLayout(shape []int64, forced Layout) (Layout, int, error) {
	if len(shape) != 3 || shape[0] != 1 {
		return 0, 0, fmt.Errorf("output shape %v is not a detector output; %s", shape, layoutHelp)
	}
	a, b := shape[1], shape[2]
	if a <= 0 || b <= 0 {
		return 0, 0, fmt.Errorf("output shape %v has dynamic or empty dimensions; %s, with static sizes", shape, layoutHelp)
	}
	if a > MaxOutputElements/b {
		return 0, 0, fmt.Errorf("output shape %v holds over %d values; vigil decodes smaller outputs: export the model at a smaller input size", shape, MaxOutputElements)
	}
	l := forced
	if l == 0 {
		switch {
		case a < b:
			l = LayoutYOLOv8
		case b == 6:
			l = LayoutEnd2End
		default:
			l = LayoutYOLOv5
		}
	}
	switch l {
	case LayoutYOLOv8:
		if a < 5 {
			return 0, 0, fmt.Errorf("output shape %v: yolov8 layout needs [1,4+C,N] with C ≥ 1", shape)
		}
		return l, int(a - 4), checkClasses(shape, a-4)
	case LayoutYOLOv5:
		if b < 6 {
			return 0, 0, fmt.Errorf("output shape %v: yolov5 layout needs [1,N,5+C] with C ≥ 1", shape)
		}
		return l, int(b - 5), checkClasses(shape, b-5)
	case LayoutEnd2End:
		if b != 6 {
			return 0, 0, fmt.Errorf("output shape %v: end2end layout needs [1,N,6]", shape)
		}
		return l, 0, nil
	}
	return 0, 0, fmt.Errorf("unknown layout %v", l)
}

func checkClasses(shape []int64, classes int64) error {
	if classes > MaxClasses {
		return fmt.Errorf("output shape %v: %d classes; vigil decodes at most %d", shape, classes, MaxClasses)
	}
	return nil
}

// Decoder turns a raw output tensor into candidate detections in input
// coordinates, keeping those at or above their class's threshold.
type Decoder struct {
	Layout     Layout
	Shape      [3]int64
	Thresholds []float32 // per class; classes past the end use Default
	Default    float32

	// per-anchor scratch for decodeV8
	keys  []uint32
	block []int32
	best  []float32
}

func (d *Decoder) threshold(class int) float32 {
	if class >= 0 && class < len(d.Thresholds) {
		return d.Thresholds[class]
	}
	return d.Default
}

// minThreshold is the lowest threshold of any class: a cheap first filter.
func (d *Decoder) minThreshold() float32 {
	m := d.Default
	for _, t := range d.Thresholds {
		m = min(m, t)
	}
	return m
}

// Decode appends the candidates in out to dst and returns it.
func (d *Decoder) Decode(out []float32, dst []Detection) ([]Detection, error) {
	want := d.Shape[0] * d.Shape[1] * d.Shape[2]
	if int64(len(out)) != want {
		return dst, fmt.Errorf("output has %d values, shape %v needs %d", len(out), d.Shape, want)
	}
	switch d.Layout {
	case LayoutYOLOv8:
		return d.decodeV8(out, dst), nil
	case LayoutYOLOv5:
		return d.decodeV5(out, dst), nil
	case LayoutEnd2End:
		return d.decodeE2E(out, dst), nil
	}
	return dst, fmt.Errorf("decoder has no layout")
}

// decodeV8 walks the tensor row by row (one class at a time over all
// anchors), the order it lies in memory: walking anchor by anchor instead
// strides 8400 floats between reads and misses the cache on every one.
//
// That pass is most of the work, so it does little: it compares scores as
// bit patterns, eight rows at a time, keeping per anchor the largest
// pattern and the first block of eight rows that holds it. For scores in
// [+0, +Inf] the bit order is the float order, so that is the best score,
// and its class is looked up in that block, only for the anchors that
// reach the lowest threshold. A negative or NaN score has a larger pattern
// than those; its anchor is read down its column instead, and when many
// are (a model without its final sigmoid) the plain pass does it all. Each
// way picks what a plain `s > best` scan picks: the first class with the
// best score.
func (d *Decoder) decodeV8(out []float32, dst []Detection) []Detection {
	rows, n := int(d.Shape[1]), int(d.Shape[2])
	classes := rows - 4
	if cap(d.keys) < n {
		d.keys, d.block = make([]uint32, n), make([]int32, n)
	}
	keys, block := d.keys[:n], d.block[:n]
	full := maxBlocks(out[4*n:], n, classes, keys, block)

	floor := d.minThreshold()
	skip := uint32(0) // patterns below skip are scores below floor
	if floor > 0 {
		skip = math.Float32bits(floor)
	}
	odd := 0 // anchors with a score outside [+0, +Inf]
	for _, k := range keys {
		if k > maxPlainScore {
			odd++
		}
	}
	if odd > n/8 {
		return d.decodeV8Plain(out, dst)
	}
	for i, k := range keys {
		if k < skip {
			continue
		}
		var s float32
		var c int
		if k <= maxPlainScore {
			s, c = math.Float32frombits(k), firstWithBits(out[4*n:], n, i, int(block[i]), full, k)
		} else {
			s, c = columnBest(out[4*n:], n, i, classes)
		}
		if s < floor || s < d.threshold(c) {
			continue
		}
		dst = appendV8(dst, out, n, i, c, s)
	}
	return dst
}

// maxPlainScore is the bit pattern of +Inf: patterns up to it are the
// scores in [+0, +Inf], ordered as their values are.
const maxPlainScore = 0x7f800000

// maxBlocks sets keys[i] to the largest bit pattern among the classes
// scores of anchor i (scores holds the class rows, n anchors each) and
// block[i] to the first row of the first block that holds it. Rows go in
// blocks of eight, and the rows past the last full block in blocks of
// one; it returns the number of rows in full blocks.
func maxBlocks(scores []float32, n, classes int, keys []uint32, block []int32) int {
	// The same memory read as bit patterns: integer max and compare, with
	// no float conversions.
	bits := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(scores))), classes*n)
	full := classes &^ 7
	for c0 := 0; c0 < full; c0 += 8 {
		base := c0 * n
		r0 := bits[base : base+n]
		r1, r2, r3 := bits[base+n : base+2*n][:len(r0)], bits[base+2*n : base+3*n][:len(r0)], bits[base+3*n : base+4*n][:len(r0)]
		r4, r5, r6, r7 := bits[base+4*n : base+5*n][:len(r0)], bits[base+5*n : base+6*n][:len(r0)], bits[base+6*n : base+7*n][:len(r0)], bits[base+7*n : base+8*n][:len(r0)]
		kk, bb := keys[:len(r0)], block[:len(r0)]
		if c0 == 0 {
			for i := range r0 {
				kk[i] = max(max(r0[i], r1[i]), max(r2[i], r3[i]), max(r4[i], r5[i]), max(r6[i], r7[i]))
			}
			clear(bb)
			continue
		}
		c := int32(c0)
		for i := range r0 {
			if v := max(max(r0[i], r1[i]), max(r2[i], r3[i]), max(r4[i], r5[i]), max(r6[i], r7[i])); v > kk[i] {
				kk[i], bb[i] = v, c
			}
		}
	}
	c0 := full
	if full == 0 {
		copy(keys, bits[:n])
		clear(block)
		c0 = 1
	}
	for ; c0 < classes; c0++ {
		c := int32(c0)
		for i, v := range bits[c0*n : (c0+1)*n][:len(keys)] {
			if v > keys[i] {
				keys[i], block[i] = v, c
			}
		}
	}
	return full
}

// firstWithBits is the first class in anchor i's block starting at row c0
// whose score has bit pattern k.
func firstWithBits(scores []float32, n, i, c0, full int, k uint32) int {
	end := c0 + 1
	if c0 < full {
		end = c0 + 8
	}
	for c := c0; c < end; c++ {
		if math.Float32bits(scores[c*n+i]) == k {
			return c
		}
	}
	panic("detect: block maximum not in its block")
}

// columnBest is anchor i's best score and class, the first one strictly
// greater than all before it, read down its column.
func columnBest(scores []float32, n, i, classes int) (float32, int) {
	best, bestC := scores[i], 0
	for c := 1; c < classes; c++ {
		if s := scores[c*n+i]; s > best {
			best, bestC = s, c
		}
	}
	return best, bestC
}

// decodeV8Plain keeps each anchor's best score and class through a plain
// `s > best` pass over the rows: for outputs where many scores lie outside
// [+0, +Inf]. decodeV8 has sized d.block.
func (d *Decoder) decodeV8Plain(out []float32, dst []Detection) []Detection {
	n := int(d.Shape[2])
	classes := int(d.Shape[1]) - 4
	if cap(d.best) < n {
		d.best = make([]float32, n)
	}
	best, bestC := d.best[:n], d.block[:n]
	copy(best, out[4*n:5*n])
	clear(bestC)
	for c := 1; c < classes; c++ {
		row := out[(4+c)*n : (5+c)*n]
		for i, s := range row {
			if s > best[i] {
				best[i], bestC[i] = s, int32(c)
			}
		}
	}
	floor := d.minThreshold()
	for i, s := range best {
		if s < floor || s < d.threshold(int(bestC[i])) {
			continue
		}
		dst = appendV8(dst, out, n, i, int(bestC[i]), s)
	}
	return dst
}

// appendV8 appends anchor i's box with the given class and score.
func appendV8(dst []Detection, out []float32, n, i, class int, score float32) []Detection {
	cx, cy, w, h := out[i], out[n+i], out[2*n+i], out[3*n+i]
	return append(dst, Detection{
		Class: class, Score: score,
		Box: Box{X1: cx - w/2, Y1: cy - h/2, X2: cx + w/2, Y2: cy + h/2},
	})
}

func (d *Decoder) decodeV5(out []float32, dst []Detection) []Detection {
	n, cols := int(d.Shape[1]), int(d.Shape[2])
	classes := cols - 5
	floor := d.minThreshold()
	for i := 0; i < n; i++ {
		row := out[i*cols : (i+1)*cols]
		obj := row[4]
		if obj < floor {
			continue // score = obj × class ≤ obj
		}
		best, bestC := float32(-1), -1
		for c := 0; c < classes; c++ {
			if s := row[5+c]; s > best {
				best, bestC = s, c
			}
		}
		score := obj * best
		if score < floor || score < d.threshold(bestC) {
			continue
		}
		cx, cy, w, h := row[0], row[1], row[2], row[3]
		dst = append(dst, Detection{
			Class: bestC, Score: score,
			Box: Box{X1: cx - w/2, Y1: cy - h/2, X2: cx + w/2, Y2: cy + h/2},
		})
	}
	return dst
}

func (d *Decoder) decodeE2E(out []float32, dst []Detection) []Detection {
	n := int(d.Shape[1])
	for i := 0; i < n; i++ {
		row := out[i*6 : i*6+6]
		class := int(row[5] + 0.5)
		if row[4] < d.threshold(class) {
			continue
		}
		dst = append(dst, Detection{
			Class: class, Score: row[4],
			Box: Box{X1: row[0], Y1: row[1], X2: row[2], Y2: row[3]},
		})
	}
	return dst
}
