package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"github.com/vigil-vision/vigil/internal/cmalloc/onearena"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/node"
)

// stringsFlag collects a repeatable flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// runFlags override the config file, field by field.
type runFlags struct {
	config, logLevel, logFormat, model, runtime, http, natsURL, natsListen, dataDir string
	sources                                                                         stringsFlag
	maxFrames, threads                                                              int
	realtime, watch                                                                 bool
	set                                                                             map[string]bool
}

func parseRunFlags(args []string, stderr io.Writer) (*runFlags, error) {
	f := &runFlags{set: map[string]bool{}}
	fs := flag.NewFlagSet("vigil run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "YAML config `file` (default: the demo)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (overrides log_level)")
	fs.StringVar(&f.logFormat, "log-format", "auto", "auto (console on a terminal, JSON otherwise), console or json")
	fs.StringVar(&f.model, "model", "", "ONNX detector `path` (overrides model.path)")
	fs.StringVar(&f.runtime, "onnxruntime-lib", "", "libonnxruntime.so `path` (overrides model.onnxruntime_lib)")
	fs.StringVar(&f.http, "http", "", "HTTP listen `address`, or off (overrides http.listen)")
	fs.StringVar(&f.natsURL, "nats-url", "", "external NATS `url` (overrides nats.url; default: embedded server)")
	fs.StringVar(&f.natsListen, "nats-listen", "", "embedded NATS `address` (overrides nats.listen)")
	fs.StringVar(&f.dataDir, "data-dir", "", "`dir` for JetStream and state (overrides data_dir)")
	fs.Var(&f.sources, "source", "camera `url` (repeatable; replaces the config's cameras, ids cam1, cam2, …)")
	fs.IntVar(&f.maxFrames, "max-frames", 0, "stop after `n` processed frames (overrides pipeline.max_frames)")
	fs.IntVar(&f.threads, "threads", 0, "onnxruntime intra-op `threads` (overrides model.intra_op_threads)")
	fs.BoolVar(&f.watch, "watch", false, "apply --config again whenever the file changes (checked every second), as SIGHUP does")
	fs.BoolVar(&f.realtime, "realtime", true, "pace --source files at their frame rate (false: as fast as possible, no drops)")
	if err := parseFlagsOnly(fs, args); err != nil {
		return nil, err
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return f, nil
}

// loadConfig reads the file (or the demo defaults) and applies the flags.
func loadConfig(f *runFlags) (*config.Config, error) {
	cfg := config.Default()
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
	}
	if f.set["log-level"] {
		cfg.LogLevel = f.logLevel
	}
	if f.set["model"] {
		cfg.Model.Path = f.model
	}
	if f.set["onnxruntime-lib"] {
		cfg.Model.Runtime = f.runtime // one library per process: every detector's
		for i := range cfg.Detectors {
			cfg.Detectors[i].Model.Runtime = f.runtime
		}
	}
	if f.set["http"] {
		cfg.HTTP.Listen = f.http
	}
	if f.set["nats-url"] {
		cfg.NATS.URL = f.natsURL
	}
	if f.set["nats-listen"] {
		cfg.NATS.Listen = f.natsListen
	}
	if f.set["data-dir"] {
		cfg.DataDir = f.dataDir
	}
	if f.set["max-frames"] {
		cfg.Pipeline.MaxFrames = f.maxFrames
	}
	if f.set["threads"] {
		cfg.Model.IntraOpThreads = f.threads
	}
	if len(f.sources) > 0 {
		cfg.Cameras = nil
		for i, s := range f.sources {
			c := config.DemoCamera(s)
			c.ID = "cam" + strconv.Itoa(i+1)
			c.Realtime = &f.realtime
			c.Loop = &f.realtime // a file read as fast as possible ends; a paced one loops like a camera
			cfg.Cameras = append(cfg.Cameras, c)
		}
	}
	if len(cfg.Cameras) == 0 && !cfg.Fleet.Enabled { // a fleet node runs what the fleet hands it
		cfg.Cameras = []config.Camera{config.DemoCamera(assets.Media("vtest.avi"))}
	}
	if err := cfg.Validate(); err != nil {
		name := f.config
		if name == "" {
			name = "flags"
		}
		return nil, fmt.Errorf("invalid configuration (%s):\n%w", name, err)
	}
	return cfg, nil
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	f, err := parseRunFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(f)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel, f.logFormat)
	if err != nil {
		return err
	}
	log.Debug().Str("c_malloc", onearena.Setting()).Msg("C allocator")
	ctx, stop := signalContext(log)
	defer stop()
	o := node.Options{Logger: log, OpenMats: openMats, Version: vigilVersion()}
	if f.config != "" {
		o.Load = func() (*config.Config, error) { return loadConfig(f) }
	}
	n, err := node.Start(cfg, o)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			log.Info().Str("signal", "hangup").Msg("reloading the configuration")
			n.RequestReload()
		}
	}()
	if f.watch && f.config != "" {
		go watchFile(ctx, f.config, time.Second, func() {
			log.Info().Str("file", f.config).Msg("config file changed; reloading")
			n.RequestReload()
		})
	}
	return n.Run(ctx)
}

// watchFile calls changed whenever the file's contents differ from the
// last look, looking every period until ctx ends. A file half written
// when looked at is read again at the next look.
func watchFile(ctx context.Context, path string, period time.Duration, changed func()) {
	last, _ := os.ReadFile(path)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, err := os.ReadFile(path)
		if err != nil || bytes.Equal(b, last) {
			continue
		}
		last = b
		changed()
	}
}

// signalContext ends on SIGINT or SIGTERM; a second signal exits at once.
func signalContext(log zerolog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s, ok := <-ch
		if !ok {
			return
		}
		log.Info().Str("signal", s.String()).Msg("shutting down: finishing frames in flight (signal again to quit at once)")
		cancel()
		if _, ok := <-ch; ok {
			log.Warn().Msg("second signal: quitting without flushing")
			os.Exit(130)
		}
	}()
	return ctx, func() { signal.Stop(ch); close(ch); cancel() }
}
