package gocvdnn

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include "threads.h"
*/
import "C"

// SetNumThreads sets OpenCV's thread count (cv::setNumThreads), for every
// OpenCV user in the process; gocv v0.32 has no call for it. It returns
// the count OpenCV reports afterwards.
func SetNumThreads(n int) int {
	C.vigil_peer_set_num_threads(C.int(n))
	return int(C.vigil_peer_get_num_threads())
}
