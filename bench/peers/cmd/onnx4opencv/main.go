// Command onnx4opencv rewrites an ONNX model so that OpenCV 4.6's DNN
// module reads it (see package opencvonnx) and prints what it changed:
//
//	go run ./bench/peers/cmd/onnx4opencv -in deps/models/yolov8n.onnx -out /tmp/yolov8n-opencv.onnx
//
// vigil-bench makes the same rewrite itself; this is for looking at it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/peers/opencvonnx"
	"github.com/vigil-vision/vigil/detect"
)

func main() {
	in := flag.String("in", assets.Model(), "the model to rewrite")
	out := flag.String("out", "", "where to write the rewritten model (required)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "onnx4opencv: -out is required")
		os.Exit(2)
	}
	if err := detect.InitRuntime(assets.Library()); err != nil {
		fmt.Fprintln(os.Stderr, "onnx4opencv:", err)
		os.Exit(1)
	}
	changes, err := opencvonnx.RewriteFile(*in, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "onnx4opencv:", err)
		os.Exit(1)
	}
	for _, c := range changes {
		fmt.Printf("%s: %s\n", c.Node, c.What)
	}
	fmt.Printf("%d changes; wrote %s\n", len(changes), *out)
}
