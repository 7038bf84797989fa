package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vigil-vision/vigil/modelstore"
	"github.com/vigil-vision/vigil/node"
)

// modelStoreFlags say where the model versions are: a fleet's NATS (its
// object store and tags bucket, reached as vigil cameras reaches it), or
// with --dir a folder, for a standalone vigil.
type modelStoreFlags struct {
	fleetFlags
	dir string
}

func (f *modelStoreFlags) add(fs *flag.FlagSet) {
	f.fleetFlags.add(fs)
	fs.StringVar(&f.dir, "dir", "", "a `folder` that holds a standalone vigil's models, instead of NATS")
}

// open is the store; done closes what it opened.
func (f *modelStoreFlags) open(ctx context.Context) (modelstore.Store, func(), error) {
	if f.dir != "" {
		if f.nats != "" || f.config != "" {
			return nil, nil, fmt.Errorf("%w: give --dir (a folder) or --nats/--config (a fleet's NATS), not both", errUsage)
		}
		s, err := modelstore.OpenDir(f.dir)
		return s, func() {}, err
	}
	_, nc, js, err := f.connect()
	if err != nil {
		return nil, nil, fmt.Errorf("%w; for a standalone vigil's models give --dir DIR", err)
	}
	s, err := modelstore.OpenNATS(ctx, js, modelstore.Options{})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return s, nc.Close, nil
}

// change opens the store, reads name's entry and hands both to fn: the
// steps of promote, rollback and shadow.
func (f *modelStoreFlags) change(name string, fn func(ctx context.Context, s modelstore.Store, before modelstore.Entry) error) error {
	ctx, cancel := f.context(false)
	defer cancel()
	s, done, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	before, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	return fn(ctx, s, before)
}

// context bounds a command: a push uploads a whole model, so it gets
// minutes beyond --timeout.
func (f *modelStoreFlags) context(upload bool) (context.Context, context.CancelFunc) {
	d := f.timeout
	if upload {
		d += 5 * time.Minute
	}
	return context.WithTimeout(context.Background(), d)
}

