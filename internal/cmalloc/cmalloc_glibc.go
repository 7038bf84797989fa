//go:build linux && cgo

package cmalloc

/*
#include <features.h>
#ifdef __GLIBC__
#include <malloc.h>
static int vigil_set_mmap_threshold(int n) { return mallopt(M_MMAP_THRESHOLD, n); }
static int vigil_glibc(void) { return 1; }
#include <stdlib.h>
// vigil_churn frees one large block (which, by glibc's defaults, raises the
// mmap threshold past it), then allocates n blocks of size bytes, each
// followed by a 64 KiB block that stays, writes them all and frees the
// large ones: the pattern of decoders and encoders made and closed while
// the rest of the process goes on allocating.
static void vigil_touch(void *p, size_t size) {
	volatile char *c = p; // volatile: the writes before free must happen
	for (size_t i = 0; i < size; i += 4096) c[i] = 1;
}
static void vigil_churn(int n, size_t size) {
	void *first = malloc(size + 4096);
	vigil_touch(first, size + 4096);
	free(first);
	void *big[64];
	if (n > 64) n = 64;
	for (int i = 0; i < n; i++) {
		big[i] = malloc(size);
		vigil_touch(big[i], size);
		void *pin = malloc(64 << 10);
		vigil_touch(pin, 64 << 10);
		(void)pin; // kept: it holds the heap above the large block
	}
	for (int i = 0; i < n; i++) free(big[i]);
}
#else
static void vigil_churn(int n, size_t size) { (void)n; (void)size; }
static int vigil_set_mmap_threshold(int n) { (void)n; return 0; }
static int vigil_glibc(void) { return 0; }
#endif
*/
import "C"

import "strconv"

// churn runs vigil_churn: n blocks of size bytes allocated, written and
// freed around small blocks that stay. For the tests.
func churn(n, size int) { C.vigil_churn(C.int(n), C.size_t(size)) }

func setThreshold(n int) string {
	if C.vigil_glibc() == 0 {
		return "unsupported: the C library is not glibc"
	}
	if C.vigil_set_mmap_threshold(C.int(n)) != 1 {
		return "unsupported: mallopt(M_MMAP_THRESHOLD) refused " + strconv.Itoa(n)
	}
	return "mmap threshold " + strconv.Itoa(n)
}
