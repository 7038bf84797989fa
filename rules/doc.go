// Package rules turns one camera's tracks into events: polygon zones (enter,
// exit, dwell, occupancy reaching and leaving a threshold) and lines
// (crossings per named direction), with running counts.
//
// In: one Update per processed frame, in frame order, with the frame's time,
// size and confirmed tracks ([]track.Track). Out: the events of that frame
// ([]Event, each with a snapshot of its rule's counts) and, at any time, the
// current State of every rule.
//
// The package is pure: no I/O, no goroutines, no clock of its own. Time comes
// from the frames, so dwell and cooldown are tested by handing in times.
// An Engine is safe for concurrent use (commands arrive from NATS while the
// pipeline updates it).
package rules
