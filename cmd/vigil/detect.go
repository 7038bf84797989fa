package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/annotate"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/internal/jsonnum"
	"github.com/vigil-vision/vigil/node"
	"gocv.io/x/gocv"
)

type detectBox struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

type detectObject struct {
	Class int       `json:"class"`
	Label string    `json:"label"`
	Score float64   `json:"score"`
	Box   detectBox `json:"box"`
}

type detectLine struct {
	Image   string         `json:"image"`
	Objects []detectObject `json:"objects"`
}

func cmdDetect(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigil detect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "one JSON line per image (default: a readable table)")
	outDir := fs.String("o", "", "write annotated JPEGs into `dir`")
	cfgPath := fs.String("config", "", "take the model section from this config `file`")
	model := fs.String("model", "", "ONNX detector `path` (default: the model from `make deps`)")
	runtime := fs.String("onnxruntime-lib", "", "libonnxruntime.so `path`")
	conf := fs.Float64("confidence", 0, "confidence threshold (default: model.confidence, 0.25)")
	threads := fs.Int("threads", 0, "onnxruntime intra-op threads")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: no images; e.g. vigil detect deps/media/messi5.jpg", errUsage)
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	if *model != "" {
		cfg.Model.Path = *model
	}
	if *runtime != "" {
		cfg.Model.Runtime = *runtime
	}
	if *conf > 0 {
		cfg.Model.Confidence = *conf
	}
	if *threads > 0 {
		cfg.Model.IntraOpThreads = *threads
	}
	if err := detect.InitRuntime(node.RuntimePath(cfg)); err != nil {
		return err
	}
	det, err := detect.New(node.DetectorOptions(cfg.Model, zerolog.New(stderr).Level(zerolog.WarnLevel)))
	if err != nil {
		return err
	}
	defer det.Close()
	if *outDir != "" {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			return fmt.Errorf("-o %s: %w", *outDir, err)
		}
	}
	failed := 0
	enc := json.NewEncoder(stdout)
	for _, path := range fs.Args() {
		line, err := detectImage(det, path, *outDir)
		if err != nil {
			fmt.Fprintf(stderr, "vigil detect: %v\n", err)
			failed++
			continue
		}
		if *asJSON {
			enc.Encode(line)
			continue
		}
		fmt.Fprintf(stdout, "%s: %d objects\n", path, len(line.Objects))
		for _, o := range line.Objects {
			fmt.Fprintf(stdout, "  %-14s %.2f  x=%.0f y=%.0f w=%.0f h=%.0f\n", o.Label, o.Score, o.Box.X, o.Box.Y, o.Box.W, o.Box.H)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images failed", failed, fs.NArg())
	}
	return nil
}

func detectImage(det *detect.Detector, path, outDir string) (detectLine, error) {
	line := detectLine{Image: path, Objects: []detectObject{}}
	img := gocv.IMRead(path, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		if _, err := os.Stat(path); err != nil {
			return line, fmt.Errorf("image %s: %w", path, errors.Unwrap(err))
		}
		return line, fmt.Errorf("image %s: OpenCV cannot decode it; use JPEG, PNG, BMP, TIFF or WebP", path)
	}
	dets, _, err := det.Detect(img, nil)
	if err != nil {
		return line, fmt.Errorf("image %s: %w", path, err)
	}
	for _, d := range dets {
		line.Objects = append(line.Objects, detectObject{
			Class: d.Class, Label: d.Label, Score: jsonnum.Round(float64(d.Score), 4),
			Box: detectBox{X: jsonnum.Round(float64(d.Box.X1), 1), Y: jsonnum.Round(float64(d.Box.Y1), 1),
				W: jsonnum.Round(float64(d.Box.W()), 1), H: jsonnum.Round(float64(d.Box.H()), 1)},
		})
	}
	if outDir != "" {
		drawDetections(&img, dets)
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)) + ".jpg"
		out := filepath.Join(outDir, name)
		if !gocv.IMWrite(out, img) {
			return line, fmt.Errorf("write %s: OpenCV could not write the JPEG", out)
		}
	}
	return line, nil
}

func drawDetections(img *gocv.Mat, dets []detect.Detection) {
	for _, d := range dets {
		r := image.Rect(int(d.Box.X1), int(d.Box.Y1), int(d.Box.X2), int(d.Box.Y2))
		annotate.Box(img, r, d.Class, fmt.Sprintf("%s %.2f", d.Label, d.Score))
	}
}
