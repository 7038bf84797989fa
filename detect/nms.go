package detect

import (
	"slices"
)

// NMS keeps, among boxes that overlap by more than iou, the highest scoring
// one, and returns at most maxDet detections sorted by descending score.
// Class-aware unless agnostic: boxes of different classes never suppress
// each other. It works in place on dets.
//
// Candidates are visited in score order and each is compared only with the
// boxes already kept, so the cost is N×K (K kept), not N², on crowded
// frames where most candidates are duplicates of a few objects.
func NMS(dets []Detection, iou float32, agnostic bool, maxDet int) []Detection {
	slices.SortFunc(dets, func(a, b Detection) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	kept := dets[:0]
	for i := range dets {
		d := dets[i]
		suppressed := false
		for _, k := range kept {
			if !agnostic && k.Class != d.Class {
				continue
			}
			if IoU(k.Box, d.Box) > iou {
				suppressed = true
				break
			}
		}
		if suppressed {
			continue
		}
		kept = append(kept, d)
		if maxDet > 0 && len(kept) == maxDet {
			break
		}
	}
	return kept
}
