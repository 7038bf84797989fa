// Package dataset turns examples into training sets and measures a
// detector against a labelled one.
//
// In: Examples (a JPEG, its size, boxes in pixels, where and when it was
// seen) from a Source. Out: the Ultralytics YOLO layout (WriteYOLO), COCO
// annotations (WriteCOCO) and Label Studio tasks with the boxes as
// pre-annotations (WriteLabelStudio), each example put in train or val by
// a hash of its ID (Split). Eval runs a detector over a YOLO-layout split
// and Score turns ground truth and predictions into AP, mAP50, mAP50-95
// and per-class precision and recall.
//
// Source is the seam: Folder (a folder of images pre-labelled by running a
// model over them) is the source today; the hard-example store plugs in
// behind the same interface.
//
// AP is COCO's: per class, predictions by falling score are matched
// greedily to the unmatched ground-truth box of highest IoU (at least the
// threshold), precision is made non-increasing from the right (the
// envelope), and AP is the mean of that envelope sampled at the 101 recall
// points 0, 0.01, …, 1 (0 past the highest recall reached). mAP50 is the
// mean over classes with ground truth of AP at IoU 0.50; mAP50-95 the mean
// of AP over IoU 0.50, 0.55, …, 0.95. A false positive scored below every
// true positive comes after full recall and leaves AP at 1 (it lowers
// precision). Unlike pycocotools there are no area ranges, no crowd boxes
// and no per-image cap beyond the detector's own.
package dataset
