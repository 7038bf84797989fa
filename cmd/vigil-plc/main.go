// Command vigil-plc writes vigil's rule events to a PLC over Modbus/TCP.
//
//	vigil-plc -config FILE          run the bridge
//	vigil-plc -check -config FILE   validate a config file
//	vigil-plc -example              print a commented example config
//
// It consumes the JetStream stream VIGIL_EVENTS with a durable consumer and
// acknowledges an event only after the PLC took every write the event maps
// to: delivery is at least once (see package plc). Late events of a
// camera's old owner in a fleet (an older lease_epoch) are skipped.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/plc"
)

//go:embed example.yaml
var example []byte

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil-plc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config `file` (required; see -example)")
	check := fs.Bool("check", false, "validate the config and exit")
	printExample := fs.Bool("example", false, "print a commented example config and exit")
	logFormat := fs.String("log-format", "auto", "auto (console on a terminal, JSON otherwise), console or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *printExample {
		stdout.Write(example)
		return 0
	}
	if *path == "" {
		fmt.Fprintln(stderr, "vigil-plc: -config FILE is required (vigil-plc -example prints one)")
		return 2
	}
	cfg, err := plc.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "vigil-plc: %v\n", err)
		return 1
	}
	if *check {
		fmt.Fprintf(stdout, "%s: ok (%d mappings)\n", *path, len(cfg.Mappings))
		return 0
	}
	log, err := newLogger(stderr, cfg.LogLevel, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "vigil-plc: %v\n", err)
		return 2
	}
	if err := serve(cfg, log); err != nil {
		log.Error().Err(err).Msg("vigil-plc stopped")
		return 1
	}
	return 0
}

func serve(cfg *plc.Config, log zerolog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	nc, err := plc.Connect(cfg.NATS, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	w := &plc.Modbus{URL: cfg.PLC.URL, UnitID: uint8(*cfg.PLC.UnitID), Timeout: cfg.PLC.Timeout.D(),
		Log: zerologWriter{log.With().Str("component", "modbus").Logger()}}
	defer w.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b, err := plc.New(cfg, nc, w, reg, log)
	if err != nil {
		return err
	}
	if cfg.HTTP.Listen != "off" {
		s, err := plc.Serve(cfg.HTTP.Listen, b, reg)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s.Shutdown(sctx)
		}()
		log.Info().Str("url", "http://"+s.Addr()).Msg("http: /healthz /metrics")
	}
	log.Info().Str("nats", cfg.NATS.URL).Str("plc", cfg.PLC.URL).Int("mappings", len(cfg.Mappings)).Msg("vigil-plc running")
	b.Run(ctx)
	log.Info().Msg("vigil-plc stopped")
	return nil
}

// zerologWriter turns the Modbus library's log lines into debug lines.
type zerologWriter struct{ l zerolog.Logger }

func (z zerologWriter) Write(p []byte) (int, error) {
	z.l.Debug().Msg(string(p))
	return len(p), nil
}

func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log level %q; use debug, info, warn or error", level)
	}
	switch format {
	case "", "auto":
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
			}
		}
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: true}
	case "json":
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q; use auto, console or json", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
