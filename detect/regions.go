package detect

import (
	"cmp"
	"fmt"
	"image"
	"slices"
	"time"

	"gocv.io/x/gocv"
)

// Regions at full resolution: on a frame larger than the model input, a
// person a few dozen pixels tall shrinks to a dozen when the whole frame is
// letterboxed, too small for the model. Square crops around where things
// move (motion blobs, track boxes) keep the native resolution instead, at
// the cost of one inference per crop, so their number is bounded.

// PlanRegions groups interest boxes (motion blobs, track boxes: frame
// pixels) into at most limit crops of a frame whose size is frame, for a
// model whose input is side×side. Each box, with a margin of side/8 so
// that what moves is rarely cut at a crop's border, lies inside one crop.
// A crop is a side×side square at native resolution, or a larger square
// (which the detector shrinks) where a group does not fit in one, or where
// more than limit squares would be needed and the closest groups are
// merged; a square is shifted, never shrunk, to lie inside the frame, and
// only a square larger than the frame is cut to it. The crops come in
// reading order (top, then left) and are the same for the same input.
//
// nil means no crops: a frame with both sides at most side is the model's
// input whole, and without boxes there is nothing to look at closer (a
// caller that still wants detections runs the whole frame). limit < 1 is 1.
func PlanRegions(frame image.Point, boxes []image.Rectangle, side, limit int) []image.Rectangle {
	bounds := image.Rectangle{Max: frame}
	if side <= 0 || (frame.X <= side && frame.Y <= side) {
		return nil
	}
	limit = max(limit, 1)
	margin := side / 8
	var groups []image.Rectangle
	for _, b := range boxes {
		if b = b.Canon().Intersect(bounds); !b.Empty() {
			groups = append(groups, b.Inset(-margin).Intersect(bounds))
		}
	}
	if len(groups) == 0 {
		return nil
	}
	// Sorted first, so that ties below break the same way for the same
	// boxes in any order.
	slices.SortFunc(groups, byPosition)

	// Merge while a merge costs no larger square than one already needed
	// (two small groups that fit in one side×side crop, a small one inside
	// a large one's square); then, while there are too many, the pair whose
	// union needs the smallest square.
	for {
		i, j, grows := closestPair(groups, side)
		if i < 0 || (grows && len(groups) <= limit) {
			break
		}
		groups[i] = groups[i].Union(groups[j])
		groups = slices.Delete(groups, j, j+1)
	}

	crops := make([]image.Rectangle, 0, len(groups))
	for _, g := range groups {
		crops = append(crops, square(g, side, frame))
	}
	// Squares shifted to the frame's edge can end up one inside another.
	slices.SortFunc(crops, func(a, b image.Rectangle) int {
		return cmp.Compare(b.Dx()*b.Dy(), a.Dx()*a.Dy())
	})
	kept := crops[:0]
	for _, c := range crops {
		if !slices.ContainsFunc(kept, c.In) {
			kept = append(kept, c)
		}
	}
	slices.SortFunc(kept, byPosition)
	return kept
}

func byPosition(a, b image.Rectangle) int {
	return cmp.Or(cmp.Compare(a.Min.Y, b.Min.Y), cmp.Compare(a.Min.X, b.Min.X),
		cmp.Compare(a.Max.Y, b.Max.Y), cmp.Compare(a.Max.X, b.Max.X))
}

// squareSide is the side of the square crop that holds g: side, or g's
// longer side when that is longer.
func squareSide(g image.Rectangle, side int) int {
	return max(side, g.Dx(), g.Dy())
}

// closestPair is the pair of groups whose union needs the smallest square
// (then the smallest union), and whether that square is larger than the
// larger of the two squares the groups need on their own. i < 0 when there
// is no pair.
func closestPair(groups []image.Rectangle, side int) (i, j int, grows bool) {
	i, j = -1, -1
	var bestSide, bestArea int
	for a := range groups {
		for b := a + 1; b < len(groups); b++ {
			u := groups[a].Union(groups[b])
			s, area := squareSide(u, side), u.Dx()*u.Dy()
			if i < 0 || s < bestSide || (s == bestSide && area < bestArea) {
				i, j, bestSide, bestArea = a, b, s, area
			}
		}
	}
	if i < 0 {
		return -1, -1, false
	}
	alone := max(squareSide(groups[i], side), squareSide(groups[j], side))
	return i, j, bestSide > alone
}

// square is the square crop around g, shifted inside the frame.
func square(g image.Rectangle, side int, frame image.Point) image.Rectangle {
	s := squareSide(g, side)
	w, h := min(s, frame.X), min(s, frame.Y)
	c := g.Min.Add(g.Max).Div(2)
	x := min(max(c.X-w/2, 0), frame.X-w)
	y := min(max(c.Y-h/2, 0), frame.Y-h)
	return image.Rect(x, y, x+w, y+h)
}

