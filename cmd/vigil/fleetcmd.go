package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/fleet"
	"github.com/vigil-vision/vigil/sinks"
)

// fleetFlags are how a fleet command reaches NATS: a node's config file
// (its nats.url, else its embedded server's nats.listen, with its
// credentials), or --nats.
type fleetFlags struct {
	config, nats string
	timeout      time.Duration
}

func (f *fleetFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "a fleet node's config `file`: how to reach its NATS")
	fs.StringVar(&f.nats, "nats", "", "NATS `url` (default: the config's nats.url or nats.listen, else 127.0.0.1:4222)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for NATS")
}

// connect opens NATS and JetStream; close the connection when done.
func (f *fleetFlags) connect() (*config.Config, *nats.Conn, jetstream.JetStream, error) {
	cfg := config.Default()
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, nil, nil, err
		}
	}
	url := f.nats
	if url == "" {
		url = cfg.NATS.URL
	}
	if url == "" {
		url = "nats://" + cfg.NATS.Listen
	}
	password, token, err := cfg.ReadSecrets()
	if err != nil {
		return nil, nil, nil, err
	}
	nc, err := sinks.Connect(sinks.ConnOptions{
		URL: url, Name: "vigil-cli", User: cfg.NATS.User, Password: password, Token: token,
		CredsFile: cfg.NATS.CredsFile, TLSCA: cfg.NATS.TLS.CA, TLSCert: cfg.NATS.TLS.Cert, TLSKey: cfg.NATS.TLS.Key,
		TLSInsecureSkipVerify: cfg.NATS.TLS.InsecureSkipVerify, Logger: zerolog.Nop(),
	})
	if err != nil {
		return nil, nil, nil, err
	}
	for deadline := time.Now().Add(f.timeout); !nc.IsConnected(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			nc.Close()
			return nil, nil, nil, fmt.Errorf("no NATS answers at %s within %s; is a fleet node running? (--nats URL or --config FILE)", sinks.RedactURL(url), f.timeout)
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	return cfg, nc, js, nil
}

// cameras opens the fleet's cameras bucket; done closes what it opened.
func (f *fleetFlags) cameras() (context.Context, *fleet.Cameras, func(), error) {
	_, nc, js, err := f.connect()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	done := func() { cancel(); nc.Close() }
	store, err := fleet.OpenCameras(ctx, js, "", 0)
	if err != nil {
		done()
		return nil, nil, nil, err
	}
	return ctx, store, done, nil
}

// cmdCameras changes and lists the fleet's cameras:
//
//	vigil cameras apply FILE [--prune]   store the file's cameras: in the fleet
//	vigil cameras list [--json]          every fleet camera, its owner and state
//	vigil cameras rm ID…                 remove cameras from the fleet
func cmdCameras(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: vigil cameras apply FILE | list | rm ID…", errUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("vigil cameras "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ff fleetFlags
	ff.add(fs)
	prune := fs.Bool("prune", false, "apply: also remove the fleet's cameras that the file does not name")
	asJSON := fs.Bool("json", false, "list: JSON instead of a table")
	if err := parseInterleaved(fs, args); err != nil {
		return err
	}
	switch sub {
	case "apply":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: vigil cameras apply FILE", errUsage)
		}
		return camerasApply(&ff, fs.Arg(0), *prune, stdout)
	case "list":
		if fs.NArg() != 0 {
			return fmt.Errorf("%w: vigil cameras list takes no argument", errUsage)
		}
		return fleetStatus(&ff, *asJSON, true, stdout)
	case "rm":
		if fs.NArg() == 0 {
			return fmt.Errorf("%w: vigil cameras rm ID…", errUsage)
		}
		return camerasRemove(&ff, fs.Args(), stdout)
	}
	return fmt.Errorf("%w: unknown subcommand %q; use apply, list or rm", errUsage, sub)
}

func camerasApply(ff *fleetFlags, file string, prune bool, stdout io.Writer) error {
	// The file is checked before NATS is reached: its mistakes come with
	// file:line and field paths, and nothing is stored.
	cfg, err := config.Load(file)
	if err != nil {
		return fmt.Errorf("nothing stored:\n%w", err)
	}
	if len(cfg.Cameras) == 0 {
		return fmt.Errorf("%s names no cameras; nothing stored (the fleet's cameras go under cameras:, as in a node's file)", file)
	}
	ctx, store, done, err := ff.cameras()
	if err != nil {
		return err
	}
	defer done()
	before, err := store.List(ctx)
	if err != nil {
		return err
	}
	if err := store.Put(ctx, cfg, cfg.Cameras); err != nil {
		return err
	}
	old := map[string]fleet.Entry{}
	for _, e := range before {
		old[e.ID] = e
	}
	for _, c := range cfg.Cameras {
		verb := "added"
		if e, ok := old[c.ID]; ok {
			verb = "updated"
			if e.Err == nil && sameCamera(e.Camera, c) {
				verb = "unchanged"
			}
			delete(old, c.ID)
		}
		fmt.Fprintf(stdout, "camera %s %s\n", c.ID, verb)
	}
	if prune {
		for id := range old {
			if err := store.Delete(ctx, id); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "camera %s removed\n", id)
		}
	}
	return nil
}

func sameCamera(a, b config.Camera) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func camerasRemove(ff *fleetFlags, ids []string, stdout io.Writer) error {
	ctx, store, done, err := ff.cameras()
	if err != nil {
		return err
	}
	defer done()
	var errs []error
	for _, id := range ids {
		if err := store.Delete(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stdout, "camera %s removed\n", id)
	}
	return errors.Join(errs...)
}

// parseInterleaved parses flags that may come after the arguments too
// (vigil cameras apply FILE --nats URL), leaving the arguments in fs.Args.
func parseInterleaved(fs *flag.FlagSet, args []string) error {
	var rest []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(rest)
}

// cmdFleet shows the fleet: vigil fleet status [--json].
func cmdFleet(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "status" {
		return fmt.Errorf("%w: vigil fleet status [--json]", errUsage)
	}
	fs := flag.NewFlagSet("vigil fleet status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ff fleetFlags
	ff.add(fs)
	asJSON := fs.Bool("json", false, "JSON instead of tables")
	if err := parseFlagsOnly(fs, args[1:]); err != nil {
		return err
	}
	return fleetStatus(&ff, *asJSON, false, stdout)
}

func fleetStatus(ff *fleetFlags, asJSON, camerasOnly bool, stdout io.Writer) error {
	_, nc, js, err := ff.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ff.timeout)
	defer cancel()
	st, err := fleet.ReadStatus(ctx, js, "", "", "")
	if err != nil {
		return err
	}
	if asJSON {
		var v any = st
		if camerasOnly {
			v = st.Cameras
		}
		out, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintln(stdout, string(out))
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !camerasOnly {
		fmt.Fprintln(tw, "NODE\tCAMERAS\tLOAD\tLABELS\tURL")
		for _, n := range st.Nodes {
			fmt.Fprintf(tw, "%s\t%d/%d\t%.2f\t%s\t%s\n", n.Name, len(n.Cameras), n.MaxCameras, n.Load, strings.Join(n.Labels, ","), n.URL)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw, "CAMERA\tSTATE\tOWNER\tEPOCH\tREASON")
	for _, c := range st.Cameras {
		epoch := ""
		if c.Epoch > 0 {
			epoch = fmt.Sprint(c.Epoch)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.State, c.Owner, epoch, c.Reason)
	}
	return tw.Flush()
}
