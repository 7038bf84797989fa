// Package node runs one vigil: NATS (embedded or external), the pipeline,
// the tracks publisher, the rules and their alerts, the live view and the
// HTTP server, all derived from one desired state, a *config.Config.
//
// In: the configuration, at start and then whenever it changes — the file
// re-read (Reload, on SIGHUP or POST /api/config/reload) or one camera put
// or deleted over HTTP (/api/config/cameras/{id}). Out: the running parts
// follow it. Apply validates the new state in full and loads what it needs
// (new or changed detectors, rules compiled against their labels) while
// the pipeline runs on; any error there changes nothing. Then it applies
// the smallest set of changes: a new camera starts and a removed one stops
// without touching the others, a camera whose source changed reconnects, a
// changed detector is swapped in between two frames, a camera's rules
// change from its next frame (counts kept as rules.Engine.Reconfigure
// says), and detectors no camera uses any more are unloaded. Keys a running
// node cannot change (config.RestartNeeded) are reported, not applied.
//
// Every change is logged once with what it changed, counted in
// vigil_config_reloads_total{outcome}, and shown with the configuration's
// generation in /healthz and /api/config/status.
package node
