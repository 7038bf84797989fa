package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/mot"
)

// evalSequence is one row of `vigil eval mot`'s output.
type evalSequence struct {
	Name    string      `json:"name"`
	Metrics mot.Metrics `json:"metrics"`
}

type evalReport struct {
	Sequences []evalSequence `json:"sequences"`
	Overall   mot.Metrics    `json:"overall"`
}

// trackEvalReport is `vigil eval mot --det`'s output: the same sequences
// tracked by vigil and by SORT.
type trackEvalReport struct {
	Vigil evalReport `json:"vigil"`
	SORT  evalReport `json:"sort"`
}

const evalUsage = "vigil eval mot --gt GT.txt --res RES.txt [--json]\n" +
	"       vigil eval mot --gt MOTDIR --res RESDIR [--json]\n" +
	"       vigil eval mot --det MOTDIR [--gt MOTDIR] [--json] [tracker flags]"

func cmdEval(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "mot" {
		return fmt.Errorf("%w: %s", errUsage, evalUsage)
	}
	fs := flag.NewFlagSet("vigil eval mot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gt := fs.String("gt", "", "ground truth `file` (frame,id,x,y,w,h,flag,…), or a MOTChallenge directory with <seq>/gt/gt.txt")
	res := fs.String("res", "", "results `file` (frame,id,x,y,w,h,…), or with a directory --gt, a directory of <seq>.txt")
	det := fs.String("det", "", "MOTChallenge `directory` with <seq>/det/det.txt (and seqinfo.ini): track every sequence with vigil's tracker, as vigil track does, and with SORT, and score both (ground truth from --gt, else from this directory)")
	cfgPath := fs.String("config", "", "with --det: take the tracker section from this config `file`; flags override it")
	var flags config.Tracker
	addTrackerFlags(fs, &flags)
	asJSON := fs.Bool("json", false, "print one JSON object (ratios as fractions) instead of a table (percent)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: "+evalUsage+"\n\n"+
			"Scores tracking results against ground truth: HOTA (DetA, AssA), CLEAR-MOT\n"+
			"(MOTA, MOTP, FP, FN, ID switches, fragmentations, MT/PT/ML) and IDF1 (IDP,\n"+
			"IDR), matching at IoU >= 0.5. Ground truth with flag 0 is ignored.\n"+
			"With --det it tracks the detections itself, with vigil's tracker and with\n"+
			"SORT (min_hits 3, max_age 1, IoU 0.3), and prints both; tracker flags are\n"+
			"the config's tracker section, dashes for underscores.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlagsOnly(fs, args[1:]); err != nil {
		return err
	}
	if *det != "" {
		if *res != "" {
			return fmt.Errorf("%w: --det tracks the detections itself; leave out --res", errUsage)
		}
		tc, err := resolveTracker(fs, &flags, *cfgPath)
		if err != nil {
			return err
		}
		gtDir := *gt
		if gtDir == "" {
			gtDir = *det
		}
		return evalDetections(*det, gtDir, tc, *asJSON, stdout, stderr)
	}
	if *gt == "" || *res == "" {
		return fmt.Errorf("%w: --gt and --res (or --det) are required; e.g. vigil eval mot --gt MOT17-02/gt/gt.txt --res MOT17-02.txt", errUsage)
	}
	info, err := os.Stat(*gt)
	if err != nil {
		return fmt.Errorf("--gt: %w", err)
	}

	type pair struct{ name, gt, res string }
	var pairs []pair
	if info.IsDir() {
		seqs, err := motSequences(*gt, filepath.Join("gt", "gt.txt"))
		if err != nil {
			return err
		}
		for _, s := range seqs {
			pairs = append(pairs, pair{s, filepath.Join(*gt, s, "gt", "gt.txt"), filepath.Join(*res, s+".txt")})
		}
	} else {
		name := strings.TrimSuffix(filepath.Base(*res), filepath.Ext(*res))
		pairs = append(pairs, pair{name, *gt, *res})
	}

	var report evalReport
	var total mot.Counts
	for _, p := range pairs {
		gtRows, err := mot.ReadFile(p.gt, mot.GroundTruth)
		if err != nil {
			return err
		}
		resRows, err := mot.ReadFile(p.res, mot.Results)
		if err != nil {
			return fmt.Errorf("sequence %s: %w", p.name, err)
		}
		c := mot.Evaluate(gtRows, resRows)
		total.Add(c)
		report.Sequences = append(report.Sequences, evalSequence{Name: p.name, Metrics: c.Metrics()})
	}
	report.Overall = total.Metrics()

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return writeEvalTable(stdout, report)
}

// writeEvalTable prints one aligned row per sequence, then the overall row
// when there is more than one sequence. Ratios are in percent.
func writeEvalTable(w io.Writer, r evalReport) error {
	width := len("sequence")
	for _, s := range r.Sequences {
		width = max(width, len(s.Name))
	}
	// Numbers align right; names are padded so that they read left-aligned.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\t", width, "sequence")
	fmt.Fprintln(tw, "HOTA\tDetA\tAssA\tMOTA\tMOTP\tIDF1\tIDP\tIDR\tGT\tFP\tFN\tIDSW\tFrag\tIDs\tMT\tPT\tML\t")
	row := func(name string, m mot.Metrics) {
		pct := func(x float64) string { return fmt.Sprintf("%.2f", 100*x) }
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n",
			width, name, pct(m.HOTA), pct(m.DetA), pct(m.AssA), pct(m.MOTA), pct(m.MOTP), pct(m.IDF1), pct(m.IDP), pct(m.IDR),
			m.GT, m.FP, m.FN, m.IDSW, m.Frag, m.GTIDs, m.MT, m.PT, m.ML)
	}
	for _, s := range r.Sequences {
		row(s.Name, s.Metrics)
	}
	if len(r.Sequences) > 1 {
		row("OVERALL", r.Overall)
	}
	return tw.Flush()
}

