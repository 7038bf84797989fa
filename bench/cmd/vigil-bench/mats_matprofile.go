//go:build matprofile

package main

import "gocv.io/x/gocv"

// matsAlive counts the gocv Mats open now.
func matsAlive() (int, bool) { return gocv.MatProfile.Count(), true }
