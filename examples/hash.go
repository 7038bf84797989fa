package examples

import (
	"image"
	"math/bits"

	"gocv.io/x/gocv"
)

// Hash is a 64-bit average hash of a picture: an 8x8 grayscale thumbnail,
// one bit per pixel brighter than the thumbnail's mean. Near-identical
// frames (a static scene, sensor noise) differ in a few bits.
type Hash uint64

// Distance is how many bits differ.
func (h Hash) Distance(o Hash) int { return bits.OnesCount64(uint64(h ^ o)) }

// HashOf hashes a BGR (or grayscale) picture; it allocates two small Mats
// and closes them.
func HashOf(img gocv.Mat) Hash {
	if img.Empty() {
		return 0
	}
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(img, &small, image.Pt(8, 8), 0, 0, gocv.InterpolationArea)
	gray := small
	if small.Channels() == 3 {
		gray = gocv.NewMat()
		defer gray.Close()
		gocv.CvtColor(small, &gray, gocv.ColorBGRToGray)
	}
	px := gray.ToBytes()
	if len(px) != 64 {
		return 0
	}
	sum := 0
	for _, p := range px {
		sum += int(p)
	}
	var h Hash
	for i, p := range px {
		if int(p)*64 > sum {
			h |= 1 << i
		}
	}
	return h
}
