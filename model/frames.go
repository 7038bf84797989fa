package model

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gocv.io/x/gocv"
)

// imageExts are the files a folder of frames is read for.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true,
	".tif": true, ".tiff": true, ".webp": true, ".ppm": true, ".pgm": true}

// Frames picks frames out of video files, image files and folders of
// images. With Max > 0 it takes at most Max frames, shared as evenly as
// they allow between the paths (an image is one frame; what a short path
// cannot use goes to the others), and spread evenly within each path;
// Phase in [0,1) shifts the picks within each stride, so that two sets
// with phases 0 and 0.5 share no frame (calibrate on one, evaluate on the
// other). With Max = 0 it takes every frame.
type Frames struct {
	Paths []string
	Max   int
	Phase float64
}

// frameItem is one file: an image (count 1) or a video.
type frameItem struct {
	path  string
	video bool
	count int // frames; for a video whose length is unknown, 0
}

// source is what one of Frames.Paths holds.
type source struct {
	items []frameItem
	count int // frames in all items; -1 when a video's length is unknown
}

// ErrNoFrames is returned when the paths hold no frame at all.
var ErrNoFrames = errors.New("no frames")

func (f Frames) sources() ([]source, error) {
	if len(f.Paths) == 0 {
		return nil, fmt.Errorf("%w: give one or more video files, images or folders of images", ErrNoFrames)
	}
	var srcs []source
	for _, p := range f.Paths {
		var items []frameItem
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("frames %s: %w", p, pathErr(err))
		}
		if st.IsDir() {
			ents, err := os.ReadDir(p)
			if err != nil {
				return nil, fmt.Errorf("frames %s: %w", p, err)
			}
			var names []string
			for _, e := range ents {
				if !e.IsDir() && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
					names = append(names, e.Name())
				}
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("frames %s: %w: the folder has no images (.jpg, .png, .bmp, .tif, .webp); give a folder of images or a video file", p, ErrNoFrames)
			}
			sort.Strings(names)
			for _, n := range names {
				items = append(items, frameItem{path: filepath.Join(p, n), count: 1})
			}
			srcs = append(srcs, source{items: items, count: len(items)})
			continue
		}
		if imageExts[strings.ToLower(filepath.Ext(p))] {
			srcs = append(srcs, source{items: []frameItem{{path: p, count: 1}}, count: 1})
			continue
		}
		vc, err := gocv.VideoCaptureFileWithAPI(p, gocv.VideoCaptureFFmpeg)
		if err != nil || !vc.IsOpened() {
			if vc != nil {
				vc.Close()
			}
			return nil, fmt.Errorf("frames %s: %w: OpenCV cannot open it as a video; give a video file (avi, mp4, mkv …), an image or a folder of images", p, ErrNoFrames)
		}
		n := vc.Get(gocv.VideoCaptureFrameCount)
		vc.Close()
		c := 0
		if n > 0 && n < math.MaxInt32 {
			c = int(n)
		}
		src := source{items: []frameItem{{path: p, video: true, count: c}}, count: c}
		if c == 0 {
			src.count = -1
		}
		srcs = append(srcs, src)
	}
	return srcs, nil
}

// budgets shares max frames between sources: equal shares, and what a
// source cannot use goes to the others. 0 for max means all frames (-1).
func budgets(srcs []source, max int) []int {
	b := make([]int, len(srcs))
	if max <= 0 {
		for i := range b {
			b[i] = -1
		}
		return b
	}
	left, open := max, len(srcs)
	full := make([]bool, len(srcs))
	for left > 0 && open > 0 {
		share := left / open
		if share == 0 {
			share = 1
		}
		progress := false
		for i, s := range srcs {
			if full[i] || left == 0 {
				continue
			}
			add := share
			if s.count >= 0 {
				add = min(add, s.count-b[i])
			}
			add = min(add, left)
			b[i] += add
			left -= add
			progress = progress || add > 0
			if s.count >= 0 && b[i] >= s.count {
				full[i] = true
				open--
			}
		}
		if !progress {
			break
		}
	}
	return b
}

func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Each calls fn with every chosen frame (BGR, owned by Each: fn must not
// keep it) and its name (path, and #index for a video frame). It stops at
// fn's first error. It returns the number of frames given to fn, and an
// error wrapping ErrNoFrames when there were none.
func (f Frames) Each(fn func(name string, img gocv.Mat) error) (int, error) {
	srcs, err := f.sources()
	if err != nil {
		return 0, err
	}
	img := gocv.NewMat()
	defer img.Close()
	done := 0
	for si, budget := range budgets(srcs, f.Max) {
		s := srcs[si]
		if budget == 0 {
			continue
		}
		// picks are the indexes within the source to take; nil = the first
		// budget frames (all when budget is -1).
		var picks map[int]bool
		if budget > 0 && s.count > budget {
			picks = map[int]bool{}
			for i := 0; i < budget; i++ {
				picks[int((float64(i)+f.Phase)*float64(s.count)/float64(budget))] = true
			}
		}
		took, index := 0, 0
		want := func() bool {
			return (budget < 0 || took < budget) && (picks == nil || picks[index])
		}
		for _, it := range s.items {
			if budget >= 0 && took >= budget {
				break
			}
			if !it.video {
				if want() {
					m := gocv.IMRead(it.path, gocv.IMReadColor)
					if m.Empty() {
						m.Close()
						return done, fmt.Errorf("frames %s: OpenCV cannot decode the image", it.path)
					}
					err := fn(it.path, m)
					m.Close()
					if err != nil {
						return done, err
					}
					took++
				}
				index++
				continue
			}
			vc, err := gocv.VideoCaptureFileWithAPI(it.path, gocv.VideoCaptureFFmpeg)
			if err != nil {
				return done, fmt.Errorf("frames %s: %w", it.path, err)
			}
			for read := 0; (it.count == 0 || read < it.count) && (budget < 0 || took < budget); read++ {
				if !want() {
					vc.Grab(1)
					index++
					continue
				}
				if !vc.Read(&img) || img.Empty() {
					break
				}
				if err := fn(fmt.Sprintf("%s#%d", it.path, read), img); err != nil {
					vc.Close()
					return done, err
				}
				took++
				index++
			}
			vc.Close()
		}
		done += took
	}
	if done == 0 {
		return 0, fmt.Errorf("frames %s: %w: none could be read; give video files, images or folders of images", strings.Join(f.Paths, ", "), ErrNoFrames)
	}
	return done, nil
}
