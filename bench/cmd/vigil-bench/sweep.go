package main

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
)

// sweep (-ort-sweep) times raw inference with onnxruntime option variants,
// and the pipeline with intra-op spinning on and off, interleaved in
// -rounds rounds, to choose detect's defaults by measurement.
func (b *bench) sweep(ctx context.Context, rep *report) error {
	t := b.cfg.Threads
	variants := []struct {
		name string
		sc   sessionConfig
	}{
		{fmt.Sprintf("threads%d_spin_on", t), sessionConfig{Threads: t, Spinning: "on"}},
		{fmt.Sprintf("threads%d_spin_off", t), sessionConfig{Threads: t, Spinning: "off"}},
		{"threads1", sessionConfig{Threads: 1}},
		{fmt.Sprintf("threads%d_graph_extended", t), sessionConfig{Threads: t, GraphOpt: "extended"}},
		{fmt.Sprintf("threads%d_graph_basic", t), sessionConfig{Threads: t, GraphOpt: "basic"}},
		{fmt.Sprintf("threads%d_parallel", t), sessionConfig{Threads: t, Parallel: true}},
	}
	// Spinning first, against the pipeline, with only those sessions open:
	// an open session in parallel mode slows every other one down.
	rawRuns := make([][]timedRun, len(variants))
	spins := []string{"on", "off"}
	pipeRuns := make([][]throughputRun, len(spins))
	if err := b.sweepSpinning(ctx, variants[:2], rawRuns[:2], spins, pipeRuns); err != nil {
		return err
	}
	for i := 2; i < len(variants); i++ {
		v := variants[i]
		r, err := newRawBench(b.cfg, v.sc, b.det, b.frame)
		if err != nil {
			return fmt.Errorf("sweep %s: %w", v.name, err)
		}
		for round := range b.cfg.Rounds {
			tr, err := r.Measure()
			if err != nil {
				r.Close()
				return fmt.Errorf("sweep %s: %w", v.name, err)
			}
			rawRuns[i] = append(rawRuns[i], tr)
			progress("ort sweep %s round %d/%d: %.2f fps", v.name, round+1, b.cfg.Rounds, tr.FPS())
		}
		r.Close()
	}
	for i, v := range variants {
		rep.Add("sweep_raw_"+v.name+"_fps", "%.2f", mean(rawRuns[i], timedRun.FPS))
		rep.Add("sweep_raw_"+v.name+"_cpu_ms", "%.1f", mean(rawRuns[i], timedRun.CPUMS))
	}
	fastest := 0.0 // the best raw rate of any spinning variant
	for i := range spins {
		fastest = max(fastest, mean(rawRuns[i], timedRun.FPS))
	}
	for i, s := range spins {
		fps := mean(pipeRuns[i], throughputRun.FPS)
		rep.Add("sweep_pipeline_spin_"+s+"_fps", "%.2f", fps)
		rep.Add("sweep_pipeline_spin_"+s+"_vs_raw_spin_"+s, "%.3f", fps/mean(rawRuns[i], timedRun.FPS))
		rep.Add("sweep_pipeline_spin_"+s+"_cpu_ms", "%.1f", mean(pipeRuns[i], throughputRun.CPUMS))
		rep.Add("sweep_pipeline_spin_"+s+"_vs_fastest_raw", "%.3f", fps/fastest)
	}
	return nil
}

