package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/infer"
)

// cmdServe runs a service: `vigil serve infer` answers inference requests
// over NATS with a whole model (frames in) or the tail of a split one
// (cut tensors in), until interrupted.
func cmdServe(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "infer" {
		return fmt.Errorf("%w: vigil serve infer --model MODEL [--subject S] [--queue Q] [--nats URL | --config FILE]", errUsage)
	}
	fs := flag.NewFlagSet("vigil serve infer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ff fleetFlags
	ff.add(fs)
	path := fs.String("model", "", "the `model` to serve: a whole ONNX detector, or the tail.onnx of `vigil model split`")
	subject := fs.String("subject", "vigil.infer", "NATS `subject` to serve on; clients name the same one (remote.subject)")
	queue := fs.String("queue", infer.DefaultQueue, "NATS queue `group`: servers of one subject in one group share its requests")
	threads := fs.Int("threads", 0, "onnxruntime intra-op `threads` (0: onnxruntime's choice)")
	runtime := fs.String("onnxruntime-lib", "", "libonnxruntime.so `path`")
	pos, err := parseMixed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 || *path == "" {
		return fmt.Errorf("%w: vigil serve infer --model MODEL [--subject S] [--queue Q] [--nats URL | --config FILE]", errUsage)
	}
	if err := initRuntime(*runtime); err != nil {
		return err
	}
	o := detect.Options{Model: *path, IntraOpThreads: *threads}
	part, err := detect.PartOf(*path)
	if err != nil {
		return err
	}
	log := zerolog.New(stderr).With().Timestamp().Str("service", "infer").Logger()
	so := infer.ServerOptions{Subject: *subject, Queue: *queue, Logger: log}
	switch part {
	case "":
		det, err := detect.New(o)
		if err != nil {
			return err
		}
		defer det.Close()
		if so.Source, err = infer.FileSource(*path); err != nil {
			return err
		}
		so.Detector = det
	case "tail":
		tail, err := detect.NewTail(o)
		if err != nil {
			return err
		}
		defer tail.Close()
		so.Tail = tail
	default:
		return fmt.Errorf("%s is the %s of a split model: serve its tail.onnx (the head runs on the camera's node), or the whole model", *path, part)
	}
	_, nc, _, err := ff.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	so.Conn = nc
	srv, err := infer.Serve(so)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stdout, "serving %s (%s) on %s, queue %s; Ctrl-C stops\n", *path, srv.Info().Part, *subject, *queue)
	<-ctx.Done()
	err = srv.Close()
	served, failed := srv.Counts()
	fmt.Fprintf(stdout, "served %d requests, refused %d\n", served, failed)
	return err
}
