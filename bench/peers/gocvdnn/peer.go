// Package gocvdnn is the benchmark's first peer: a video detector as a Go
// user writes one today with gocv and OpenCV's own DNN module —
// gocv.ReadNetFromONNX, a letterbox with Resize and CopyMakeBorder,
// BlobFromImage, Forward, a loop over the output, and gocv.NMSBoxes. It is
// deliberately plain: no reused buffers beyond the obvious, no overlap.
//
// OpenCV 4.6 cannot read the stock YOLOv8n export; the peer runs the exact
// rewrite of it that package opencvonnx makes.
package gocvdnn

import (
	"errors"
	"fmt"
	"image"
	"image/color"

	"gocv.io/x/gocv"
)

// Detection is one object, in frame pixels.
type Detection struct {
	Class int
	Score float32
	Box   image.Rectangle
}

// Peer runs one model with OpenCV's DNN module.
type Peer struct {
	net        gocv.Net
	size       int // square input
	conf, iou  float32
	outClasses int
}

// New reads the model (one that OpenCV reads: see opencvonnx) for a
// size×size input.
func New(model string, size int) (*Peer, error) {
	net := gocv.ReadNetFromONNX(model)
	if net.Empty() {
		return nil, fmt.Errorf("gocv: cannot read %s", model)
	}
	if err := net.SetPreferableBackend(gocv.NetBackendOpenCV); err != nil {
		net.Close()
		return nil, err
	}
	if err := net.SetPreferableTarget(gocv.NetTargetCPU); err != nil {
		net.Close()
		return nil, err
	}
	return &Peer{net: net, size: size, conf: 0.25, iou: 0.45}, nil
}

// Close frees the network.
func (p *Peer) Close() error { return p.net.Close() }

// Forward runs the network on a ready input blob [1,3,size,size] and
// returns a copy of its raw output, for comparing with onnxruntime.
func (p *Peer) Forward(input []float32) ([]float32, error) {
	in := gocv.NewMatWithSizes([]int{1, 3, p.size, p.size}, gocv.MatTypeCV32F)
	defer in.Close()
	dst, err := in.DataPtrFloat32()
	if err != nil {
		return nil, err
	}
	if len(dst) != len(input) {
		return nil, fmt.Errorf("input has %d values, the network %d", len(input), len(dst))
	}
	copy(dst, input)
	p.net.SetInput(in, "")
	out := p.net.Forward("")
	defer out.Close()
	v, err := out.DataPtrFloat32()
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), v...), nil
}

// Detect letterboxes img, runs the network and returns what it finds.
func (p *Peer) Detect(img gocv.Mat) ([]Detection, error) {
	if img.Empty() {
		return nil, errors.New("empty image")
	}
	w, h := img.Cols(), img.Rows()
	scale := min(float64(p.size)/float64(w), float64(p.size)/float64(h))
	nw, nh := int(float64(w)*scale+0.5), int(float64(h)*scale+0.5)
	resized := gocv.NewMat()
	defer resized.Close()
	gocv.Resize(img, &resized, image.Pt(nw, nh), 0, 0, gocv.InterpolationLinear)
	padX, padY := (p.size-nw)/2, (p.size-nh)/2
	boxed := gocv.NewMat()
	defer boxed.Close()
	gocv.CopyMakeBorder(resized, &boxed, padY, p.size-nh-padY, padX, p.size-nw-padX, gocv.BorderConstant, color.RGBA{114, 114, 114, 0})
	blob := gocv.BlobFromImage(boxed, 1.0/255, image.Pt(p.size, p.size), gocv.NewScalar(0, 0, 0, 0), true, false)
	defer blob.Close()
	p.net.SetInput(blob, "")
	out := p.net.Forward("")
	defer out.Close()

	// [1, 4+C, N]: cx, cy, w, h and C class scores per anchor.
	sizes := out.Size()
	if len(sizes) != 3 || sizes[1] < 5 {
		return nil, fmt.Errorf("output shape %v; want [1,4+C,N]", sizes)
	}
	rows, n := sizes[1], sizes[2]
	data, err := out.DataPtrFloat32()
	if err != nil {
		return nil, err
	}
	var boxes []image.Rectangle
	var scores []float32
	var classes []int
	for i := 0; i < n; i++ {
		best, bestC := float32(0), -1
		for c := 4; c < rows; c++ {
			if s := data[c*n+i]; s > best {
				best, bestC = s, c-4
			}
		}
		if best < p.conf {
			continue
		}
		cx, cy, bw, bh := data[i], data[n+i], data[2*n+i], data[3*n+i]
		x1 := (float64(cx-bw/2) - float64(padX)) / scale
		y1 := (float64(cy-bh/2) - float64(padY)) / scale
		x2 := (float64(cx+bw/2) - float64(padX)) / scale
		y2 := (float64(cy+bh/2) - float64(padY)) / scale
		boxes = append(boxes, image.Rect(int(x1), int(y1), int(x2), int(y2)))
		scores = append(scores, best)
		classes = append(classes, bestC)
	}
	if len(boxes) == 0 {
		return nil, nil
	}
	indices := make([]int, len(boxes))
	for i := range indices {
		indices[i] = -1
	}
	gocv.NMSBoxes(boxes, scores, p.conf, p.iou, indices)
	var dets []Detection
	for _, k := range indices {
		if k < 0 {
			break
		}
		dets = append(dets, Detection{Class: classes[k], Score: scores[k], Box: boxes[k]})
	}
	return dets, nil
}
