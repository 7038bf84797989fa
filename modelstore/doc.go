// Package modelstore keeps the versions of vigil's detector models.
//
// In: ONNX files pushed under a name ("line3"), each checked as vigil's
// detector would take it (an ONNX model, one NCHW float32 image input, an
// output vigil can decode) and refused with an error naming the check
// otherwise. Out: numbered versions (1, 2, 3… per name, never reused) with
// their sha256 and what model.Inspect reads, which version of a name is
// promoted and which were before it (for rollback), local copies of a
// version verified against its sha256 (Fetch), and a stream of a name's
// changes (Watch) for the nodes that follow the promoted version.
//
// Two stores hold the same data: NATS (a JetStream object store for the
// files and a KV bucket for each name's versions and promotions, changed by
// compare-and-swap, so that a fleet shares them) and Dir (a local folder,
// for a standalone vigil).
package modelstore