// DetectRegions runs the model on each region of a BGR image (crops in
// img's pixels, as PlanRegions plans them) and appends what it finds to
// dst, in img's coordinates. Where crops overlap, an object cut by one
// crop's inner border (a border that is not the frame's edge) is dropped
// for the same object whole in another crop, and class-aware NMS (the
// detector's IoU) keeps one of the detections that several crops made of
// one object. No regions: the whole image, as Detect. The timings are the
// sums over the crops. img is only read. The same rules as Detect's hold:
// not safe for concurrent use, and one more user of Finish's scratch.
func (d *Detector) DetectRegions(img gocv.Mat, regions []image.Rectangle, dst []Detection) ([]Detection, Timings, error) {
	if len(regions) == 0 {
		return d.Detect(img, dst)
	}
	bounds := image.Rect(0, 0, img.Cols(), img.Rows())
	start := len(dst)
	var sum Timings
	var cropOf []int // per detection, its region
	for k, r := range regions {
		if r.Empty() || !r.In(bounds) {
			return dst[:start], sum, fmt.Errorf("region %d %v: empty or not inside the %dx%d image", k, r, img.Cols(), img.Rows())
		}
		// A region is a view into img's rows, not continuous; the letterbox
		// resizes or splits it into planes with OpenCV, which steps over
		// the rows' gaps, so it needs no copy (TestDetectRegionsViewIsCopy).
		crop := img.Region(r)
		from := len(dst)
		var tm Timings
		var err error
		dst, tm, err = d.Detect(crop, dst)
		crop.Close()
		sum.Preprocess += tm.Preprocess
		sum.Infer += tm.Infer
		sum.Postprocess += tm.Postprocess
		if err != nil {
			return dst[:start], sum, fmt.Errorf("region %d %v: %w", k, r, err)
		}
		dx, dy := float32(r.Min.X), float32(r.Min.Y)
		for i := from; i < len(dst); i++ {
			b := &dst[i].Box
			b.X1, b.Y1, b.X2, b.Y2 = b.X1+dx, b.Y1+dy, b.X2+dx, b.Y2+dy
			cropOf = append(cropOf, k)
		}
	}
	t0 := time.Now()
	dets := d.MergeRegions(dst[start:], cropOf, regions, bounds.Max)
	sum.Postprocess += time.Since(t0)
	return dst[:start+len(dets)], sum, nil
}

// MergeRegions merges, in place, the detections of several crops of one
// frame of size frame, in the frame's coordinates: dets[i] was found in
// regions[cropOf[i]]. An object cut by one crop's inner border that
// another crop saw whole loses to it, and class-aware NMS (the detector's
// IoU) keeps one of the detections several crops made of one object.
// DetectRegions runs it; a caller that runs the crops through the staged
// steps (Prepare, Infer, Finish) merges with it after the last Finish. It
// uses Finish's scratch: call it where Finish is called.
func (d *Detector) MergeRegions(dets []Detection, cropOf []int, regions []image.Rectangle, frame image.Point) []Detection {
	if len(regions) < 2 { // one crop's are Finish's, suppressed already
		return dets
	}
	dets = d.dropCut(dets, cropOf, regions, image.Rectangle{Max: frame})
	return d.sup.NMS(dets, d.opts.IoU, d.opts.ClassAgnostic, d.opts.MaxDetections)
}

// cutSlack is how near a crop's inner border, in model input pixels, a box
// edge counts as touching it: the model puts a cut object's edge on the
// border, give or take a pixel or two.
const cutSlack = 3

// dropCut removes, in place, the detections cut by an inner border of
// their crop that another crop saw whole: the same class (unless class
// agnostic) and, within the cut one's crop, overlapping it by more than
// the detector's IoU. dets[i] was found in regions[cropOf[i]].
func (d *Detector) dropCut(dets []Detection, cropOf []int, regions []image.Rectangle, bounds image.Rectangle) []Detection {
	cut := make([]bool, len(dets))
	for i, x := range dets {
		cut[i] = touchesInnerBorder(x.Box, regions[cropOf[i]], bounds, d.inW)
	}
	drop := make([]bool, len(dets))
	for i, a := range dets {
		if !cut[i] {
			continue
		}
		r := regions[cropOf[i]]
		for j, b := range dets {
			if cut[j] || cropOf[j] == cropOf[i] || (!d.opts.ClassAgnostic && a.Class != b.Class) {
				continue
			}
			if IoU(a.Box, clip(b.Box, r)) > d.opts.IoU {
				drop[i] = true
				break
			}
		}
	}
	kept := dets[:0]
	for i, x := range dets {
		if !drop[i] {
			kept = append(kept, x)
		}
	}
	return kept
}

// touchesInnerBorder reports whether b reaches a border of crop r that is
// not also the frame's edge. side is the model input's, to scale the
// slack for a crop the letterbox shrinks.
func touchesInnerBorder(b Box, r, frame image.Rectangle, side int) bool {
	slack := float32(cutSlack) * max(1, float32(max(r.Dx(), r.Dy()))/float32(side))
	return (r.Min.X > frame.Min.X && b.X1 <= float32(r.Min.X)+slack) ||
		(r.Min.Y > frame.Min.Y && b.Y1 <= float32(r.Min.Y)+slack) ||
		(r.Max.X < frame.Max.X && b.X2 >= float32(r.Max.X)-slack) ||
		(r.Max.Y < frame.Max.Y && b.Y2 >= float32(r.Max.Y)-slack)
}

func clip(b Box, r image.Rectangle) Box {
	x0, y0, x1, y1 := float32(r.Min.X), float32(r.Min.Y), float32(r.Max.X), float32(r.Max.Y)
	return Box{X1: clamp(b.X1, x0, x1), Y1: clamp(b.Y1, y0, y1), X2: clamp(b.X2, x0, x1), Y2: clamp(b.Y2, y0, y1)}
}
