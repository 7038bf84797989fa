// Package fleet is what many vigil nodes on one NATS share, and how each
// takes its part: the cameras the fleet runs, kept in a JetStream
// key-value bucket instead of one box's config file, and the loop
// (Member) that decides which node runs which camera.
//
// In: camera blocks, as they stand under cameras: in a config file, each
// validated as the file's would be (Cameras.Put, all or none); a node's
// labels, detectors and limits. Out: the cameras this node should run,
// handed to its Runner (Start, Stop), a Fence for every frame it
// publishes, and the fleet's Status.
//
// One lease per camera (package lease) says which node runs it. A Member
// joins under its node's name (a second live node of that name is
// refused), advertises what it offers in the nodes bucket, and follows the
// cameras, the leases and the nodes by watching their buckets. Free
// cameras are placed by the same rule on every node (place: required
// labels, the detector, headroom, then preferred labels and the fewest
// cameras), so nodes agree without talking, and the lease's Create settles
// the rest. Renewals run on their own goroutine, every TTL/4; a camera
// whose lease is lost, or can no longer be renewed in time, stops at once.
// A node that holds two cameras more than another hands one over, no
// sooner than min_hold after taking it. Leaving, a node revokes every lease
// (its publishing stops) before it releases them, so the others take the
// cameras at once without ever overlapping it.
package fleet
