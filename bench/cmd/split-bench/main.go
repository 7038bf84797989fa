// Command split-bench measures split inference over NATS (issue 17 part
// 4): for each way to run the default model (YOLOv8n) between a camera's
// node and an inference server, what it costs the camera, the server and
// the link, and how late its detections are, at several link rates; and
// whether the planner (`vigil model plan`, model.Plan) picks the way that
// is fastest when measured. The candidates:
//
//   - local: the whole model here (detect.New, Detect).
//   - jpeg: each frame sent whole as a JPEG (quality 90) to a server
//     running the whole model (infer.Remote without a head).
//   - cut3: the model split after /model.3/act/Mul (one tensor,
//     1×64×80×80): the head runs here (detect.NewHead) and its output
//     goes as uint8 to a server running the tail.
//   - cut9: split at the end of the backbone (the outputs of /model.4,
//     /model.6 and /model.9's cv2 activations, three tensors), the same
//     way.
//
// The camera side is this process, which also holds an embedded NATS
// server; each server is a `vigil serve infer` process of its own (built
// once from ./cmd/vigil), both with -threads onnxruntime intra-op threads.
// Frames are -frames of vtest.avi spread over the video, read into memory
// first, each run starting with 3 untimed ones.
//
// The link is shaped on the sending side as a token bucket: with one
// request in flight, as the remote detector sends them, the bucket is
// always full when a request starts, so a request of n bytes takes n×8/rate
// to cross. Each Detect call is followed by a sleep of that long, n being
// the request bytes that call sent (the Remote's Stats().Bytes before and
// after): the frame's latency and the loop's wall time are then what they
// would be had the wait been in front of the send. Replies (a few hundred
// bytes) are not shaped, and nothing is added to the loopback's own round
// trip.
//
// Per candidate and rate:
//
//   - split_<rate>_<candidate>: camera-side CPU ms per frame (this
//     process's user+sys time over the timed frames, getrusage), server
//     CPU ms per frame (utime+stime of its /proc/PID/stat), request bytes
//     per frame, latency p50/p99 (each Detect call, shaping included), fps
//     (frames over the loop's wall time), and the planner's prediction.
//     local does not depend on the link: it is measured once and its row
//     repeated for each rate.
//   - split_<rate>_planner: the planner's pick for latency, its measured
//     p50, and the best measured p50. The planner gets what `vigil model
//     plan` gives it: these two cuts profiled here (CutReport.Profile, 3
//     frames), the letterbox and JPEG costs measured here, the rate, an RTT
//     of 0.1 ms, and a server as fast as this machine (it is this machine).
//   - split_planner_regret: the worst over the rates of the planner's
//     pick's measured p50 over the best measured p50. Goal ≤ 1.10.
//   - split_camera_cpu_ratio: the camera CPU per frame of the cut the
//     planner picks for camera_cpu among the two cuts over local's. Goal
//     ≤ 0.5. The JPEG offload's ratio beside it.
//
// Caveats: both sides and the NATS server share this machine's cores
// (2 here), so the server is no faster than the camera, and a side that
// waits leaves the cores to the other; the NATS server's routing is
// counted as camera CPU; the link is loopback with one request in flight,
// so fps is 1000 over the latency, with no overlap of sending and
// inference.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/bench/internal/vigilbin"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/infer"
	_ "github.com/vigil-vision/vigil/internal/cmalloc/onearena" // the C allocator as vigil runs it
	"github.com/vigil-vision/vigil/model"
	"github.com/vigil-vision/vigil/sinks"
	"gocv.io/x/gocv"
)

// warmup is the untimed frames before each run's timed ones.
const warmup = 3

// rtt is the link's round trip the planner is given: loopback's, about.
const rtt = 100 * time.Microsecond

// jpegQuality is the remote detector's default, which the bench uses.
const jpegQuality = 90

