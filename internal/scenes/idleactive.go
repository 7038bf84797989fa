package scenes

import (
	"fmt"
	"math/rand/v2"

	"gocv.io/x/gocv"
)

// Segment is a stretch of a scene: Frames frames of the still scene, or,
// when Active, of the video from its frame From on (looping).
type Segment struct {
	Active bool
	Frames int
	From   int
}

// IdleActive plans a scene of frames frames that is active (the real
// video) share of the time: still stretches and active ones of about
// meanActive frames (half to one and a half times that, uniformly) take
// turns, each still stretch as long as makes its cycle share active; the
// same plan for the same seed. It starts still, so that a motion
// background can form, and each active stretch starts where a seeded draw
// puts it in a video of videoFrames frames: cameras with different seeds
// see different people at different times.
func IdleActive(seed uint64, frames int, share float64, meanActive, videoFrames int) []Segment {
	rng := rand.New(rand.NewPCG(seed, 0x5ce7e))
	share = min(max(share, 0.01), 1)
	var plan []Segment
	for n := 0; n < frames; {
		a := max(1, meanActive/2+rng.IntN(max(1, meanActive)))
		still := int(float64(a)*(1-share)/share + 0.5)
		for _, s := range []Segment{{Frames: still}, {Active: true, Frames: a, From: rng.IntN(max(1, videoFrames))}} {
			s.Frames = min(s.Frames, frames-n)
			if s.Frames > 0 {
				plan = append(plan, s)
				n += s.Frames
			}
		}
	}
	return plan
}

// Write renders a plan into an MJPEG AVI at path, at fps: still stretches
// from still (frame numbers counted over the whole scene, so noise and
// drift go on), active ones from the video at videoPath, whose frames must
// have still's size.
func Write(path string, fps float64, still Still, videoPath string, plan []Segment) error {
	vc, err := gocv.VideoCaptureFile(videoPath)
	if err != nil {
		return fmt.Errorf("scene: open %s: %w", videoPath, err)
	}
	defer vc.Close()
	n := int(vc.Get(gocv.VideoCaptureFrameCount))
	w, h := still.BG.Cols(), still.BG.Rows()
	vw, err := gocv.VideoWriterFile(path, "MJPG", fps, w, h, true)
	if err != nil {
		return fmt.Errorf("scene: write %s: %w", path, err)
	}
	defer vw.Close()
	img := gocv.NewMat()
	defer img.Close()
	i := 0
	for _, s := range plan {
		if s.Active {
			vc.Set(gocv.VideoCapturePosFrames, float64(s.From%max(n, 1)))
		}
		for range s.Frames {
			if !s.Active {
				f := still.Frame(i)
				err = vw.Write(f)
				f.Close()
			} else {
				if !vc.Read(&img) || img.Empty() {
					vc.Set(gocv.VideoCapturePosFrames, 0) // loop
					if !vc.Read(&img) || img.Empty() {
						return fmt.Errorf("scene: cannot read %s", videoPath)
					}
				}
				if img.Cols() != w || img.Rows() != h {
					return fmt.Errorf("scene: %s is %dx%d, the still scene %dx%d", videoPath, img.Cols(), img.Rows(), w, h)
				}
				err = vw.Write(img)
			}
			if err != nil {
				return fmt.Errorf("scene: write %s frame %d: %w", path, i, err)
			}
			i++
		}
	}
	return nil
}
