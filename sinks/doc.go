// Package sinks carries vigil's results out of the process.
//
// In: per-frame tracker output as a [TracksMessage] per camera and frame.
// Out: NATS messages on "<prefix>.<camera>.tracks" (schema [TracksSchema]),
// published by a [TracksPublisher] that never blocks the pipeline: it queues
// into a bounded channel and drops, counts and rate-limits a warning when the
// queue is full or NATS is unreachable.
//
// NATS itself is either external ([Connect] with URL, credentials and TLS) or
// embedded in the process ([StartEmbedded]), listening on 127.0.0.1 by default,
// with JetStream in a store directory when asked.
package sinks
