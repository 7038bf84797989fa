//go:build !(linux || darwin || freebsd)

package sinks

import "math"

// freeBytes cannot tell here: a restart is tried at every check.
func freeBytes(string) (int64, error) { return math.MaxInt64, nil }
