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
//
// A spool that cannot be written (a full disk, any write error) neither
// blocks the frames nor loses the event quietly: Accept holds the event in
// memory and returns at once. That is the one way an event is taken
// without being on disk; it reaches the stream unless vigil stops before
// the disk has room again. What is held is bounded (Options.Overflow,
// 10,000 events or 16 MiB by default); beyond that the oldest held event
// is dropped and counted in vigil_alerts_dropped_total{reason="disk_full"}.
// Held events are written to the spool, oldest first, as soon as it takes
// them again (tried every second) and, meanwhile, published straight from
// memory: an alert still reaches JetStream, and the PLC, while the disk
// is full. Order holds, because nothing goes to the spool while anything
// is held, the spool is published before what is held, and only the
// oldest held event is ever published; should one be sent twice, its
// Nats-Msg-Id drops the second. One log line says when the spool fails
// and one when it writes again; Stats, the vigil_alerts_unspooled_total,
// vigil_alerts_held and vigil_alerts_spool_failing metrics and /healthz
// say the rest.
//
// JetStream's own store filling up is a failed publish like NATS being
// away: the events wait in the spool and are retried until the stream
// acknowledges them. nats-server 2.15 keeps a stream's first write error
// and answers no publish to it after, even once the disk has room again:
// a standalone embedded server (sinks.Embedded) restarts its JetStream
// then; one in a cluster, whose JetStream turns off, and an external one
// need restarting (see sinks.Embedded.StoreError).
package alerts
