package dataset

import (
	"fmt"
	"iter"
	"os"
	"path/filepath"
)

// Written counts what a writer wrote.
type Written struct {
	Train, Val int // images in each split
	Boxes      int
}

// Images is the number of images in both splits.
func (w Written) Images() int { return w.Train + w.Val }

// export is what every writer shares: it checks each example, clips its
// boxes to the image, writes its JPEG to images/SPLIT/ID.jpg under dir,
// and hands the example, its split and the JPEG's path relative to dir to
// add.
func export(dir string, examples iter.Seq2[Example, error], names []string, split Split,
	add func(e Example, split, image string) error) (Written, error) {
	var w Written
	for _, s := range []string{Train, Val} {
		if err := os.MkdirAll(filepath.Join(dir, "images", s), 0o755); err != nil {
			return w, err
		}
	}
	seen := map[string]bool{}
	for e, err := range examples {
		if err != nil {
			return w, err
		}
		if err := check(e, names); err != nil {
			return w, err
		}
		if seen[e.ID] {
			return w, fmt.Errorf("example %s: the ID is used twice", e.ID)
		}
		seen[e.ID] = true
		e.Boxes = clip(e.Boxes, float64(e.Width), float64(e.Height))
		s := split.Of(e.ID)
		image := filepath.Join("images", s, e.ID+".jpg")
		if err := os.WriteFile(filepath.Join(dir, image), e.JPEG, 0o644); err != nil {
			return w, err
		}
		if err := add(e, s, filepath.ToSlash(image)); err != nil {
			return w, err
		}
		if s == Val {
			w.Val++
		} else {
			w.Train++
		}
		w.Boxes += len(e.Boxes)
	}
	return w, nil
}

func check(e Example, names []string) error {
	if err := checkID(e.ID); err != nil {
		return err
	}
	if len(e.JPEG) == 0 {
		return fmt.Errorf("example %s: no JPEG", e.ID)
	}
	if e.Width <= 0 || e.Height <= 0 {
		return fmt.Errorf("example %s: image size %dx%d", e.ID, e.Width, e.Height)
	}
	for _, b := range e.Boxes {
		if b.Class < 0 || b.Class >= len(names) {
			return fmt.Errorf("example %s: class %d (%s) is not among the %d class names", e.ID, b.Class, b.Label, len(names))
		}
	}
	return nil
}

// clip keeps the part of each box inside the image, and drops the boxes
// with nothing left: every format wants boxes within the image.
func clip(bs []Box, w, h float64) []Box {
	out := make([]Box, 0, len(bs))
	for _, b := range bs {
		x1, y1 := max(b.X, 0), max(b.Y, 0)
		x2, y2 := min(b.X+b.W, w), min(b.Y+b.H, h)
		if x2 <= x1 || y2 <= y1 {
			continue
		}
		b.X, b.Y, b.W, b.H = x1, y1, x2-x1, y2-y1
		out = append(out, b)
	}
	return out
}
