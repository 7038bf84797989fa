package detect

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// DefaultIntraOpSpinning is what an empty Options.IntraOpSpinning means:
// off. Measured with vigil-bench -ort-sweep on 2 cores (bench/README.md):
// spinning makes bare inference about 8% faster, but the pipeline, whose
// letterbox, decoding and capture need the cores between operators, runs
// as fast without it on CPU time 10% lower, and 1.7× as fast when other
// processes want the cores too.
const DefaultIntraOpSpinning = "off"

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
