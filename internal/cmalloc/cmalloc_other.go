//go:build !linux || !cgo

package cmalloc

// ArenaCount cannot be told here.
func ArenaCount() int { return -1 }

// Trim does nothing without glibc.
func Trim() bool { return false }

func churn(int, int) {}
func frame(int)      {}

// Threads does nothing here.
func Threads(int) {}
