// Package evidence gives rule events their evidence: a snapshot of the
// frame the event happened on (the event's object highlighted, the rules'
// zones and lines drawn) and a thumbnail of the object, kept in a
// JetStream object store bucket within a byte budget.
//
// In: Recorder.Capture, from the frame path, with the frame and the events
// alerts accepted on it (each event is published first, by package alerts:
// evidence never delays an alert). Out: objects
// "<camera>/<event id>/snapshot.jpg" and "thumbnail.jpg" in the bucket
// VIGIL_EVIDENCE (Bucket), each with the event's Record as metadata, and
// the Record published on "<prefix>.<camera>.events.<rule>.evidence"
// (Subject) once every object is stored. The events stream takes that
// subject too (alerts.EvidenceFilter), with the Nats-Msg-Id
// "<event id>.evidence", so a record sent twice is kept once and a
// consumer of events alone (alerts.EventsFilter, the PLC bridge) never
// sees it.
//
// Durability follows the events': evidence is accepted once it is on disk
// (Spool: a folder per event, fsync'd and renamed into place), and the
// uploader removes it from the spool only after the bucket stored its
// objects and the stream acknowledged its record. While NATS is away the
// spool holds it, up to its byte bound (oldest dropped first, counted in
// vigil_evidence_dropped_total{reason="spool_full"}); a restart resumes
// the uploads. The bucket keeps within evidence.max_bytes by deleting the
// oldest events' objects first (vigil_evidence_pruned_total) and expires
// objects older than evidence.max_age (the bucket's TTL, which NATS
// applies: those are not counted).
//
// Clips: each camera whose rules want clips (Recorder.SetClipCameras)
// keeps a ring of its last seconds, fed by a pipeline tap
// (Recorder.Frame) and encoded to VP8 as the frames come, by one goroutine
// for all cameras (ClipOptions says why not JPEGs). Once an event's
// post-roll has passed, its clip is cut from the ring into a WebM
// (internal/webm); events whose windows overlap share one clip and extend
// it. The clip is spooled and stored like the snapshot, and a second
// record, "<event id>.evidence.clip", names it. Cameras without clip rules
// keep no ring and pay nothing.
//
// The encoder is one goroutine with a bounded queue: a burst of events
// beyond it drops evidence (counted, reason queue_full), never frames or
// events.
package evidence
