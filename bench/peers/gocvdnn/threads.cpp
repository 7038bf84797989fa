#include <opencv2/core.hpp>
#include "threads.h"

void vigil_peer_set_num_threads(int n) { cv::setNumThreads(n); }
int vigil_peer_get_num_threads(void) { return cv::getNumThreads(); }
