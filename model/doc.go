// Package model shrinks, inspects and compares ONNX detectors.
//
// In: an ONNX model file and, for quantization and comparison, frames
// (video files, image files or folders of images) letterboxed exactly as
// the pipeline does (detect.Preprocessor). Out: a new ONNX file — INT8 in
// the QDQ format that onnxruntime fuses into integer kernels, or FP16 with
// float32 inputs and outputs — and reports: what a model holds (Inspect),
// how far a quantized layer moves the output (Sensitivity), and how well a
// candidate agrees with a reference and how much faster it runs (Compare
// on a set of frames; Shadow on live frames as they come, beside the live
// model, with the same numbers from the same Tally), and where a model can
// be split between two machines (Cuts: the tensors that cross after each
// node, with their sizes; Split: the head and tail models of a cut).
//
// The ONNX protobuf types come from github.com/advancedclimatesystems/gonnx/onnx.
package model
