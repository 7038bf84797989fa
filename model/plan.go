package model

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Link is a network link between the camera's node and the server, as the
// planner models it: a transfer takes bytes over the rate, plus one round
// trip a request.
type Link struct {
	BitsPerSecond float64
	RTT           time.Duration
}

// ParseRate reads a link rate: a number and a unit, in bits a second
// ("100Mbit", "1Gbit/s", "100mbps", "100M") or in bytes ("12.5MB/s").
func ParseRate(s string) (float64, error) {
	m := rateRe.FindStringSubmatch(s)
	v := 0.0
	if m != nil {
		v, _ = strconv.ParseFloat(m[1], 64)
	}
	if v <= 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("link rate %q: write a positive number and a unit, such as 100Mbit, 1Gbit or 12.5MB/s", s)
	}
	v *= map[string]float64{"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[strings.ToLower(m[2])]
	if strings.HasPrefix(m[3], "B") {
		v *= 8
	}
	return v, nil
}

var rateRe = regexp.MustCompile(`^\s*([0-9]*\.?[0-9]+)\s*([kKmMgG]?)(bit/s|bit|bps|b/s|b|B/s|Bps|B|)\s*$`)

// transferMS is how long bytes take over the link, in milliseconds.
func (l Link) transferMS(bytes int) float64 {
	return float64(bytes) * 8 / l.BitsPerSecond * 1000
}

// PlanInput is what the planner predicts from: the model's cuts profiled
// on the camera's node (Local, with CutReport.Profile) and on the server
// (Remote; nil: the server is Speedup times as fast as this node), the
// link, and the costs of the two ways of sending a frame measured here.
type PlanInput struct {
	Local   *CutReport
	Remote  *CutReport
	Speedup float64 // with Remote nil; 1 when 0
	Link    Link
	// Bytes a value of the cut tensors takes on the wire: 1 (uint8), 2
	// (float16) or 4 (float32); 1 when 0.
	ValueBytes int
	// The camera node's per-frame costs, ms: letterboxing a frame
	// (every candidate but JPEG offload does it here), encoding a frame as
	// JPEG, and JPEGBytes the JPEG's size; QuantizeNSPerValue converts a
	// cut tensor to ValueBytes (the server's dequantization is taken as
	// the same).
	LetterboxMS, JPEGEncodeMS, JPEGDecodeMS float64
	JPEGBytes                               int
	QuantizeNSPerValue                      float64
}

// Candidate is one way to run the model and what the planner predicts for
// it, per frame.
type Candidate struct {
	Name      string  `json:"name"`          // "local", "jpeg", or the cut's After
	Tensors   int     `json:"tensors"`       // tensors crossing (cuts)
	CameraMS  float64 `json:"camera_cpu_ms"` // the camera node's work
	Bytes     int     `json:"bytes"`         // on the wire, one way
	LatencyMS float64 `json:"latency_ms"`    // frame to detections, one request alone
	// FPS with one request in flight, as vigil's remote detector sends
	// them: 1000 / LatencyMS.
	FPS float64 `json:"fps"`
}

// Goals the planner picks for.
var Goals = []string{"latency", "camera_cpu", "bytes"}

// wireOverhead is a request's bytes beside the tensor data: the header,
// names and shapes, about this much for YOLOv8n's cuts (infer's wire
// format).
const wireOverhead = 200

// Plan predicts every candidate: all local, the whole frame sent as JPEG,
// and each profiled cut. It needs Local profiled.
func Plan(in PlanInput) ([]Candidate, error) {
	if in.Local == nil || in.Local.ModelMS == 0 {
		return nil, errors.New("plan: the model's cuts must be profiled on this node (vigil model cuts --profile)")
	}
	if in.Link.BitsPerSecond <= 0 {
		return nil, errors.New("plan: the link needs a rate (--link 100Mbit)")
	}
	speed := in.Speedup
	if speed <= 0 {
		speed = 1
	}
	vb := in.ValueBytes
	if vb == 0 {
		vb = 1
	}
	remote := map[string]Cut{}
	remoteModel := in.Local.ModelMS / speed
	if in.Remote != nil {
		if in.Remote.ModelMS == 0 {
			return nil, errors.New("plan: the remote profile has no timings: write it with `vigil model cuts MODEL --profile --json` on the server")
		}
		remoteModel = in.Remote.ModelMS
		for _, c := range in.Remote.Cuts {
			remote[c.After] = c
		}
	}
	rtt := float64(in.Link.RTT.Microseconds()) / 1000
	out := []Candidate{{Name: "local", CameraMS: in.LetterboxMS + in.Local.ModelMS, LatencyMS: in.LetterboxMS + in.Local.ModelMS}}
	jpegLat := in.JPEGEncodeMS + in.Link.transferMS(in.JPEGBytes+wireOverhead) + rtt + in.JPEGDecodeMS/speed + in.LetterboxMS/speed + remoteModel
	out = append(out, Candidate{Name: "jpeg", CameraMS: in.JPEGEncodeMS, Bytes: in.JPEGBytes + wireOverhead, LatencyMS: jpegLat})
	for _, c := range in.Local.Cuts {
		if c.HeadMS == 0 {
			continue // not profiled
		}
		tail := c.TailMS / speed
		if in.Remote != nil {
			rc, ok := remote[c.After]
			if !ok || rc.TailMS == 0 {
				continue // not profiled there
			}
			tail = rc.TailMS
		}
		values := 0
		for _, t := range c.Tensors {
			values += int(t.Elements)
		}
		quant := float64(values) * in.QuantizeNSPerValue / 1e6
		bytes := values*vb + wireOverhead
		cam := in.LetterboxMS + c.HeadMS + quant
		lat := cam + in.Link.transferMS(bytes) + rtt + quant/speed + tail
		out = append(out, Candidate{Name: c.After, Tensors: len(c.Tensors), CameraMS: cam, Bytes: bytes, LatencyMS: lat})
	}
	for i := range out {
		out[i].FPS = 1000 / out[i].LatencyMS
	}
	return out, nil
}

// Pick is the candidate best for goal: the lowest latency, camera CPU or
// bytes (ties: the lower latency). "local" is never picked for bytes or
// camera_cpu unless nothing else is there: it sends nothing because it
// offloads nothing.
func Pick(cs []Candidate, goal string) (Candidate, error) {
	key := map[string]func(Candidate) float64{
		"latency":    func(c Candidate) float64 { return c.LatencyMS },
		"camera_cpu": func(c Candidate) float64 { return c.CameraMS },
		"bytes":      func(c Candidate) float64 { return float64(c.Bytes) },
	}[goal]
	if key == nil {
		return Candidate{}, fmt.Errorf("goal %q: use %s", goal, strings.Join(Goals, ", "))
	}
	pool := cs
	if goal != "latency" {
		pool = slices.DeleteFunc(slices.Clone(cs), func(c Candidate) bool { return c.Name == "local" })
	}
	if len(pool) == 0 {
		return Candidate{}, errors.New("plan: no candidate")
	}
	best := pool[0]
	for _, c := range pool[1:] {
		if k, b := key(c), key(best); k < b || k == b && c.LatencyMS < best.LatencyMS {
			best = c
		}
	}
	return best, nil
}
