// Package scenes makes the test scenes motion gating is measured on, from
// the sample media, so that tests and benchmarks share them: a still
// background taken from a video itself (the per-pixel median of frames
// spread over it removes what walks through), frames of that still scene
// with sensor noise and a slow brightness drift, seeded, stretches of the
// real video between still ones (IdleActive, Write), and the video shrunk
// into a large frame so that its people are a few dozen pixels tall
// (Large), for regions at full resolution.
package scenes

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gocv.io/x/gocv"
)

// Background is the per-pixel median of samples frames spread evenly over
// the video at path (at least 3): the scene without what moves through it.
func Background(path string, samples int) (gocv.Mat, error) {
	samples = max(samples, 3)
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		return gocv.NewMat(), fmt.Errorf("background of %s: %w", path, err)
	}
	defer vc.Close()
	n := int(vc.Get(gocv.VideoCaptureFrameCount))
	if n < samples {
		return gocv.NewMat(), fmt.Errorf("background of %s: %d frames, want at least %d", path, n, samples)
	}
	img := gocv.NewMat()
	defer img.Close()
	var frames [][]byte
	var rows, cols, typ int
	for i := range samples {
		vc.Set(gocv.VideoCapturePosFrames, float64(i*(n-1)/(samples-1)))
		if !vc.Read(&img) || img.Empty() {
			return gocv.NewMat(), fmt.Errorf("background of %s: cannot read frame %d", path, i*(n-1)/(samples-1))
		}
		rows, cols, typ = img.Rows(), img.Cols(), int(img.Type())
		frames = append(frames, slices.Clone(img.ToBytes()))
	}
	out := make([]byte, len(frames[0]))
	col := make([]byte, len(frames))
	for p := range out {
		for i, f := range frames {
			col[i] = f[p]
		}
		slices.Sort(col)
		out[p] = col[len(col)/2]
	}
	return owned(gocv.NewMatFromBytes(rows, cols, gocv.MatType(typ), out))
}

// owned copies a Mat made on Go memory into one of OpenCV's own.
func owned(m gocv.Mat, err error) (gocv.Mat, error) {
	if err != nil {
		return gocv.NewMat(), err
	}
	defer m.Close()
	return m.Clone(), nil
}

// Still makes the frames of a still scene: bg with Gaussian sensor noise
// and a brightness that drifts slowly, the same frames for the same seed.
type Still struct {
	BG    gocv.Mat // 8-bit, 1 or 3 channels
	Noise float64  // standard deviation of the noise, in gray levels
	Drift float64  // brightness change per frame, in gray levels
	Seed  uint64
}

// Frame is frame i (from 0); the caller closes it.
func (s Still) Frame(i int) gocv.Mat {
	src := s.BG.ToBytes()
	rng := rand.New(rand.NewPCG(s.Seed, uint64(i)))
	offset := s.Drift * float64(i)
	out := make([]byte, len(src))
	for p, v := range src {
		x := float64(v) + offset + rng.NormFloat64()*s.Noise
		out[p] = byte(math.Max(0, math.Min(255, math.Round(x))))
	}
	m, err := owned(gocv.NewMatFromBytes(s.BG.Rows(), s.BG.Cols(), s.BG.Type(), out))
	if err != nil {
		panic(err) // same size and type as BG: cannot fail
	}
	return m
}
