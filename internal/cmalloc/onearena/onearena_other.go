//go:build !linux || !cgo

package onearena

// Setting says the allocator is left as it is.
func Setting() string { return "unsupported: not linux with cgo" }
