package detect

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// Slot carries one frame through the model: its own letterbox buffer, an
// input and an output tensor bound to the detector's session, and what the
// frame's letterbox and timings were. With a few slots, the next frame is
// letterboxed and the last one decoded while the model runs on the current
// one: Prepare, Infer and Finish may run at the same time on different
// slots, each step from one goroutine at a time.
type Slot struct {
	pre     *Preprocessor
	input   *ort.Tensor[float32]
	output  *ort.Tensor[float32]
	binding *ort.IoBinding
	lb      Letterbox
	tm      Timings
}

// Slots returns n slots on d's session for a caller that overlaps the
// steps, making those that do not exist yet: the same slots on every call,
// never Detect's own. The detector owns them and frees them in Close.
func (d *Detector) Slots(n int) ([]*Slot, error) {
	for len(d.slots) < n+1 {
		if _, err := d.newSlot(); err != nil {
			return nil, err
		}
	}
	return d.slots[1 : n+1], nil
}

// newSlot makes a slot on d's session; the first one made is Detect's.
func (d *Detector) newSlot() (*Slot, error) {
	if d.session == nil {
		return nil, errors.New("detector is closed")
	}
	s := &Slot{pre: NewPreprocessor(d.inW, d.inH)}
	d.slots = append(d.slots, s) // Close frees a half-made slot too
	var err error
	// The input lies in the preprocessor's C memory: it letterboxes in
	// place, and no Go pointer is held in C.
	if s.input, err = ort.NewTensor(ort.NewShape(1, 3, int64(d.inH), int64(d.inW)), s.pre.Tensor()); err != nil {
		return nil, fmt.Errorf("input tensor: %w", err)
	}
	sh := d.decoder.Shape
	if s.output, err = ort.NewEmptyTensor[float32](ort.NewShape(sh[0], sh[1], sh[2])); err != nil {
		return nil, fmt.Errorf("output tensor: %w", err)
	}
	if s.binding, err = d.session.CreateIoBinding(); err != nil {
		return nil, fmt.Errorf("onnxruntime io binding: %w", err)
	}
	if err := s.binding.BindInput(d.inName, s.input); err != nil {
		return nil, fmt.Errorf("bind input %q: %w", d.inName, err)
	}
	if err := s.binding.BindOutput(d.outName, s.output); err != nil {
		return nil, fmt.Errorf("bind output %q: %w", d.outName, err)
	}
	return s, nil
}

func (s *Slot) close() error {
	var errs []error
	if s.binding != nil {
		errs = append(errs, s.binding.Destroy())
	}
	if s.input != nil {
		errs = append(errs, s.input.Destroy())
	}
	if s.output != nil {
		errs = append(errs, s.output.Destroy())
	}
	errs = append(errs, s.pre.Close()) // last: the input lies in its memory
	return errors.Join(errs...)
}

// Prepare letterboxes a BGR image into s's input. img is only read, and
// only until Prepare returns.
func (d *Detector) Prepare(s *Slot, img gocv.Mat) error {
	t0 := time.Now()
	lb, err := s.pre.Run(img, s.input.GetData())
	if err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	s.lb = lb
	s.tm = Timings{Preprocess: time.Since(t0)}
	return nil
}

// Infer runs the model on s's input.
func (d *Detector) Infer(s *Slot) error {
	t0 := time.Now()
	if err := d.session.RunWithBinding(s.binding); err != nil {
		return fmt.Errorf("inference: %w", err)
	}
	s.tm.Infer = time.Since(t0)
	return nil
}

// Finish decodes s's output, suppresses overlaps, maps the boxes back to
// the frame and appends them to dst. It returns the frame's timings, all
// three steps.
func (d *Detector) Finish(s *Slot, dst []Detection) ([]Detection, Timings, error) {
	t0 := time.Now()
	dst, err := d.decodeInto(s.output.GetData(), &s.lb, dst)
	s.tm.Postprocess = time.Since(t0)
	return dst, s.tm, err
}

// decodeInto decodes a model output, suppresses overlaps and appends the
// detections to dst, mapped to the frame by lb (nil: left in the model
// input's coordinates), labelled.
func (d *Detector) decodeInto(out []float32, lb *Letterbox, dst []Detection) ([]Detection, error) {
	var err error
	d.cands, err = d.decoder.Decode(out, d.cands[:0])
	if err != nil {
		return dst, fmt.Errorf("decode: %w", err)
	}
	if d.decoder.Layout != LayoutEnd2End {
		d.cands = d.sup.NMS(d.cands, d.opts.IoU, d.opts.ClassAgnostic, d.opts.MaxDetections)
	}
	for _, c := range d.cands {
		if lb != nil {
			c.Box = lb.ToFrame(c.Box)
		}
		if c.Box.Area() <= 0 {
			continue
		}
		if c.Class >= 0 && c.Class < len(d.labels) {
			c.Label = d.labels[c.Class]
		} else {
			c.Label = strconv.Itoa(c.Class)
		}
		dst = append(dst, c)
	}
	return dst, nil
}
