package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/vigil-vision/vigil/infer"
	"github.com/vigil-vision/vigil/model"
	"gocv.io/x/gocv"
)

// cmdModelPlan predicts, for every way to run a model between this node
// and a server (all here, the frame sent as JPEG, each cut), the camera
// node's CPU, the bytes and the latency per frame, from profiles of both
// machines and a link model, and picks one for a goal.
func cmdModelPlan(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("plan", stderr)
	link := fs.String("link", "", "the link's `rate`: 10Mbit, 100Mbit, 1Gbit, 12.5MB/s")
	rtt := fs.Duration("rtt", 2*time.Millisecond, "the link's round trip")
	remoteProfile := fs.String("remote-profile", "", "the server's profile: `file` of `vigil model cuts MODEL --profile --json` run there (default: this machine's, over --speedup)")
	speedup := fs.Float64("speedup", 1, "without --remote-profile: how many times as fast the server runs the model")
	goal := fs.String("goal", "latency", "what to pick for: latency, camera_cpu or bytes")
	transport := fs.String("transport", "uint8", "the cut on the wire: uint8, float16 or float32")
	quality := fs.Int("jpeg-quality", 90, "JPEG quality of frames sent whole")
	maxTensors := fs.Int("max-tensors", 1, "consider the cuts that `N` tensors or fewer cross (0: all; each costs about 1.5 s to profile here)")
	var pf profileFlags
	pf.add(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *link == "" {
		return fmt.Errorf("%w: vigil model plan MODEL --link RATE [--rtt 2ms] [--remote-profile FILE | --speedup X] [--goal latency|camera_cpu|bytes]", errUsage)
	}
	in := model.PlanInput{Speedup: *speedup, Link: model.Link{RTT: *rtt}}
	if in.Link.BitsPerSecond, err = model.ParseRate(*link); err != nil {
		return fmt.Errorf("--link: %w", err)
	}
	if !slices.Contains(model.Goals, *goal) {
		return fmt.Errorf("--goal %q: use latency, camera_cpu or bytes", *goal)
	}
	dtype, err := infer.ParseDType(*transport)
	if err != nil {
		return fmt.Errorf("--transport: %w", err)
	}
	in.ValueBytes = dtype.Size()
	if *remoteProfile != "" {
		b, err := os.ReadFile(*remoteProfile)
		if err != nil {
			return fmt.Errorf("--remote-profile: %w", err)
		}
		in.Remote = &model.CutReport{}
		if err := json.Unmarshal(b, in.Remote); err != nil {
			return fmt.Errorf("--remote-profile %s: not the JSON of `vigil model cuts MODEL --profile --json`: %w", *remoteProfile, err)
		}
	}
	if err := initRuntime(pf.runtime); err != nil {
		return err
	}
	po := pf.options()
	if in.Local, _, err = cutReport(pos[0], *maxTensors, true, po); err != nil {
		return err
	}
	if err := frameCosts(&in, po.Frames, *quality, dtype); err != nil {
		return err
	}
	cands, err := model.Plan(in)
	if err != nil {
		return err
	}
	picks := map[string]string{}
	for _, g := range model.Goals {
		c, err := model.Pick(cands, g)
		if err != nil {
			return err
		}
		picks[g] = c.Name
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Candidates []model.Candidate `json:"candidates"`
			Picks      map[string]string `json:"picks"`
			Goal       string            `json:"goal"`
			Pick       string            `json:"pick"`
		}{Candidates: cands, Picks: picks, Goal: *goal, Pick: picks[*goal]})
	}
	remote := fmt.Sprintf("this machine's profile over a speed-up of %g", *speedup)
	if in.Remote != nil {
		remote = *remoteProfile
	}
	fmt.Fprintf(stdout, "%s over %s, RTT %v; the server: %s; cut as %s\n", pos[0], *link, *rtt, remote, dtype)
	fmt.Fprintf(stdout, "here: letterbox %.1f ms, JPEG %d bytes at quality %d in %.1f ms, whole model %.1f ms\n\n",
		in.LetterboxMS, in.JPEGBytes, *quality, in.JPEGEncodeMS, in.Local.ModelMS)
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "candidate\ttensors\tcamera CPU ms\tbytes\tlatency ms\tfps\tpicked for")
	for _, c := range cands {
		var for_ []string
		for _, g := range model.Goals {
			if picks[g] == c.Name {
				for_ = append(for_, g)
			}
		}
		fmt.Fprintf(w, "%s\t%d\t%.1f\t%d\t%.1f\t%.1f\t%s\n", c.Name, c.Tensors, c.CameraMS, c.Bytes, c.LatencyMS, c.FPS, joinOr(for_, ""))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nfor %s: %s\n", *goal, picks[*goal])
	return nil
}

func joinOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	out := s[0]
	for _, x := range s[1:] {
		out += ", " + x
	}
	return out
}

// frameCosts measures this node's costs of sending a frame
// (infer.MeasureSendCosts) on the frames.
func frameCosts(in *model.PlanInput, fr model.Frames, quality int, dtype infer.DType) error {
	var imgs []gocv.Mat
	defer func() {
		for _, m := range imgs {
			m.Close()
		}
	}()
	if _, err := fr.Each(func(name string, img gocv.Mat) error {
		imgs = append(imgs, img.Clone())
		return nil
	}); err != nil {
		return err
	}
	c, err := infer.MeasureSendCosts(imgs, quality, dtype)
	if err != nil {
		return err
	}
	in.LetterboxMS, in.JPEGEncodeMS, in.JPEGDecodeMS, in.JPEGBytes, in.QuantizeNSPerValue =
		c.LetterboxMS, c.JPEGEncodeMS, c.JPEGDecodeMS, c.JPEGBytes, c.QuantizeNSPerValue
	return nil
}
