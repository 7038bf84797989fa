// Package lease holds exclusive claims on keys of a NATS key-value bucket
// that expire unless renewed: one lease per camera is how a fleet of vigil
// nodes agrees which node runs it, with no consensus of its own — NATS
// JetStream (replicated in a cluster) is the only judge.
//
// In: a bucket whose MaxAge is the lease TTL, a key, a holder's name. Out:
// a Lease, or ErrHeld naming who holds it. Acquire takes the key with
// Create, which fails when the key exists; Renew writes it again with a
// compare-and-swap Update on the last revision, which fails once anyone
// else has written it; the bucket's MaxAge removes a key nobody renewed
// for a TTL, and Release deletes it at once. (A per-key TTL given at
// Create is not renewed by a later Update on the servers of this
// generation, so leases rest on the bucket's MaxAge.)
//
// Epoch is the revision at which the lease was taken: it grows with every
// new holder, so it fences: a consumer that has seen epoch e for a camera
// ignores messages of an older epoch. Valid tells a holder whether it may
// still act: only until its last successful renewal's send time plus the
// TTL, less a safety margin, so that it stops before the key can expire
// and another node take it — a holder that was frozen and resumes learns
// from Valid that it lost the lease before it publishes anything.
package lease
