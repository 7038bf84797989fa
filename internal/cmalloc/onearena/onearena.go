//go:build linux && cgo

// Package onearena limits the C allocator (glibc's malloc) to one arena
// for the whole program that imports it, from the program's start: a C
// constructor runs before the Go runtime or any library starts a thread,
// for threads that have allocated keep the arenas they made. See package
// cmalloc for why. MALLOC_ARENA_MAX or GLIBC_TUNABLES in the environment
// are left to do what they say.
package onearena

/*
#include <stdlib.h>
#include <features.h>
#ifdef __GLIBC__
#include <malloc.h>
static const char *vigil_setting = "not run";
__attribute__((constructor)) static void vigil_one_arena(void) {
	if (getenv("MALLOC_ARENA_MAX") != NULL) {
		vigil_setting = "left to the environment (MALLOC_ARENA_MAX)";
	} else if (getenv("GLIBC_TUNABLES") != NULL) {
		vigil_setting = "left to the environment (GLIBC_TUNABLES)";
	} else if (mallopt(M_ARENA_MAX, 1) == 1) {
		vigil_setting = "arenas 1";
	} else {
		vigil_setting = "unsupported: mallopt(M_ARENA_MAX) refused 1";
	}
}
static const char *vigil_one_arena_setting(void) { return vigil_setting; }
#else
static const char *vigil_one_arena_setting(void) { return "unsupported: the C library is not glibc"; }
#endif
*/
import "C"

// Setting says what the allocator was set to when the program started:
// "arenas 1", "left to the environment (NAME)", or "unsupported: …".
func Setting() string { return C.GoString(C.vigil_one_arena_setting()) }
