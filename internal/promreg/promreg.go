// Package promreg registers Prometheus collectors so that several users of
// one registry (two publishers, two pipelines, a restarted component)
// share the collectors of the same name instead of failing.
package promreg

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reuse registers *c with reg; when a collector of the same description is
// registered already, it points *c at that one, so that both users count
// into the same series. A nil reg registers nothing.
func Reuse[T prometheus.Collector](reg prometheus.Registerer, c *T) error {
	if reg == nil {
		return nil
	}
	err := reg.Register(*c)
	if err == nil {
		return nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			*c = existing
			return nil
		}
	}
	return fmt.Errorf("register metrics: %w", err)
}
