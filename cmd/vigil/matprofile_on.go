//go:build matprofile

package main

import "gocv.io/x/gocv"

// openMats counts gocv Mats not yet closed (built with -tags matprofile).
func openMats() int { return gocv.MatProfile.Count() }