func main() {
	var c config
	flag.IntVar(&c.frames, "frames", 40, "timed frames per candidate and rate, after 3 untimed ones")
	flag.IntVar(&c.threads, "threads", 1, "onnxruntime intra-op threads, on both sides")
	flag.StringVar(&c.out, "results", "bench/results", "folder for split-<date>.txt; empty: write none")
	rates := flag.String("rates", "10Mbit,100Mbit,1000Mbit", "link rates, comma separated (model.ParseRate)")
	flag.Parse()
	var err error
	c.rates, err = parseRates(*rates)
	switch {
	case err != nil:
	case c.frames < 1 || c.threads < 1:
		err = fmt.Errorf("-frames %d, -threads %d: want 1 or more of each", c.frames, c.threads)
	default:
		err = run(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "split-bench:", err)
		os.Exit(1)
	}
}

// config is the command's flags.
type config struct {
	frames  int
	threads int
	out     string
	rates   []rate
}

// rate is a link rate and its name in the results' lines.
type rate struct {
	name string // "10Mbit"
	bps  float64
}

var notName = regexp.MustCompile(`[^A-Za-z0-9]+`)

func parseRates(s string) ([]rate, error) {
	var out []rate
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		bps, err := model.ParseRate(f)
		if err != nil {
			return nil, fmt.Errorf("-rates: %w", err)
		}
		out = append(out, rate{name: notName.ReplaceAllString(f, "_"), bps: bps})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-rates %q: give one or more rates", s)
	}
	return out, nil
}

func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "split-bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// candidate is one way to run the model.
type candidate struct {
	name  string   // local, jpeg, cut3, cut9
	cut   []string // the cut tensors; nil: the whole model
	after string   // the planner's name for it: the cut's last head-side node, or name
}

var candidates = []candidate{
	{name: "local", after: "local"},
	{name: "jpeg", after: "jpeg"},
	{name: "cut3", cut: []string{"/model.3/act/Mul_output_0"}, after: "/model.3/act/Mul"},
	{name: "cut9", cut: []string{"/model.4/cv2/act/Mul_output_0", "/model.6/cv2/act/Mul_output_0", "/model.9/cv2/act/Mul_output_0"},
		after: "/model.9/cv2/act/Mul"},
}

// measured is one candidate at one rate.
type measured struct {
	frames             int
	cameraMS, serverMS float64 // CPU per frame
	bytes              float64 // request bytes per frame
	p50, p99           float64 // latency, ms
	fps                float64
}

// detector is what local and remote detectors share.
type detector interface {
	Detect(img gocv.Mat, dst []detect.Detection) ([]detect.Detection, detect.Timings, error)
}

func run(c config) error {
	modelPath, video := assets.Model(), assets.Media("vtest.avi")
	for _, p := range []string{modelPath, video, assets.Library()} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s: run `make deps`", p)
		}
	}
	if err := detect.InitRuntime(assets.Library()); err != nil {
		return err
	}
	rep := results.New() // the load average from the start
	dir, err := os.MkdirTemp("", "split-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	frames, err := preload(video, warmup+c.frames)
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range frames {
			f.Close()
		}
	}()
	progress("%d frames of %s; the planner's inputs: frame costs, and the two cuts profiled", len(frames), video)
	in := model.PlanInput{Speedup: 1, ValueBytes: infer.Uint8.Size()}
	if err := frameCosts(&in, frames[warmup:]); err != nil {
		return err
	}
	if in.Local, err = profileCuts(modelPath, video, c.threads); err != nil {
		return err
	}

	bin, err := vigilbin.Build("split-bench", dir)
	if err != nil {
		return err
	}
	srv, err := sinks.StartEmbedded(sinks.EmbeddedOptions{Port: -1, MaxPayload: 8 << 20, Logger: zerolog.Nop()})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return fmt.Errorf("NATS %s: %w", srv.ClientURL(), err)
	}
	defer nc.Close()

	got := map[string]map[string]measured{} // candidate → rate → measured
	for _, cand := range candidates {
		got[cand.name] = map[string]measured{}
		if err := measureCandidate(c, cand, modelPath, bin, srv.ClientURL(), nc, dir, frames, got[cand.name]); err != nil {
			return fmt.Errorf("%s: %w", cand.name, err)
		}
	}

	if err := report(rep, c, in, got); err != nil {
		return err
	}
	if c.out == "" {
		return nil
	}
	at := time.Now()
	header := []string{
		"split-bench, " + at.Format(time.RFC3339),
		"command: " + results.CommandLine("go run ./bench/cmd/split-bench"),
		"flags: " + results.Flags(),
		"nproc: " + results.NProc(), "cpu: " + results.CPUInfo("model name"), "go: " + results.GoVersion(),
		"onnxruntime: " + detect.RuntimeVersion(), "opencv: " + gocv.OpenCVVersion(), rep.Load(),
		fmt.Sprintf("both sides on this machine: the camera side (this process, with the embedded NATS server) and one `vigil serve infer --threads %d` process per remote candidate share its %d cores", c.threads, runtime.NumCPU()),
		"link: shaped on the sending side, one request in flight: each Detect is followed by a sleep of its request's bytes × 8 / rate (timed with it); replies not shaped; the loopback's round trip as it is; the planner is given RTT " + rtt.String(),
		fmt.Sprintf("frames: %d of %s spread over the video, in memory; %d untimed before each run", c.frames, filepath.Base(video), warmup),
	}
	p, err := rep.Write(c.out, "split-", at, header)
	if err != nil {
		return err
	}
	progress("results written to %s", p)
	return nil
}

