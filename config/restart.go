package config

import (
	"reflect"
	"sort"
)

// RestartNeeded lists the keys, sorted, whose change from old to new a
// running vigil cannot apply: it keeps running on old's values for them
// until it restarts. Each key is in YAML's names, dotted below the top
// level (http.listen); a whole section (nats) stands for any key in it.
//
// Applied while running, so never listed (liveKeys):
//
//   - cameras, all of each camera: its source, rules and detector
//   - model and detectors, but for onnxruntime_lib: detectors are rebuilt
//   - tracker: its low_threshold also caps the detectors' confidence, so a
//     change to it rebuilds them too
//   - log_level
//   - alerts.restore_counts: read when a camera's rules (re)start
//   - motion: each camera's gating follows it from its next frame (its
//     motion background forms again)
//
// Needing a restart (restartKeys), each because the part it configures is
// built once at start:
//
//   - data_dir: the embedded NATS server's JetStream store, the spool
//   - model.onnxruntime_lib: a process loads one onnxruntime library; a
//     detector that names another one is reported under this key too
//   - nats: the connection, the embedded server, its MQTT listener, and
//     the subject prefix every publisher and subscription was made with
//   - http.listen, http.token_file: the server, and the token it was given
//   - pipeline.max_frames, pipeline.queue_size, pipeline.worker_nice,
//     pipeline.opencv_threads: the stage graph and its threads
//   - liveview.codec, liveview.bitrate, liveview.max_fps,
//     liveview.processed_only, liveview.ice: the live view's encoders,
//     its taps on the pipeline and its WebRTC settings
//   - alerts.spool_dir, alerts.spool_max_bytes, alerts.spool_max_age,
//     alerts.stream, alerts.counts_bucket: the spool, the JetStream stream
//     and the counts bucket, opened and created at start
//   - fleet: the node's name, its leases and its place in the fleet are
//     taken at start
//   - examples: the store is opened and the limits set at start (a
//     camera's own examples: applies while running, as the camera does)
//   - evidence: the spool and the bucket are opened at start (a rule's
//     own evidence: applies while running, as the rule does)
//
// A key in neither list, one added to Config later, is listed when it
// changes: when in doubt, restart.
func RestartNeeded(old, new *Config) []string {
	var keys []string
	diffKeys(reflect.ValueOf(*old), reflect.ValueOf(*new), "", false, &keys)
	if !contains(keys, "model.onnxruntime_lib") {
		for _, d := range new.Detectors {
			if d.Model.Runtime != old.Model.Runtime {
				keys = append(keys, "model.onnxruntime_lib")
				break
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// restartKeys and liveKeys are RestartNeeded's lists: a key's class is that
// of its nearest listed ancestor (model.onnxruntime_lib under model).
var (
	restartKeys = []string{
		"data_dir",
		"model.onnxruntime_lib",
		"nats",
		"http.listen", "http.token_file",
		"pipeline.max_frames", "pipeline.queue_size", "pipeline.worker_nice", "pipeline.opencv_threads",
		"liveview.codec", "liveview.bitrate", "liveview.max_fps", "liveview.processed_only", "liveview.ice",
		"alerts.spool_dir", "alerts.spool_max_bytes", "alerts.spool_max_age", "alerts.stream", "alerts.counts_bucket",
		"fleet",
		"examples",
		"evidence",
	}
	liveKeys = []string{
		"log_level",
		"model",
		"detectors",
		"tracker",
		"cameras",
		"alerts.restore_counts",
		"motion",
	}
)

// diffKeys adds to keys the restart keys under path that differ between a
// and b, two structs. live is the class of path; unlisted keys take it.
func diffKeys(a, b reflect.Value, path string, live bool, keys *[]string) {
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		name := yamlName(t.Field(i))
		if name == "" {
			continue
		}
		p := joinPath(path, name)
		fa, fb := a.Field(i), b.Field(i)
		switch {
		case contains(restartKeys, p):
			if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
				*keys = append(*keys, p)
			}
		case fa.Kind() == reflect.Struct:
			diffKeys(fa, fb, p, live || contains(liveKeys, p), keys)
		case live || contains(liveKeys, p):
		case !reflect.DeepEqual(fa.Interface(), fb.Interface()):
			*keys = append(*keys, p)
		}
	}
}
