// Package cmalloc sets how the C allocator (glibc's malloc) that OpenCV,
// FFmpeg, libvpx and onnxruntime share gives memory back to the system.
//
// glibc serves a request of at least its mmap threshold (128 KiB at start)
// with its own mmap, returned to the system on free. But the threshold is
// dynamic: when such a block is freed, glibc raises the threshold to that
// block's size (up to 32 MiB on 64-bit), so that from then on blocks of
// that size come from the heap arenas, and a freed one stays in the
// process. A pipeline that opens and closes video encoders (one per
// browser viewer) and decoders (one per camera reconnect) frees multi-MiB
// frame buffers all the time, and with one arena per thread that
// allocated, the memory kept grows with each session: 91–106 MiB after 200
// VP8 encoders in one process against 24 MiB with a fixed threshold, and
// +62.8 MiB/h resident over a two-hour soak (bench/README.md, "Soak").
//
// Fix pins the threshold at glibc's starting value, which also turns off
// the dynamic adjustment of the trim threshold: large blocks stay mmapped
// and go back to the system when freed, and freed heap tops are trimmed
// past 128 KiB. A user who sets MALLOC_MMAP_THRESHOLD_ or
// MALLOC_TRIM_THRESHOLD_ in the environment keeps what they set.
package cmalloc

import "os"

// Threshold is the mmap threshold Fix sets: glibc's own starting value.
const Threshold = 128 << 10

// envKnobs are the environment variables with which glibc's users tune
// the same thresholds; any of them set means the user chose.
var envKnobs = []string{"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"}

// Fix sets the mmap threshold to Threshold, unless the environment already
// tunes glibc's thresholds or the C library is not glibc. It says what it
// did: "mmap threshold 131072", "left to the environment (NAME)", or
// "unsupported: …".
func Fix() string {
	for _, k := range envKnobs {
		if _, ok := os.LookupEnv(k); ok {
			return "left to the environment (" + k + ")"
		}
	}
	return setThreshold(Threshold)
}
