package dataset

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
)

// The splits, as they name the folders.
const (
	Train = "train"
	Val   = "val"
)

// Split puts an example in train or val by a hash of its ID, so that an
// example keeps its split when the dataset is exported again with more
// examples. Val is the fraction that goes to val; the zero Split puts
// everything in train.
type Split struct{ Val float64 }

// ParseSplit reads "TRAIN/VAL" proportions: "80/20", "4/1", "100/0".
func ParseSplit(s string) (Split, error) {
	a, b, ok := strings.Cut(s, "/")
	t, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	v, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if !ok || err1 != nil || err2 != nil || !(t >= 0 && v >= 0 && t+v > 0) || math.IsInf(t+v, 0) {
		return Split{}, fmt.Errorf("split %q: want TRAIN/VAL proportions such as 80/20", s)
	}
	return Split{Val: v / (t + v)}, nil
}

// Of is the split the example with this ID goes to.
func (s Split) Of(id string) string {
	h := fnv.New64a()
	h.Write([]byte(id))
	// Mix the bits: FNV's low bits barely differ between IDs that differ
	// in their last character.
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	if float64(x>>11)/(1<<53) < s.Val {
		return Val
	}
	return Train
}

func (s Split) String() string {
	return fmt.Sprintf("%g/%g", 100*(1-s.Val), 100*s.Val)
}
