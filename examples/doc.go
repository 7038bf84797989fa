// Package examples captures hard examples: frames worth labelling, taken
// from the live pipeline.
//
// In: each processed frame's detections, tracks and picture (Frame). A
// Sampler decides, per camera and without touching the picture, whether
// any strategy wants the frame (close to a class's threshold, a random
// fraction, listed classes, an object count in a range, a track the
// detector missed or a detection no track took) and why; a shadow
// candidate model that disagrees with the live one hands its frames in
// through Take. Then, within the camera's per-minute, per-hour
// and per-day limits and unless it looks like the camera's last example,
// Capture clones the picture and hands it to a worker that encodes the
// JPEG off the frame path.
//
// Out: dataset.Examples (the JPEG, the live model's boxes as pre-labels,
// and the reasons) put in a Store: a NATS object store bucket that a
// whole fleet shares (NATS), or a folder (Folder), each bounded by bytes
// and age. Both are dataset.Sources, which `vigil dataset export
// --from-store` reads.
package examples
