// Package cmalloc sets how the C allocator (glibc's malloc), which OpenCV,
// FFmpeg, libvpx and onnxruntime share, keeps memory, and gives freed
// memory back to the system when codecs close.
//
// glibc gives each thread that allocates an arena of its own, up to eight
// per core, and keeps what is freed in an arena for that arena's later
// requests. A pipeline that opens and closes video encoders (one per
// browser viewer) and decoders (one per camera reconnect) frees multi-MiB
// codec buffers on many threads: each arena ends up holding its own share,
// and the process's resident memory climbs with every session (+62.8
// MiB/h over a two-hour soak with viewers coming and going; 93 MiB kept
// after 200 VP8 encoders made and closed, against 20 MiB before them:
// bench/README.md, "Soak").
//
// Package onearena, imported by a program, limits it to one arena from its
// start, so freed buffers are reused by whichever thread asks next; Trim,
// called when a codec closes, hands
// the free pages inside the heap back (malloc_trim): 24 MiB kept after the
// same 200 encoders. glibc's other policy stays: a frame buffer freed
// after each frame is reused from the heap, not mapped and faulted in
// again (what a fixed mmap threshold would cost: about 10 ms per 1.3 MB
// frame on this project's VMs, against 15 µs from the heap).
//
// A user who sets MALLOC_ARENA_MAX or GLIBC_TUNABLES keeps what they set.
package cmalloc
