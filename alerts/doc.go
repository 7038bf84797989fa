// Package alerts carries rule events out of vigil durably: the decision half
// that actuators (a PLC stopping a line) depend on.
//
// In: rules.Events, per camera and frame (Alerts.Observe runs the cameras'
// rules engines on each frame's tracks). Out: one JSON Message per event on
// the JetStream stream VIGIL_EVENTS, subject "<prefix>.<camera>.events.<rule>",
// each with a Nats-Msg-Id so that the stream drops re-sends; the rules'
// current counts and occupancy in the key-value bucket VIGIL_COUNTS, key
// "<camera>.<rule>"; and answers on "<prefix>.<camera>.cmd" to arm, disarm,
// reset and status commands.
//
// The cameras with rules can change while vigil runs: Alerts.SetRules adds a
// camera or changes its rules (counts continue as rules.Engine.Reconfigure
// says; a new camera continues the counts stored for it), Alerts.RemoveCamera
// drops one. A removed camera's events already accepted are still published;
// its counts stay in the bucket.
//
// In a fleet, Options.Fence says whether this node holds a camera's lease
// and at which epoch: a camera it does not hold is left alone, and events
// and counts carry the epoch (lease_epoch), so that consumers ignore an old
// owner's late events and the bucket never takes a value of an older epoch
// over a newer one (compare-and-swap on the key's revision).
//
// An event is accepted only once it is on disk: Publisher.Accept appends it
// to a Spool (fsync'd segment files under the data directory) and returns.
// A single goroutine publishes the spool in order, waiting for JetStream's
// acknowledgement before it moves on, so events survive NATS outages and
// vigil restarts. The spool is bounded by size and age; when full it drops
// the oldest events, counts them and says so loudly.
package alerts
