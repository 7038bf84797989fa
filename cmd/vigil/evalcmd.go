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

func cmdEval(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "mot" {
		return fmt.Errorf("%w: vigil eval mot --gt GT.txt --res RES.txt [--json]", errUsage)
	}
	fs := flag.NewFlagSet("vigil eval mot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gt := fs.String("gt", "", "ground truth `file` (frame,id,x,y,w,h,flag,…), or a MOTChallenge directory with <seq>/gt/gt.txt")
	res := fs.String("res", "", "results `file` (frame,id,x,y,w,h,…), or with a directory --gt, a directory of <seq>.txt")
	asJSON := fs.Bool("json", false, "print one JSON object (ratios as fractions) instead of a table (percent)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: vigil eval mot --gt GT.txt --res RES.txt [--json]\n"+
			"       vigil eval mot --gt MOTDIR --res RESDIR [--json]\n\n"+
			"Scores tracking results against ground truth: HOTA (DetA, AssA), CLEAR-MOT\n"+
			"(MOTA, MOTP, FP, FN, ID switches, fragmentations, MT/PT/ML) and IDF1 (IDP,\n"+
			"IDR), matching at IoU >= 0.5. Ground truth with flag 0 is ignored.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlagsOnly(fs, args[1:]); err != nil {
		return err
	}
	if *gt == "" || *res == "" {
		return fmt.Errorf("%w: --gt and --res are required; e.g. vigil eval mot --gt MOT17-02/gt/gt.txt --res MOT17-02.txt", errUsage)
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
