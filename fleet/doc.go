// Package fleet is what many vigil nodes on one NATS share: the cameras
// the fleet runs, kept in a JetStream key-value bucket instead of one
// box's config file.
//
// In: camera blocks, as they stand under cameras: in a config file, each
// validated as the file's would be. Out: the bucket (key = camera id,
// value = the block as YAML), read back as config.Cameras; a value that no
// longer parses is reported with its key, never run. Camera passwords stay
// out of the bucket: every node of the fleet could read them there.
//
// Which node runs which camera is decided by leases (package lease); the
// loop that takes them and hands each node its cameras comes next.
package fleet
