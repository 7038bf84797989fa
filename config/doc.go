// Package config holds vigil's YAML schema, its defaults and its validation.
//
// In: a YAML file (Load) or bytes (Parse). Decoding is strict: an unknown key
// is an error that names the file, the line, the field path and, when one is
// close, the key that was probably meant. It does not hide the other
// problems: the known keys are still decoded and validated, and one report
// holds both, in the order of their lines. Keys that are absent or null take
// their defaults (Default, DemoCamera); keys that are present keep the value
// given, so an explicit zero is validated rather than silently replaced. A
// detectors: entry's model takes its absent keys from model: instead.
//
// Out: a *Config that passed Validate, which reports every problem at once,
// each as "field.path: problem; fix" (a FieldError, with file and line when it
// came from a file). Config holds no secret values, only the paths of files
// that hold them, so it is safe to log; ReadSecrets reads them when needed.
// The one exception is a camera URL with a password (rtsp://user:pw@host),
// which cameras need: log Config.Redacted or Camera.RedactedURL.
// CheckFiles lists referenced files that are missing, as warnings: a camera's
// file may appear after start.
//
// A running vigil follows a desired *Config (runtime reconfiguration):
// ParseCamera reads one camera as strictly as Parse, Config.WithCamera and
// WithoutCamera derive the next Config, a deep copy, validated as a whole,
// and RestartNeeded lists the keys whose change only a restart applies.
package config
