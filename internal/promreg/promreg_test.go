package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestReuse(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "x_total", Help: "x"}
	a, b := prometheus.NewCounter(opts), prometheus.NewCounter(opts)
	if err := Reuse(reg, &a); err != nil {
		t.Fatal(err)
	}
	if err := Reuse(reg, &b); err != nil {
		t.Fatal(err)
	}
	a.Inc()
	b.Inc()
	if got := testutil.ToFloat64(a); got != 2 {
		t.Errorf("the second user counts apart: %v, want 2 in the shared counter", got)
	}
	vec := prometheus.NewCounterVec(opts, []string{"l"})
	if err := Reuse(reg, &vec); err == nil {
		t.Error("a collector of the same name but other labels was accepted")
	}
	var none prometheus.Registerer
	if err := Reuse(none, &a); err != nil {
		t.Errorf("nil registry: %v", err)
	}
}
