// Package infer runs a detector's model on another node over NATS: a
// Server (`vigil serve infer`) answers requests on a subject, in a queue
// group so that several servers share them, with a whole model (frames
// in, as JPEG or raw BGR) or the tail of a split one (`vigil model split`:
// the cut tensors in); a Remote is the client, a pipeline detector that
// sends each frame, or runs the head here and sends the cut as float32,
// float16 or uint8. Both sides check on connect that they belong together
// (the same source model, the same cut); a frame no server answers in
// time runs on a local fallback model, or fails and is counted. Replies
// carry detections, a few hundred bytes.
//
// A Remote measures its link as it runs (Link): the round trip is the
// least of its probes' (info requests of a few bytes, answered at once)
// over the last two minutes, the rate the median over its requests of
// the request's bytes over its round trip less the server's time (the
// reply's took) and that round trip. A Watch probes every so often and,
// given the goal and the profiles of both machines, re-runs the planner
// (model.Plan, model.Pick) over the measured link with the costs of
// sending this camera's own frames, and warns once when the configured
// way — whole frames as JPEG, or the cut the head ends at — is no
// longer the planner's choice.
//
// # Wire format
//
// One request and one reply per NATS message, both little-endian and
// versioned. A message starts with a 4-byte magic ("VGRQ" for a request,
// "VGRP" for a reply) and a version byte (Version); a reader refuses any
// other magic or version, so both sides must run the same vigil. Then the
// fields, in this order, where uv is an unsigned varint (encoding/binary,
// minimally encoded), str is a uv length and that many bytes, and f32 is
// an IEEE 754 float32 in 4 bytes:
//
//	request:  kind (1 byte), source str, then by kind:
//	  info     nothing
//	  jpeg     image: uv length (≥1) and the JPEG's bytes
//	  raw      width uv, height uv, then width×height×3 bytes of BGR
//	  tensors  count uv (1..64), then each tensor:
//	           name str, dtype (1 byte), ndims (1 byte, 1..8), each dim uv,
//	           scale f32 and zero f32 (uint8 only),
//	           then its values: product of dims × dtype size bytes
//	reply:    error str, source str, took uv (microseconds),
//	          has info (1 byte, 0 or 1), then the info if 1:
//	            part (1 byte: 1 whole, 2 tail), source str,
//	            labels: count uv, each a str,
//	            inputs: count uv, each name str, ndims (1 byte), each dim uv,
//	            input width uv, input height uv
//	          detections: count uv, each class uv, score f32, x1 y1 x2 y2 f32
//
// A reader checks every length against the bytes left before it uses it,
// and holds what a message may claim to caps (64 tensors, 8 dims a shape,
// each dim 1..1<<24 and at most 1<<28 values a tensor, 256-byte names and
// sources, 4096 labels, 10000 detections, 4096-byte errors): a hostile or
// corrupt message gets an error, never a panic or an allocation it did not
// pay for in bytes. Bytes after the last field are an error too. Each value
// has one encoding, so a message that parses is written back byte for byte.
package infer
