//go:build linux && cgo

package cmalloc

/*
#include <features.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>

static void vigil_touch(void *p, size_t size) {
	volatile char *c = p; // volatile: the writes before free must happen
	for (size_t i = 0; i < size; i += 4096) c[i] = 1;
}

// vigil_churn frees one large block (which, by glibc's defaults, raises the
// mmap threshold past it), then allocates n blocks of size bytes, each
// followed by a 64 KiB block that stays, writes them all and frees the
// large ones: the pattern of codecs made and closed while the rest of the
// process goes on allocating.
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

// vigil_frame allocates a block of size bytes, writes every page and frees
// it: what a decoded frame costs the allocator.
static void vigil_frame(size_t size) {
	void *p = malloc(size);
	vigil_touch(p, size);
	free(p);
}

static void *vigil_alloc_thread(void *arg) {
	(void)arg;
	for (int i = 0; i < 100; i++) {
		void *p = malloc(200 << 10);
		vigil_touch(p, 200 << 10);
		free(p);
	}
	return NULL;
}

// vigil_threads has n threads allocate at once, so that glibc gives them
// arenas of their own where it may.
static void vigil_threads(int n) {
	pthread_t t[16];
	if (n > 16) n = 16;
	for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, vigil_alloc_thread, NULL);
	for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
}

#ifdef __GLIBC__
#include <malloc.h>
static int vigil_glibc(void) { return 1; }
static int vigil_trim(void) { return malloc_trim(0); }
// vigil_arenas counts the arenas in malloc_info's report.
static int vigil_arenas(void) {
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL) return -1;
	malloc_info(0, f);
	fclose(f);
	int n = 0;
	for (char *p = buf; (p = strstr(p, "<heap nr=")) != NULL; p++) n++;
	free(buf);
	return n;
}
#else
static int vigil_glibc(void) { return 0; }
static int vigil_trim(void) { return 0; }
static int vigil_arenas(void) { return -1; }
#endif
*/
import "C"

// ArenaCount is how many malloc arenas the process has (from
// malloc_info); -1 where that cannot be told.
func ArenaCount() int { return int(C.vigil_arenas()) }

// Trim gives the free memory at the top of the C heap and inside it back
// to the system (malloc_trim(0)); it says whether any went back. It walks
// the heap under its lock: call it when something large closed, not per
// frame.
func Trim() bool { return C.vigil_trim() == 1 }

// The tests' and the benchmark's helpers.

func churn(n, size int) { C.vigil_churn(C.int(n), C.size_t(size)) }
func frame(size int)    { C.vigil_frame(C.size_t(size)) }

// Threads has n threads allocate at once, so that glibc gives them arenas
// of their own where it may. For tests.
func Threads(n int) { C.vigil_threads(C.int(n)) }
