// Package sched lowers the CPU priority of the goroutines that do vigil's
// work around the model — decoding video, letterboxing, decoding the
// model's output — so that on a machine whose cores the model's threads
// fill, that work runs in the gaps the model leaves instead of stalling one
// of its threads (a parallel operator waits for its slowest thread).
package sched