func cmdModelPush(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("push", stderr)
	var sf modelStoreFlags
	sf.add(fs)
	name := fs.String("name", "", "the model's `name` (1–64 letters, digits, '-' or '_'); each push is its next version")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *name == "" {
		return fmt.Errorf("%w: vigil model push FILE --name NAME [--nats URL | --config FILE | --dir DIR]", errUsage)
	}
	if err := modelstore.CheckName(*name); err != nil {
		return fmt.Errorf("%w: --name: %v", errUsage, err)
	}
	ctx, cancel := sf.context(true)
	defer cancel()
	s, done, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	v, err := s.Push(ctx, *name, pos[0])
	if err != nil {
		return err
	}
	e, err := s.Get(ctx, *name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pushed %s (%s)", v.Ref(), versionSummary(v))
	switch {
	case e.Promoted == v.Version:
		fmt.Fprintf(stdout, ", promoted: the first version of %s\n", v.Name)
	case e.Candidate == v.Version:
		fmt.Fprintf(stdout, "; %s stays promoted and %s is the candidate: nodes that follow %s check it in shadow (vigil model shadow --watch %s); vigil model promote %s serves it\n",
			modelstore.Ref(v.Name, e.Promoted), v.Ref(), v.Name, v.Name, v.Ref())
	case e.Promoted != 0:
		fmt.Fprintf(stdout, "; %s stays promoted: vigil model promote %s serves this one\n", modelstore.Ref(v.Name, e.Promoted), v.Ref())
	default:
		fmt.Fprintln(stdout)
	}
	return nil
}

// versionSummary is "sha256 1a2b3c4d5e6f…, 12.2 MiB, input 1x3x640x640, 80 classes, int8".
func versionSummary(v modelstore.Version) string {
	return fmt.Sprintf("sha256 %s, %s, input %s, %s, %s", shortHash(v.SHA256), bytesStr(v.Bytes), dimsStr(v.Input), classesStr(v), v.Precision())
}

func shortHash(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

func dimsStr(d []int64) string {
	s := make([]string, len(d))
	for i, n := range d {
		s[i] = "?"
		if n >= 0 {
			s[i] = fmt.Sprint(n)
		}
	}
	return strings.Join(s, "x")
}

// classCount is the number of class names, else the decoder's count.
func classCount(v modelstore.Version) int {
	if len(v.Classes) > 0 {
		return len(v.Classes)
	}
	return v.DecoderClasses
}

func classesStr(v modelstore.Version) string {
	n := classCount(v)
	if n == 1 {
		return "1 class"
	}
	return fmt.Sprintf("%d classes", n)
}

func cmdModelList(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("list", stderr)
	var sf modelStoreFlags
	sf.add(fs)
	asJSON := fs.Bool("json", false, "print JSON: each name's entry with its versions")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	ctx, cancel := sf.context(false)
	defer cancel()
	s, done, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	list, err := s.List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no models; push one with: vigil model push FILE --name NAME")
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MODEL\tVERSION\tSTATE\tSHA256\tSIZE\tINPUT\tCLASSES\tPRECISION\tPUSHED\tSOURCE")
	for _, e := range list {
		for _, v := range e.Versions {
			state := ""
			switch {
			case v.Version == e.Promoted:
				state = "promoted"
			case v.Version == e.Candidate:
				state = "candidate"
			case slices.Contains(e.History, v.Version):
				state = "previous"
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.Name, v.Version, state, shortHash(v.SHA256), bytesStr(v.Bytes),
				dimsStr(v.Input), classCount(v), v.Precision(),
				v.PushedAt.UTC().Format(time.DateTime+"Z"), v.Source)
		}
	}
	return w.Flush()
}

func cmdModelPromote(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("promote", stderr)
	var sf modelStoreFlags
	sf.add(fs)
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: vigil model promote NAME@VERSION [--nats URL | --config FILE | --dir DIR]", errUsage)
	}
	name, version, err := modelstore.ParseRef(pos[0])
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if version == 0 {
		return fmt.Errorf("%w: promote which version of %s? write %s@VERSION (vigil model list shows them)", errUsage, name, name)
	}
	return sf.change(name, func(ctx context.Context, s modelstore.Store, before modelstore.Entry) error {
		if err := s.Promote(ctx, name, version); err != nil {
			return err
		}
		ref := modelstore.Ref(name, version)
		switch before.Promoted {
		case version:
			fmt.Fprintf(stdout, "%s is already promoted\n", ref)
		case 0:
			fmt.Fprintf(stdout, "promoted %s\n", ref)
		default:
			fmt.Fprintf(stdout, "promoted %s (was %s)\n", ref, modelstore.Ref(name, before.Promoted))
		}
		return nil
	})
}

func cmdModelRollback(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("rollback", stderr)
	var sf modelStoreFlags
	sf.add(fs)
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: vigil model rollback NAME [--nats URL | --config FILE | --dir DIR]", errUsage)
	}
	name, version, err := modelstore.ParseRef(pos[0])
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if version != 0 {
		return fmt.Errorf("%w: rollback takes a name, not a version: vigil model rollback %s (to promote %s, vigil model promote %s)", errUsage, name, pos[0], pos[0])
	}
	return sf.change(name, func(ctx context.Context, s modelstore.Store, before modelstore.Entry) error {
		v, err := s.Rollback(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rolled back %s to version %d (was %d): %s is promoted\n", name, v, before.Promoted, modelstore.Ref(name, v))
		return nil
	})
}

// cmdModelShadow puts a version on trial, ends a trial, or prints the
// shadow reports the nodes publish.
func cmdModelShadow(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("shadow", stderr)
	var sf modelStoreFlags
	sf.add(fs)
	stop := fs.Bool("stop", false, "end NAME's trial: no candidate")
	watch := fs.Bool("watch", false, "print the shadow reports of NAME the nodes publish (NATS only), until --for ends or the process is stopped")
	watchFor := fs.Duration("for", 0, "with --watch, stop after this `duration` (0: never)")
	once := fs.Bool("once", false, "with --watch, stop after the first report")
	asJSON := fs.Bool("json", false, "with --watch, print each report as JSON, one per line")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	usage := fmt.Errorf("%w: vigil model shadow NAME@VERSION | --stop NAME | --watch NAME [--for D] [--once] [--json] [--nats URL | --config FILE | --dir DIR]", errUsage)
	if len(pos) != 1 || (*stop && *watch) {
		return usage
	}
	name, version, err := modelstore.ParseRef(pos[0])
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *watch {
		if version != 0 || sf.dir != "" {
			return fmt.Errorf("%w: --watch takes a name and a fleet's NATS: vigil model shadow --watch %s [--nats URL | --config FILE]", errUsage, name)
		}
		return watchShadow(&sf, name, *watchFor, *once, *asJSON, stdout)
	}
	if *stop == (version != 0) {
		if *stop {
			return fmt.Errorf("%w: --stop takes a name: vigil model shadow --stop %s", errUsage, name)
		}
		return fmt.Errorf("%w: put which version of %s on trial? write %s@VERSION (vigil model list shows them)", errUsage, name, name)
	}
	return sf.change(name, func(ctx context.Context, s modelstore.Store, before modelstore.Entry) error {
		if err := s.SetCandidate(ctx, name, version); err != nil {
			return err
		}
		switch {
		case *stop && before.Candidate == 0:
			fmt.Fprintf(stdout, "%s has no candidate\n", name)
		case *stop:
			fmt.Fprintf(stdout, "ended the trial of %s\n", modelstore.Ref(name, before.Candidate))
		default:
			fmt.Fprintf(stdout, "%s is the candidate: nodes that follow %s run it in shadow beside %s (vigil model shadow --watch %s)\n",
				modelstore.Ref(name, version), name, modelstore.Ref(name, before.Promoted), name)
		}
		return nil
	})
}

// watchShadow prints the shadow reports published for name.
func watchShadow(sf *modelStoreFlags, name string, d time.Duration, once, asJSON bool, stdout io.Writer) error {
	cfg, nc, _, err := sf.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe(node.ShadowSubject(cfg.NATS.SubjectPrefix, name), msgs)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	var end <-chan time.Time
	if d > 0 {
		end = time.After(d)
	}
	for {
		select {
		case <-end:
			return nil
		case m := <-msgs:
			var r node.ShadowReport
			if err := json.Unmarshal(m.Data, &r); err != nil {
				fmt.Fprintf(stdout, "unreadable report on %s: %v\n", m.Subject, err)
				continue
			}
			if asJSON {
				fmt.Fprintf(stdout, "%s\n", m.Data)
			} else {
				fmt.Fprintln(stdout, shadowLine(r))
			}
			if once {
				return nil
			}
		}
	}
}

// shadowLine is one report in a line: "line-3 default line3@1 → line3@2
// running: 312 frames checked (3 busy), agreement 0.941, speed ratio
// 1.12; passes: …".
func shadowLine(r node.ShadowReport) string {
	where := r.Detector
	if r.Node != "" {
		where = r.Node + " " + where
	}
	s := fmt.Sprintf("%s %s %s → %s %s", r.At.UTC().Format(time.TimeOnly), where, r.Live, r.Candidate, r.State)
	if c := r.Comparison; c != nil {
		s += fmt.Sprintf(": %d frames checked (%d skipped busy), agreement %.3f, mean score change %+.3f, speed ratio %.2f",
			r.Counts.Checked, r.Counts.Busy, c.Agreement, c.MeanScoreChange, c.SpeedRatio)
	}
	return s + "; " + r.Verdict
}
