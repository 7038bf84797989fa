package model

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{
		"100Mbit": 100e6, "1Gbit/s": 1e9, "10mbps": 10e6, "100M": 100e6, "12.5MB/s": 100e6, "2.5 kbit": 2500, "1000": 1000,
	} {
		got, err := ParseRate(in)
		if err != nil || math.Abs(got-want) > 1e-6*want {
			t.Errorf("ParseRate(%q) = %g, %v; want %g", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "fast", "-10Mbit", "0", "10 Tbit", "Mbit"} {
		if _, err := ParseRate(bad); err == nil || !strings.Contains(err.Error(), "such as 100Mbit") {
			t.Errorf("ParseRate(%q): %v, want an error with an example", bad, err)
		}
	}
}

// A made-up profile whose predictions can be worked out by hand.
func planReport() *CutReport {
	return &CutReport{ModelMS: 100, Cuts: []Cut{
		{After: "early", Tensors: []CutTensor{{Elements: 400_000}}, HeadMS: 20, TailMS: 85},
		{After: "late", Tensors: []CutTensor{{Elements: 100_000}, {Elements: 50_000}}, HeadMS: 70, TailMS: 35},
		{After: "unprofiled", Tensors: []CutTensor{{Elements: 10}}},
	}}
}

func TestPlanPredictions(t *testing.T) {
	in := PlanInput{Local: planReport(), Speedup: 5, Link: Link{BitsPerSecond: 100e6, RTT: 2 * time.Millisecond},
		LetterboxMS: 2, JPEGEncodeMS: 3, JPEGDecodeMS: 4, JPEGBytes: 100_000, QuantizeNSPerValue: 1}
	cs, err := Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Candidate{}
	for _, c := range cs {
		byName[c.Name] = c
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %g, want %g", what, got, want)
		}
	}
	if len(cs) != 4 || byName["unprofiled"].Name != "" {
		t.Fatalf("candidates %+v: want local, jpeg, early, late", cs)
	}
	near("local latency", byName["local"].LatencyMS, 102)
	near("local camera", byName["local"].CameraMS, 102)
	// jpeg: 3 + (100200 B × 8 / 100 Mbit/s = 8.016) + 2 + (4 + 2) / 5 + 100 / 5
	near("jpeg latency", byName["jpeg"].LatencyMS, 3+8.016+2+1.2+20)
	near("jpeg camera", byName["jpeg"].CameraMS, 3)
	// early, uint8: 400200 B; camera 2 + 20 + 0.4; then 32.016 ms on the wire, 2 ms RTT, 0.4/5, 85/5
	e := byName["early"]
	near("early camera", e.CameraMS, 22.4)
	near("early latency", e.LatencyMS, 22.4+32.016+2+0.08+17)
	if e.Bytes != 400_200 || e.Tensors != 1 {
		t.Errorf("early: %+v", e)
	}
	near("early fps", e.FPS, 1000/e.LatencyMS)

	for goal, want := range map[string]string{"latency": "jpeg", "camera_cpu": "jpeg", "bytes": "jpeg"} {
		if c, err := Pick(cs, goal); err != nil || c.Name != want {
			t.Errorf("Pick(%s) = %s, %v; want %s", goal, c.Name, err, want)
		}
	}
	// A slow link: the late cut sends the least after the JPEG, and a
	// tiny JPEG budget makes it the bytes choice; all local wins latency.
	in.Link.BitsPerSecond, in.JPEGBytes = 1e6, 1_000_000
	cs, _ = Plan(in)
	for goal, want := range map[string]string{"latency": "local", "bytes": "late", "camera_cpu": "jpeg"} {
		if c, _ := Pick(cs, goal); c.Name != want {
			t.Errorf("slow link: Pick(%s) = %s; want %s", goal, c.Name, want)
		}
	}
	if _, err := Pick(cs, "energy"); err == nil || !strings.Contains(err.Error(), "latency, camera_cpu, bytes") {
		t.Errorf("unknown goal: %v", err)
	}
	// A remote profile replaces the speed-up guess, cut by cut.
	remote := planReport()
	remote.ModelMS, remote.Cuts[0].TailMS = 10, 9
	in.Remote = remote
	cs, _ = Plan(in)
	for _, c := range cs {
		if c.Name == "early" {
			near("early latency with a remote profile", c.LatencyMS, 22.4+in.Link.transferMS(400_200)+2+0.08+9)
		}
	}
	if _, err := Plan(PlanInput{Local: &CutReport{}, Link: in.Link}); err == nil || !strings.Contains(err.Error(), "--profile") {
		t.Errorf("unprofiled: %v", err)
	}
}
