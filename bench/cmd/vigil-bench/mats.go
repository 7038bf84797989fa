//go:build !matprofile

package main

// matsAlive counts the gocv Mats open now; only a build with -tags
// matprofile can (make bench-long).
func matsAlive() (int, bool) { return 0, false }
