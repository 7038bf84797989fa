package detect

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// DefaultIntraOpSpinning is what an empty Options.IntraOpSpinning means.
// Measured with vigil-bench -ort-sweep (bench/README.md).
const DefaultIntraOpSpinning = "on"

// SetSpinning sets whether onnxruntime's intra-op threads spin ("on") or
// sleep ("off") between pieces of work; "" is DefaultIntraOpSpinning.
func SetSpinning(so *ort.SessionOptions, spinning string) error {
	if spinning == "" {
		spinning = DefaultIntraOpSpinning
	}
	var v string
	switch spinning {
	case "on":
		v = "1"
	case "off":
		v = "0"
	default:
		return fmt.Errorf("model.intra_op_spinning: %q; use on or off", spinning)
	}
	if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", v); err != nil {
		return fmt.Errorf("onnxruntime session.intra_op.allow_spinning: %w", err)
	}
	return nil
}