// preload reads n frames spread over the video.
func preload(video string, n int) ([]gocv.Mat, error) {
	var frames []gocv.Mat
	if _, err := (model.Frames{Paths: []string{video}, Max: n}).Each(func(_ string, img gocv.Mat) error {
		frames = append(frames, img.Clone())
		return nil
	}); err != nil {
		for _, f := range frames {
			f.Close()
		}
		return nil, err
	}
	if len(frames) < n {
		for _, f := range frames {
			f.Close()
		}
		return nil, fmt.Errorf("%s: %d frames, want %d", video, len(frames), n)
	}
	return frames, nil
}

// measureCandidate sets a candidate up (its server, its remote detector),
// runs it at every rate (local once) and tears it down.
func measureCandidate(c config, cand candidate, modelPath, bin, natsURL string, nc *nats.Conn, dir string, frames []gocv.Mat, got map[string]measured) error {
	if cand.name == "local" {
		progress("local: the whole model here")
		det, err := detect.New(detect.Options{Model: modelPath, IntraOpThreads: c.threads})
		if err != nil {
			return err
		}
		defer det.Close()
		m, err := timed(det, frames, 0, func() uint64 { return 0 }, nil)
		if err != nil {
			return err
		}
		for _, r := range c.rates {
			got[r.name] = m
		}
		return nil
	}
	serve := modelPath
	o := infer.RemoteOptions{Conn: nc, Subject: "split-bench." + cand.name, Timeout: 30 * time.Second,
		Transport: infer.Uint8, JPEGQuality: jpegQuality}
	if cand.cut != nil {
		headPath, tailPath, err := model.SplitFile(modelPath, cand.cut, filepath.Join(dir, cand.name))
		if err != nil {
			return fmt.Errorf("split at %v: %w", cand.cut, err)
		}
		h, err := detect.NewHead(detect.Options{Model: headPath, IntraOpThreads: c.threads})
		if err != nil {
			return err
		}
		defer h.Close()
		o.Head, serve = h, tailPath
	}
	progress("%s: starting vigil serve infer --model %s", cand.name, serve)
	s, err := startServer(bin, serve, natsURL, o.Subject, c.threads)
	if err != nil {
		return err
	}
	defer s.stop()
	r, err := newRemote(o)
	if err != nil {
		return err
	}
	sent := func() uint64 { return r.Stats().Bytes }
	for _, rt := range c.rates {
		progress("%s at %s", cand.name, rt.name)
		m, err := timed(r, frames, rt.bps, sent, s)
		if err != nil {
			return fmt.Errorf("at %s: %w", rt.name, err)
		}
		got[rt.name] = m
	}
	if st := r.Stats(); st.Failed != 0 || st.Fallback != 0 {
		return fmt.Errorf("remote detector: %d requests failed, %d fell back", st.Failed, st.Fallback)
	}
	return nil
}

