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
//
// Engine.Reconfigure changes the rules while frames flow. A rule is known by
// its Name: one that keeps its name, kind and (lines) direction names keeps
// its counts and armed state (unless its Disarmed setting changed); if its
// points, normalized, anchor, classes and min_score are unchanged too, it
// keeps what it knows about the tracks and occupancy, else that starts over
// as after a restart. Other rules start from zero; rules left out are
// dropped.
package rules
