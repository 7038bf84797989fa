// Package plc bridges vigil's durable rule events to a PLC over Modbus/TCP.
//
// In: JSON events (schema vigil.event/v1) from the JetStream stream
// VIGIL_EVENTS, through a durable pull consumer that holds one event at a
// time (MaxAckPending 1, so writes happen in event order). Out: Modbus/TCP
// writes mapped from each event's rule and type (set, clear or pulse a coil,
// or write a count into a holding register), /healthz and Prometheus
// metrics.
//
// Delivery is at least once: an event is acknowledged only after every write
// it maps to succeeded. While the PLC is unreachable the bridge keeps the
// event, retries with capped backoff and tells JetStream it is still working
// on it; if the bridge dies before the acknowledgement, JetStream delivers
// the event again and the write is repeated. Map events to writes that may
// be repeated safely (set and clear a coil, write a count); a pulse may then
// come twice.
//
// When vigil runs as a fleet, events carry their camera owner's lease epoch
// (lease_epoch). An event of an epoch older than the greatest seen for its
// camera is a late event of an old owner: acknowledged, not written, and
// counted in vigil_plc_events_fenced_total. The epochs are kept in memory
// only: after a restart the first event of each camera sets its floor.
package plc