// sweepSpinning measures raw and the pipeline with intra-op spinning on and
// off, interleaved.
func (b *bench) sweepSpinning(ctx context.Context, variants []struct {
	name string
	sc   sessionConfig
}, rawRuns [][]timedRun, spins []string, pipeRuns [][]throughputRun) error {
	raws := make([]*rawBench, len(variants))
	dets := make([]*detect.Detector, len(spins))
	defer func() {
		for _, r := range raws {
			if r != nil {
				r.Close()
			}
		}
		for _, d := range dets {
			if d != nil {
				d.Close()
			}
		}
	}()
	for i, v := range variants {
		var err error
		if raws[i], err = newRawBench(b.cfg, v.sc, b.det, b.frame); err != nil {
			return fmt.Errorf("sweep %s: %w", v.name, err)
		}
	}
	for i, s := range spins {
		var err error
		if dets[i], err = detect.New(detect.Options{Model: assets.Model(), IntraOpThreads: b.cfg.Threads, IntraOpSpinning: s, Logger: b.log}); err != nil {
			return err
		}
	}
	for round := range b.cfg.Rounds {
		progress("ort sweep round %d/%d: raw and pipeline, spinning on and off", round+1, b.cfg.Rounds)
		for i, r := range raws {
			tr, err := r.Measure()
			if err != nil {
				return fmt.Errorf("sweep %s: %w", variants[i].name, err)
			}
			rawRuns[i] = append(rawRuns[i], tr)
			progress("  raw %s: %.2f fps", variants[i].name, tr.FPS())
		}
		for i, d := range dets {
			tr, err := b.throughputWith(ctx, runOptions{det: d})
			if err != nil {
				return err
			}
			pipeRuns[i] = append(pipeRuns[i], tr)
			progress("  pipeline spinning %s: %.2f fps", spins[i], tr.FPS())
		}
	}
	return nil
}

// sweepNice (-nice-sweep) measures raw inference and the pipeline with its
// worker threads (video decoding, letterbox, output decoding, tracking,
// sinks) at lower priorities, and OpenCV at its default threads (cv0) or
// one (cv1), interleaved in -rounds rounds, to choose pipeline.worker_nice
// and pipeline.opencv_threads by measurement.
func (b *bench) sweepNice(ctx context.Context, rep *report) error {
	variants := []struct {
		name      string
		nice      int
		cvThreads int
	}{{"nice0_cv0", 0, 0}, {"nice0_cv1", 0, 1}, {"nice10_cv0", 10, 0}, {"nice19_cv0", 19, 0}}
	var raws []timedRun
	runs := make([][]throughputRun, len(variants))
	ratios := make([][]float64, len(variants))
	for round := range b.cfg.Rounds {
		before, err := b.raw.Measure()
		if err != nil {
			return err
		}
		raws = append(raws, before)
		progress("nice sweep round %d/%d: raw %.2f fps", round+1, b.cfg.Rounds, before.FPS())
		// Each round starts with another variant: the run right after raw
		// inference measured slower, whatever it ran.
		for k := range variants {
			i := (k + round) % len(variants)
			v := variants[i]
			tr, err := b.throughputWith(ctx, runOptions{nice: &v.nice, cvThreads: &v.cvThreads})
			if err != nil {
				return err
			}
			runs[i] = append(runs[i], tr)
			progress("  pipeline %s: %.2f fps", v.name, tr.FPS())
		}
		after, err := b.raw.Measure()
		if err != nil {
			return err
		}
		raws = append(raws, after)
		around := (before.FPS() + after.FPS()) / 2
		for i := range variants {
			ratios[i] = append(ratios[i], runs[i][round].FPS()/around)
		}
	}
	raw := mean(raws, timedRun.FPS)
	rep.Add("nice_sweep_raw_fps", "%.2f", raw)
	var rawCalls []time.Duration
	for _, r := range raws {
		rawCalls = append(rawCalls, r.Calls...)
	}
	rep.Add("nice_sweep_raw_steady_ms", "%.2f", ms(percentile(rawCalls, 50)))
	for i, v := range variants {
		rep.Add("nice_sweep_"+v.name+"_fps", "%.2f", mean(runs[i], throughputRun.FPS))
		rep.Add("nice_sweep_"+v.name+"_vs_raw", "%.3f", mean(runs[i], throughputRun.FPS)/raw)
		rep.Add("nice_sweep_"+v.name+"_vs_raw_median", "%.3f", median(ratios[i]))
		rep.Add("nice_sweep_"+v.name+"_cpu_ms", "%.1f", mean(runs[i], throughputRun.CPUMS))
		var gaps []time.Duration
		for _, r := range runs[i] {
			gaps = append(gaps, r.intervals()...)
		}
		rep.Add("nice_sweep_"+v.name+"_steady_ms", "%.2f", ms(percentile(gaps, 50)))
		rep.Add("nice_sweep_"+v.name+"_vs_raw_steady", "%.3f", float64(percentile(rawCalls, 50))/float64(percentile(gaps, 50)))
	}
	return nil
}