// newRemote is infer.NewRemote, retried for up to 10 s while no server
// answers: the server logs that it is ready right after it subscribes,
// without flushing, so NATS may not know of its subscription yet.
func newRemote(o infer.RemoteOptions) (*infer.Remote, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := infer.NewRemote(o)
		if err == nil || !errors.Is(err, infer.ErrNoServer) || time.Now().After(deadline) {
			return r, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// timed runs d on the warm-up frames, then times it on the rest. With bps
// > 0, each call is followed by the transfer time of the request bytes it
// sent (sent's growth) at bps: the link's token bucket, one request in
// flight.
func timed(d detector, frames []gocv.Mat, bps float64, sent func() uint64, s *server) (measured, error) {
	var dets []detect.Detection
	call := func(img gocv.Mat) error {
		before := sent()
		var err error
		if dets, _, err = d.Detect(img, dets[:0]); err != nil {
			return err
		}
		if bps > 0 {
			time.Sleep(time.Duration(float64(sent()-before) * 8 / bps * float64(time.Second)))
		}
		return nil
	}
	for _, f := range frames[:warmup] {
		if err := call(f); err != nil {
			return measured{}, err
		}
	}
	timedFrames := frames[warmup:]
	srv0, err := s.cpu()
	if err != nil {
		return measured{}, err
	}
	cpu0, bytes0, t0 := results.CPUTime(), sent(), time.Now()
	lat := make([]float64, 0, len(timedFrames))
	for _, f := range timedFrames {
		t := time.Now()
		if err := call(f); err != nil {
			return measured{}, err
		}
		lat = append(lat, ms(time.Since(t)))
	}
	wall := time.Since(t0)
	cpu, bytes := results.CPUTime()-cpu0, sent()-bytes0
	srv1, err := s.cpu()
	if err != nil {
		return measured{}, err
	}
	n := float64(len(timedFrames))
	return measured{
		frames:   len(timedFrames),
		cameraMS: ms(cpu) / n, serverMS: ms(srv1-srv0) / n,
		bytes: float64(bytes) / n,
		p50:   results.Percentile(lat, 50), p99: results.Percentile(lat, 99),
		fps: n / wall.Seconds(),
	}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// frameCosts measures what the planner takes from the camera's node, as
// `vigil model plan` does (infer.MeasureSendCosts), on the bench's frames,
// the cut sent as uint8.
func frameCosts(in *model.PlanInput, frames []gocv.Mat) error {
	c, err := infer.MeasureSendCosts(frames, jpegQuality, infer.Uint8)
	if err != nil {
		return err
	}
	in.LetterboxMS, in.JPEGEncodeMS, in.JPEGDecodeMS, in.JPEGBytes, in.QuantizeNSPerValue =
		c.LetterboxMS, c.JPEGEncodeMS, c.JPEGDecodeMS, c.JPEGBytes, c.QuantizeNSPerValue
	return nil
}

func median(x []float64) float64 { return results.Percentile(x, 50) }

// profileCuts is the model's CutReport with the bench's two cuts only,
// each checked to be the cut the bench splits at, profiled on 3 frames as
// `vigil model plan` does.
func profileCuts(modelPath, video string, threads int) (*model.CutReport, error) {
	m, err := model.Load(modelPath)
	if err != nil {
		return nil, err
	}
	r, err := model.Cuts(m)
	if err != nil {
		return nil, fmt.Errorf("cuts of %s: %w", modelPath, err)
	}
	want := map[string][]string{}
	for _, c := range candidates {
		if c.cut != nil {
			want[c.after] = c.cut
		}
	}
	r.Cuts = slices.DeleteFunc(r.Cuts, func(c model.Cut) bool { return want[c.After] == nil })
	if len(r.Cuts) != len(want) {
		return nil, fmt.Errorf("cuts of %s: %d of the %d cuts after %v", modelPath, len(r.Cuts), len(want), keys(want))
	}
	for _, c := range r.Cuts {
		if got := c.Names(); !sameSet(got, want[c.After]) {
			return nil, fmt.Errorf("the cut after %s sends %v, the bench splits at %v", c.After, got, want[c.After])
		}
	}
	if err := r.Profile(m, model.ProfileOptions{Frames: model.Frames{Paths: []string{video}, Max: 3}, Threads: threads}); err != nil {
		return nil, fmt.Errorf("profile %s: %w", modelPath, err)
	}
	return r, nil
}

func keys(m map[string][]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// report writes the lines: the planner's inputs, each candidate at each
// rate beside its prediction, the planner's picks and how they fared.
func report(rep *results.Report, c config, in model.PlanInput, got map[string]map[string]measured) error {
	byAfter := map[string]string{}
	for _, cand := range candidates {
		byAfter[cand.after] = cand.name
	}
	rep.Add("split_frame_costs", "letterbox %.2f ms, JPEG (quality %d) %d bytes encoded in %.2f ms and decoded in %.2f ms, uint8 %.2f ns/value (medians, this machine; the planner's inputs)",
		in.LetterboxMS, jpegQuality, in.JPEGBytes, in.JPEGEncodeMS, in.JPEGDecodeMS, in.QuantizeNSPerValue)
	prof := []string{fmt.Sprintf("whole model %.1f ms", in.Local.ModelMS)}
	for _, cut := range in.Local.Cuts {
		prof = append(prof, fmt.Sprintf("%s head %.1f ms, tail %.1f ms, %d values", byAfter[cut.After], cut.HeadMS, cut.TailMS, cut.Elements))
	}
	rep.Add("split_profile", "%s (CutReport.Profile, medians over %d frames, %d threads)", strings.Join(prof, "; "), in.Local.ProfileFrames, c.threads)

	regret, regretAt := 0.0, ""
	var regrets []string
	var cpuPick string
	for _, r := range c.rates {
		in.Link = model.Link{BitsPerSecond: r.bps, RTT: rtt}
		cands, err := model.Plan(in)
		if err != nil {
			return err
		}
		pred := map[string]model.Candidate{}
		for _, p := range cands {
			pred[byAfter[p.Name]] = p
		}
		best, bestName := 0.0, ""
		for _, cand := range candidates {
			m := got[cand.name][r.name]
			p := pred[cand.name]
			rep.Add("split_"+r.name+"_"+cand.name, "camera %.1f ms CPU/frame, server %.1f ms CPU/frame, %.0f bytes/frame, latency p50 %.1f ms, p99 %.1f ms, %.2f fps; predicted latency %.1f ms, camera %.1f ms",
				m.cameraMS, m.serverMS, m.bytes, m.p50, m.p99, m.fps, p.LatencyMS, p.CameraMS)
			if bestName == "" || m.p50 < best {
				best, bestName = m.p50, cand.name
			}
		}
		pick, err := model.Pick(cands, "latency")
		if err != nil {
			return err
		}
		name := byAfter[pick.Name]
		picked := got[name][r.name].p50
		rep.Add("split_"+r.name+"_planner", "latency pick %s (predicted %.1f ms), measured p50 %.1f ms; best measured p50 %.1f ms (%s)",
			name, pick.LatencyMS, picked, best, bestName)
		ratio := picked / best
		regrets = append(regrets, fmt.Sprintf("%s %.3f", r.name, ratio))
		if ratio > regret || regretAt == "" {
			regret, regretAt = ratio, r.name
		}
		if cpuPick == "" {
			cuts := slices.DeleteFunc(slices.Clone(cands), func(p model.Candidate) bool { return p.Name == "local" || p.Name == "jpeg" })
			p, err := model.Pick(cuts, "camera_cpu")
			if err != nil {
				return err
			}
			cpuPick = byAfter[p.Name]
		}
	}
	rep.Add("split_planner_regret", "%.3f (at %s; measured p50 of the planner's latency pick over the best measured p50: %s; goal ≤ 1.10)",
		regret, regretAt, strings.Join(regrets, ", "))
	local := meanCamera(got["local"])
	cut, jpeg := meanCamera(got[cpuPick]), meanCamera(got["jpeg"])
	rep.Add("split_camera_cpu_ratio", "%.3f (%s, the planner's camera_cpu pick among the cuts: %.1f ms CPU/frame against local's %.1f, mean over the rates; goal ≤ 0.5); jpeg %.3f (%.1f ms)",
		cut/local, cpuPick, cut, local, jpeg/local, jpeg)
	return nil
}

// meanCamera is a candidate's camera CPU per frame over all its rates.
func meanCamera(byRate map[string]measured) float64 {
	var sum float64
	n := 0
	for _, m := range byRate {
		sum += m.cameraMS * float64(m.frames)
		n += m.frames
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
