// Package detect turns a frame into detections.
//
// In: a BGR gocv.Mat of any size. Out: boxes in that frame's pixel
// coordinates, each with a class, label and score, after confidence
// filtering and non-maximum suppression.
//
// The work is letterbox + normalize straight into a reused input tensor
// (aspect kept, padding 114, BGR→RGB, 1/255, CHW), one onnxruntime session,
// a decoder chosen from the model's output shape (YOLOv8/v11 [1,4+C,N],
// YOLOv5 [1,N,5+C], end-to-end [1,N,6]), NMS, and the mapping of boxes back
// through the letterbox. Execution providers are cpu, cuda and tensorrt; the
// GPU ones need an onnxruntime library built with them (the default library
// from `make deps` is CPU-only) and say so when it is missing.
//
// Detect does it all in one call. The pipeline uses the same work split in
// three steps on Slots (Prepare, Infer, Finish) so that the next frame is
// letterboxed and the last one decoded while the model runs. NMS is
// Suppressor.NMS: a grid over the candidates keeps it near-linear on crowded
// frames.
//
// Regions: on a frame much larger than the model input, PlanRegions groups
// boxes of interest (motion blobs, tracks) into a bounded number of square
// crops at native resolution, DetectRegions runs the model on each, and
// MergeRegions joins their detections (an object cut by one crop's inner
// border loses to the same object whole in another; then class-aware NMS).
// The pipeline runs the crops through the Slots as parts of one frame and
// merges after the last Finish.
package detect
