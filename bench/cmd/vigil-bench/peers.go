package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/bench/peers/gocvdnn"
	"github.com/vigil-vision/vigil/bench/peers/opencvonnx"
	"github.com/vigil-vision/vigil/internal/cvthreads"
	"gocv.io/x/gocv"
)

// maxPeerDiff is how far an OpenCV peer's raw output may be from
// onnxruntime's on the same input, relative to the largest output value
// (box coordinates up to 640 px): different convolution kernels round
// differently, a wrong rewrite is off by whole units.
const maxPeerDiff = 1e-4

// peers are the OpenCV peers: gocv with cv::dnn in this process, and
// Python's cv2.dnn in a child process, both on the rewritten model.
type peers struct {
	dir        string // temporary: the rewritten model, the check tensors
	model      string
	input      string // the raw check input, float32
	output     string // onnxruntime's raw output for it, float32
	outputMax  float64
	gocv       *gocvdnn.Peer
	gocvDiff   float64
	threads    int // what OpenCV reports after setNumThreads
	rewrites   int
	stockLoads string // the Python peer's report on the stock model
}

// openPeers rewrites the model for OpenCV 4.6, checks that cv::dnn on it
// gives what onnxruntime gives on the stock model for the same letterboxed
// frame, and keeps the gocv peer open for the rounds.
func (b *bench) openPeers(rep *report) error {
	dir, err := os.MkdirTemp("", "vigil-bench-peers-")
	if err != nil {
		return err
	}
	b.peers = &peers{dir: dir, model: filepath.Join(dir, "yolov8n-opencv.onnx")}
	pe := b.peers
	changes, err := opencvonnx.RewriteFile(assets.Model(), pe.model)
	if err != nil {
		return fmt.Errorf("peers: rewrite for OpenCV: %w", err)
	}
	pe.rewrites = len(changes)
	for _, c := range changes {
		progress("peers: rewrite %s: %s", c.Node, c.What)
	}
	pe.threads = cvthreads.Set(b.cfg.Threads)
	defer cvthreads.Set(b.cfg.OpenCVThreads)

	// The reference: onnxruntime on the stock model, vigil's letterbox of
	// the first frame (the raw bench's input).
	if err := b.raw.session.Run(); err != nil {
		return fmt.Errorf("peers: onnxruntime reference: %w", err)
	}
	in, want := b.raw.input.GetData(), b.raw.output.GetData()
	for _, v := range want {
		pe.outputMax = max(pe.outputMax, math.Abs(float64(v)))
	}
	pe.input, pe.output = filepath.Join(dir, "input.f32"), filepath.Join(dir, "output.f32")
	if err := writeFloats(pe.input, in); err != nil {
		return err
	}
	if err := writeFloats(pe.output, want); err != nil {
		return err
	}

	w, _ := b.det.InputSize()
	if pe.gocv, err = gocvdnn.New(pe.model, w); err != nil {
		return fmt.Errorf("peers: %w", err)
	}
	got, err := pe.gocv.Forward(in)
	if err != nil {
		return fmt.Errorf("peers: gocv forward: %w", err)
	}
	if pe.gocvDiff, err = maxAbsDiff(got, want); err != nil {
		return fmt.Errorf("peers: gocv: %w", err)
	}
	if err := pe.checkDiff("gocv cv::dnn", pe.gocvDiff); err != nil {
		return err
	}
	rep.Add("opencv_rewrites", "%d", pe.rewrites)
	rep.Add("opencv_threads", "%d", pe.threads)
	rep.Add("gocv_dnn_max_abs_diff", "%.3g", pe.gocvDiff)
	rep.Add("gocv_dnn_max_rel_diff", "%.3g", pe.gocvDiff/pe.outputMax)
	return nil
}

func (pe *peers) checkDiff(who string, diff float64) error {
	if diff > maxPeerDiff*pe.outputMax {
		return fmt.Errorf("peers: %s on the rewritten model is %.3g away from onnxruntime on the stock model (largest value %.3g): the rewrite is wrong, or OpenCV computes another model", who, diff, pe.outputMax)
	}
	return nil
}

