package config

import (
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration written as "500ms", "30s" or "1m30s" in YAML
// (and JSON), and read back the same way. Negative durations are rejected.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d in time.Duration's notation.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a duration with a unit, such as "500ms" or "30s".
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := time.ParseDuration(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing unit") {
			return fmt.Errorf("%q has no unit; write e.g. 500ms, 30s or 1m", s)
		}
		return fmt.Errorf("%q is not a duration; write e.g. 500ms, 30s or 1m", s)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative; use a duration of 0 or more", s)
	}
	*d = Duration(v)
	return nil
}