// evalDetections tracks every sequence of detDir that has ground truth in
// gtDir, with vigil's tracker through the same steps as `vigil track` and
// with SORT, and prints both evaluations.
func evalDetections(detDir, gtDir string, tc config.Tracker, asJSON bool, stdout, stderr io.Writer) error {
	seqs, err := motSequences(detDir, filepath.Join("det", "det.txt"))
	if err != nil {
		return fmt.Errorf("--det: %w", err)
	}
	var r trackEvalReport
	var vigilTotal, sortTotal mot.Counts
	for _, seq := range seqs {
		gtPath := filepath.Join(gtDir, seq, "gt", "gt.txt")
		if _, err := os.Stat(gtPath); err != nil {
			fmt.Fprintf(stderr, "%s: no ground truth at %s; left out\n", seq, gtPath)
			continue
		}
		gtRows, err := mot.ReadFile(gtPath, mot.GroundTruth)
		if err != nil {
			return err
		}
		rate, err := seqFrameRate(filepath.Join(detDir, seq, "seqinfo.ini"), 0)
		if err != nil {
			return err
		}
		dets, err := mot.ReadFile(filepath.Join(detDir, seq, "det", "det.txt"), mot.Detections)
		if err != nil {
			return err
		}
		v := mot.Evaluate(gtRows, trackRows(dets, rate, tc))
		s := mot.Evaluate(gtRows, sortRows(dets))
		vigilTotal.Add(v)
		sortTotal.Add(s)
		r.Vigil.Sequences = append(r.Vigil.Sequences, evalSequence{Name: seq, Metrics: v.Metrics()})
		r.SORT.Sequences = append(r.SORT.Sequences, evalSequence{Name: seq, Metrics: s.Metrics()})
	}
	if len(r.Vigil.Sequences) == 0 {
		return fmt.Errorf("%s: no sequence has ground truth <seq>/gt/gt.txt", gtDir)
	}
	r.Vigil.Overall, r.SORT.Overall = vigilTotal.Metrics(), sortTotal.Metrics()

	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintln(stdout, "vigil")
	if err := writeEvalTable(stdout, r.Vigil); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nSORT (min_hits 3, max_age 1, IoU 0.3)")
	if err := writeEvalTable(stdout, r.SORT); err != nil {
		return err
	}
	v, s := r.Vigil.Overall, r.SORT.Overall
	_, err = fmt.Fprintf(stdout, "\nvigil - SORT: MOTA %+.2f  IDF1 %+.2f  HOTA %+.2f  IDSW %d vs %d  FP %d vs %d  FN %d vs %d\n",
		100*(v.MOTA-s.MOTA), 100*(v.IDF1-s.IDF1), 100*(v.HOTA-s.HOTA), v.IDSW, s.IDSW, v.FP, s.FP, v.FN, s.FN)
	return err
}

// sortRows runs SORT with its published settings over every frame from 1
// to the last one with a detection.
func sortRows(rows []mot.Row) []mot.Row {
	s := mot.NewSORT()
	var out []mot.Row
	for f, frame := range mot.ByFrame(rows) {
		if f == 0 {
			continue
		}
		for _, t := range s.Update(frame) {
			t.Frame = f
			out = append(out, t)
		}
	}
	return out
}
