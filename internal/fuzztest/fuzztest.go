// Package fuzztest holds what vigil's fuzz targets share: a watchdog that
// turns an input that hangs into a failure go records.
package fuzztest

import (
	"fmt"
	"testing"
	"time"
)

// Limit is how long one fuzz input may run: the slowest take milliseconds
// (a WHEP offer answered, a model quantized), even on 2 busy cores.
const Limit = 10 * time.Second

// Watchdog crashes the test process when the input t runs has taken over
// Limit. Go's fuzzer does not notice an input that never returns; a crash
// it does notice, and it keeps the input in testdata/fuzz/ as failing.
// Call it first in the function given to f.Fuzz.
func Watchdog(t testing.TB) {
	name := t.Name()
	timer := time.AfterFunc(Limit, func() {
		panic(fmt.Sprintf("%s: one input ran over %s (a hang)", name, Limit))
	})
	t.Cleanup(func() { timer.Stop() })
}
