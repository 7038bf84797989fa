// Command vigil runs the video analytics pipeline and its tools.
//
//	vigil run [--config FILE] [flags]   the pipeline (the demo without a config)
//	vigil reload [--config FILE | --url URL]
//	vigil cameras apply FILE | list | rm ID…
//	vigil fleet status
//	vigil detect [--json] [-o DIR] IMAGE...
//	vigil config check FILE
//	vigil track --det DET.txt -o OUT.txt [--fps N] [tracker flags]
//	vigil eval mot --gt GT.txt --res RES.txt [--json]
//	vigil model inspect|quantize|sensitivity|fp16|compare|eval …
//	vigil serve infer --model MODEL [--subject S]
//	vigil dataset export --from-images DIR --to OUT --format yolo|coco|labelstudio
//	vigil version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	// One C allocator arena from the start, so that codecs' freed buffers
	// are reused and trimmed rather than kept per thread.
	_ "github.com/vigil-vision/vigil/internal/cmalloc/onearena"
)

const usage = `vigil — real-time video analytics for the edge

usage:
  vigil run [--config FILE] [flags]      run the pipeline; without a config, the demo
                                         (sample video, default model, embedded NATS,
                                         HTTP on 127.0.0.1:8080)
  vigil reload [--config FILE | --url URL]
                                         make a running vigil read its config file
                                         again and apply it (as SIGHUP does)
  vigil cameras apply FILE [--prune]     store a file's cameras: in the fleet's bucket
  vigil cameras list [--json]            the fleet's cameras, each with its owner node
  vigil cameras rm ID…                   remove cameras from the fleet
  vigil fleet status [--json]            the fleet's nodes, their load, and its cameras
                                         (fleet commands: --config NODE.yaml or --nats URL)
  vigil detect [--json] [-o DIR] IMAGE…  detect objects in images
  vigil config check FILE                validate a config file
  vigil config example                   print a commented example config
  vigil track --det DET.txt -o OUT.txt [--fps N] [tracker flags]
                                         run the tracker on MOTChallenge detections
                                         (or --det MOTDIR -o OUTDIR, one file a sequence)
  vigil eval mot --gt GT.txt --res RES.txt [--json]
                                         score tracking results: HOTA, MOTA, IDF1, …
                                         (or --gt MOTDIR --res RESDIR)
  vigil model inspect MODEL              inputs, outputs, opset, classes, size, decoder
  vigil model quantize MODEL -o OUT --calib PATH…
                                         static INT8 (QDQ) from calibration frames
  vigil model sensitivity MODEL --calib PATH…
                                         output error when one layer is quantized
  vigil model fp16 MODEL -o OUT          FP16 weights, FP32 inputs and outputs (GPUs)
  vigil model compare REF CANDIDATE --on PATH…
                                         detection agreement and speed of two models
  vigil model eval MODEL --on DATASET    mAP50, mAP50-95, per-class precision and recall
                                         on a labelled YOLO-layout dataset
  vigil serve infer --model MODEL [--subject S] [--nats URL]
                                         answer inference requests over NATS with a
                                         whole model (frames) or a split's tail.onnx
                                         (cut tensors), in a queue group
  vigil dataset export --from-images DIR --to OUT --format yolo|coco|labelstudio
                                         pre-label images with a model and write them
                                         as a training set (--split 80/20)
  vigil version                          print vigil's, OpenCV's and onnxruntime's versions

Run 'vigil COMMAND -h' for a command's flags.
`

// errUsage marks errors that are the user's invocation, exit status 2.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stdout, stderr)
	case "reload":
		err = cmdReload(args[1:], stdout, stderr)
	case "cameras":
		err = cmdCameras(args[1:], stdout, stderr)
	case "fleet":
		err = cmdFleet(args[1:], stdout, stderr)
	case "detect":
		err = cmdDetect(args[1:], stdout, stderr)
	case "config":
		err = cmdConfig(args[1:], stdout, stderr)
	case "track":
		err = cmdTrack(args[1:], stdout, stderr)
	case "eval":
		err = cmdEval(args[1:], stdout, stderr)
	case "model":
		err = cmdModel(args[1:], stdout, stderr)
	case "serve":
		err = cmdServe(args[1:], stdout, stderr)
	case "dataset":
		err = cmdDataset(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		err = cmdVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "vigil %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "vigil %s: %v\n", args[0], err)
		return 1
	}
}

// parseFlags parses a subcommand's flags: -h gives flag.ErrHelp, any other
// mistake a usage error (errUsage).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %v", errUsage, err)
}

// parseFlagsOnly is parseFlags for a subcommand that takes no arguments
// after its flags.
func parseFlagsOnly(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}
