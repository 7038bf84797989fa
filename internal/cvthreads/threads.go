// Package cvthreads sets how many threads OpenCV's parallel loops (resize,
// colour conversion) use, for the whole process; gocv v0.32 has no call
// for it.
package cvthreads

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include "threads.h"
*/
import "C"

// Set sets OpenCV's thread count (cv::setNumThreads) for every OpenCV user
// in the process: 1 runs its loops on the calling thread, 0 or less is
// OpenCV's default (one per core). It returns the count OpenCV reports
// afterwards.
func Set(n int) int {
	if n <= 0 {
		n = -1 // OpenCV: "reset to the default"
	}
	C.vigil_cv_set_num_threads(C.int(n))
	return Get()
}

// Get is OpenCV's thread count (cv::getNumThreads).
func Get() int { return int(C.vigil_cv_get_num_threads()) }
