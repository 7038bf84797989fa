//go:build !linux || !cgo

package cmalloc

func setThreshold(int) string { return "unsupported: not linux with cgo" }

func churn(int, int) {}