func (pe *peers) Close() {
	if pe.gocv != nil {
		pe.gocv.Close()
	}
	os.RemoveAll(pe.dir)
}

// measureGocv runs the gocv peer on the video's first frames, as the
// pipeline run does: decode, letterbox, forward, decode the output, NMS.
// Timing starts when the frame after the warm-up is done.
func (b *bench) measureGocv() (timedRun, error) {
	cvthreads.Set(b.cfg.Threads) // the peer's OpenCV runs the model too
	defer cvthreads.Set(b.cfg.OpenCVThreads)
	vc, err := gocv.VideoCaptureFile(b.cfg.Video)
	if err != nil {
		return timedRun{}, fmt.Errorf("gocv peer: open %s: %w", b.cfg.Video, err)
	}
	defer vc.Close()
	img := gocv.NewMat()
	defer img.Close()
	var start time.Time
	var cpu time.Duration
	for i := range b.cfg.Frames {
		if !vc.Read(&img) || img.Empty() {
			return timedRun{}, fmt.Errorf("gocv peer: %s ended after %d frames", b.cfg.Video, i)
		}
		if _, err := b.peers.gocv.Detect(img); err != nil {
			return timedRun{}, fmt.Errorf("gocv peer: %w", err)
		}
		if i == b.cfg.Warmup {
			start, cpu = time.Now(), results.CPUTime()
		}
	}
	return timedRun{Runs: b.cfg.Frames - b.cfg.Warmup - 1, Elapsed: time.Since(start), CPU: results.CPUTime() - cpu}, nil
}

// pythonRun is one run of bench/peers/cv2dnn.py, its "name: value" lines.
type pythonRun map[string]string

func (p pythonRun) float(name string) float64 {
	v, _ := strconv.ParseFloat(p[name], 64)
	return v
}

// FPS is frames per second after the warm-up.
func (p pythonRun) FPS() float64 { return p.float("fps") }

// CPUMS is the Python process's CPU time per frame.
func (p pythonRun) CPUMS() float64 { return p.float("cpu_ms_per_frame") }

// measurePython runs the Python peer on the same frames, with the same
// checks and warm-up.
func (b *bench) measurePython() (pythonRun, error) {
	pe := b.peers
	script := filepath.Join("bench", "peers", "cv2dnn.py")
	cmd := exec.Command(b.cfg.Python, script,
		"--model", pe.model, "--stock", assets.Model(), "--video", b.cfg.Video,
		"--frames", strconv.Itoa(b.cfg.Frames), "--warmup", strconv.Itoa(b.cfg.Warmup),
		"--threads", strconv.Itoa(b.cfg.Threads),
		"--check-input", pe.input, "--check-output", pe.output)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("python peer (%s %s): %w: %s; it needs Debian's python3-opencv (make deps)", b.cfg.Python, script, err, lastLine(stderr.String()))
	}
	r := pythonRun{}
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ": "); ok {
			r[k] = v
		}
	}
	if r.FPS() <= 0 {
		return nil, fmt.Errorf("python peer: no fps in its output:\n%s", out)
	}
	if err := pe.checkDiff("Python cv2.dnn", r.float("max_abs_diff")); err != nil {
		return nil, err
	}
	if n, _ := strconv.Atoi(r["threads"]); n != b.cfg.Threads {
		return nil, fmt.Errorf("python peer: OpenCV runs %s threads, want %d", r["threads"], b.cfg.Threads)
	}
	pe.stockLoads = r["stock_model_loads"]
	return r, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func writeFloats(path string, v []float32) error {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return os.WriteFile(path, b, 0o644)
}

func maxAbsDiff(a, b []float32) (float64, error) {
	if len(a) != len(b) {
		return 0, fmt.Errorf("%d output values, onnxruntime gives %d", len(a), len(b))
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m, nil
}
