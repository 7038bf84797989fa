//go:build !linux

package sched

// Lower does nothing where threads have no priority of their own here.
func Lower(nice int) error { return nil }

// Nice is 0 where threads have no priority of their own here.
func Nice() (int, error) { return 0, nil }
