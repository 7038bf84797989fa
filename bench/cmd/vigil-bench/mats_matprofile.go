//go:build matprofile

package main

import "gocv.io/x/gocv"

// matsAlive counts the gocv Mats open now.
func matsAlive() (int, bool) { return gocv.MatProfile.Count(), true }

// matprofileBuild says whether this is a -tags matprofile build, for the
// results header: it counts every Mat it makes, at a small cost.
const matprofileBuild = true
