//go:build !matprofile

package main

// matsAlive counts the gocv Mats open now; only a build with -tags
// matprofile can (make bench-long).
func matsAlive() (int, bool) { return 0, false }

// matprofileBuild says whether this is a -tags matprofile build, for the
// results header: it counts every Mat it makes, at a small cost.
const matprofileBuild = false
