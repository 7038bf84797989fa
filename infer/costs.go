package infer

import (
	"fmt"
	"slices"
	"time"

	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// SendCosts are what sending a frame costs the camera's node, as the
// split planner (model.Plan) takes them: medians over real frames.
type SendCosts struct {
	LetterboxMS  float64 // letterboxing a frame to 640×640 (every way but JPEG offload does it here)
	JPEGEncodeMS float64 // encoding the frame as JPEG
	JPEGDecodeMS float64 // decoding it again (the server's share, on this machine)
	JPEGBytes    int
	// QuantizeNSPerValue converts a cut tensor to the transport type,
	// timed on a tensor of YOLOv8n's single-tensor cut's size.
	QuantizeNSPerValue float64
}

// MeasureSendCosts times the steps on frames (BGR; only read), with
// JPEGs of quality and cut tensors sent as dtype.
func MeasureSendCosts(frames []gocv.Mat, quality int, dtype DType) (SendCosts, error) {
	var c SendCosts
	if len(frames) == 0 {
		return c, fmt.Errorf("send costs: no frames")
	}
	pre := detect.NewPreprocessor(640, 640)
	defer pre.Close()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var lb, enc, dec, size []float64
	for _, img := range frames {
		t0 := time.Now()
		if _, err := pre.Run(img, pre.Tensor()); err != nil {
			return c, err
		}
		t1 := time.Now()
		b, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, quality})
		if err != nil {
			return c, fmt.Errorf("JPEG: %w", err)
		}
		t2 := time.Now()
		m, err := gocv.IMDecode(b.GetBytes(), gocv.IMReadColor)
		t3 := time.Now()
		size = append(size, float64(b.Len()))
		b.Close()
		if err != nil {
			return c, fmt.Errorf("JPEG: %w", err)
		}
		m.Close()
		lb, enc, dec = append(lb, ms(t1.Sub(t0))), append(enc, ms(t2.Sub(t1))), append(dec, ms(t3.Sub(t2)))
	}
	c.LetterboxMS, c.JPEGEncodeMS, c.JPEGDecodeMS = median(lb), median(enc), median(dec)
	c.JPEGBytes = int(median(size))
	vals := make([]float32, 64*80*80)
	for i := range vals {
		vals[i] = float32(i%255) / 10
	}
	var buf []byte
	var per []float64
	for range 5 {
		t0 := time.Now()
		t, err := EncodeTensor("x", []int64{int64(len(vals))}, vals, dtype, buf)
		if err != nil {
			return c, err
		}
		buf = t.Data
		per = append(per, float64(time.Since(t0).Nanoseconds())/float64(len(vals)))
	}
	c.QuantizeNSPerValue = median(per)
	return c, nil
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}
