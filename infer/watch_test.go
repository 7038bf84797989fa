package infer

import (
	"bytes"
	"encoding/json"
	"image"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/internal/natstest"
	"github.com/vigil-vision/vigil/model"
	"gocv.io/x/gocv"
)

// profiles are testdata's made-up profiles of YOLOv8n's cuts: a camera
// box (the whole model 180 ms) and a server about 3.7 times as fast.
func profiles(t *testing.T) (here, server *model.CutReport) {
	t.Helper()
	read := func(name string) *model.CutReport {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		r := &model.CutReport{}
		if err := json.Unmarshal(b, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	return read("profile-camera.json"), read("profile-server.json")
}

var cutSpec = []TensorSpec{{Name: singleCut[0], Shape: []int64{1, 64, 80, 80}}}

// warnings are the log lines of level warn in logs.
func warnings(logs *bytes.Buffer) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, `"level":"warn"`) {
			out = append(out, l)
		}
	}
	return out
}

// The configured cut stays the choice while the link is fast; a slow link
// makes running it all here faster, and that is reported once, however
// many checks find it; within the margin nothing is reported; the cut
// back in front is said once too. Goals that the link does not move are
// not moved by it.
func TestWatchDecision(t *testing.T) {
	here, server := profiles(t)
	var logs bytes.Buffer
	w, err := newWatch(WatchOptions{Goal: "latency", Local: here, Server: server, Margin: 0.1, Logger: zerolog.New(&logs)}, cutSpec, Uint8, 90)
	if err != nil {
		t.Fatal(err)
	}
	// A 4K frame's costs at quality 90, about as measured here.
	costs := SendCosts{LetterboxMS: 3, JPEGEncodeMS: 60, JPEGDecodeMS: 50, JPEGBytes: 635_000, QuantizeNSPerValue: 1}
	link := func(mbit float64) LinkEstimate {
		return LinkEstimate{RTT: time.Millisecond, BitsPerSecond: mbit * 1e6, Requests: 20, Probes: 3}
	}
	now := time.Now()
	check := func(mbit float64) PlanStatus { return w.report(w.judge(link(mbit), costs, true, now)) }

	if st := check(1000); st.Mismatch || st.Choice != "/model.3/act/Mul" || st.Configured != "/model.3/act/Mul" || st.Waiting != "" {
		t.Fatalf("1 Gbit/s: %+v; want the configured cut chosen", st)
	}
	// 10 Mbit/s: 0.41 MB take 328 ms; all here takes 183.
	st := check(10)
	if !st.Mismatch || st.Choice != "local" || st.ConfiguredValue <= st.ChoiceValue*1.1 || st.MbitPerSecond != 10 {
		t.Fatalf("10 Mbit/s: %+v; want local chosen and reported", st)
	}
	if !strings.Contains(st.Fix, "model.remote.subject empty") {
		t.Errorf("fix %q: want how to run it here", st.Fix)
	}
	check(9)
	if got := warnings(&logs); len(got) != 1 {
		t.Fatalf("%d warnings over two slow checks, want 1:\n%s", len(got), logs.String())
	} else {
		for _, want := range []string{`"configured":"/model.3/act/Mul"`, `"choice":"local"`, `"link_mbit_per_s":10`, `"rtt_ms":1`, `"fix":"run the model on this node`, `"goal":"latency"`} {
			if !strings.Contains(got[0], want) {
				t.Errorf("warning %s: no %s", got[0], want)
			}
		}
	}
	// A check that cannot plan (no link measured) keeps the verdict.
	if st := w.report(w.judge(LinkEstimate{}, costs, true, now)); !st.Mismatch || st.Waiting == "" {
		t.Errorf("no link: %+v; want the last verdict kept, waiting", st)
	}
	// Fast again: said once, at info.
	logs.Reset()
	if st := check(1000); st.Mismatch {
		t.Errorf("fast again: %+v", st)
	}
	if !strings.Contains(logs.String(), "is the planner's choice for latency again") || len(warnings(&logs)) != 0 {
		t.Errorf("fast again, the log: %s", logs.String())
	}
	// 28 Mbit/s: the cut (193 ms) is slower than all here (183), within
	// the margin of 10%: not reported.
	logs.Reset()
	if st := check(28); st.Mismatch || st.Choice != "local" {
		t.Errorf("28 Mbit/s: %+v; want local chosen, within the margin", st)
	}
	if logs.Len() != 0 {
		t.Errorf("within the margin, logged: %s", logs.String())
	}

	// For camera_cpu the cut is the choice over any link.
	wc, err := newWatch(WatchOptions{Goal: "camera_cpu", Local: here, Server: server, Logger: zerolog.New(&logs)}, cutSpec, Uint8, 90)
	if err != nil {
		t.Fatal(err)
	}
	for _, mbit := range []float64{1, 1000} {
		if st := wc.report(wc.judge(link(mbit), costs, true, now)); st.Mismatch || st.Choice != "/model.3/act/Mul" {
			t.Errorf("camera_cpu at %g Mbit/s: %+v", mbit, st)
		}
	}
	// Whole frames as JPEG: a slow link makes the cut, sending less, the
	// choice for bytes only when the JPEG is the larger.
	wj, err := newWatch(WatchOptions{Goal: "bytes", Local: here, Server: server, Logger: zerolog.New(&logs)}, nil, Uint8, 90)
	if err != nil {
		t.Fatal(err)
	}
	if st := wj.report(wj.judge(link(10), costs, true, now)); !st.Mismatch || st.Choice != "/model.3/act/Mul" || st.Configured != "jpeg" ||
		!strings.Contains(st.Fix, "--at /model.3/act/Mul_output_0 ") {
		t.Errorf("bytes, a 0.64 MB JPEG: %+v; want the single-tensor cut chosen", st)
	}
	costs.JPEGBytes = 90_000
	if st := wj.report(wj.judge(link(10), costs, true, now)); st.Mismatch || st.Choice != "jpeg" {
		t.Errorf("bytes, a 90 kB JPEG: %+v; want the JPEG kept", st)
	}
}

// A profile that cannot plan for the configured way is refused, saying
// which profile to write and how.
func TestWatchProfiles(t *testing.T) {
	here, server := profiles(t)
	unprofiled := *here
	unprofiled.Cuts = []model.Cut{here.Cuts[0]}
	unprofiled.Cuts[0].HeadMS = 0
	noTail := *server
	noTail.Cuts = noTail.Cuts[1:]
	for _, tc := range []struct {
		name         string
		goal         string
		here, server *model.CutReport
		cut          []TensorSpec
		want         string
	}{
		{"goal", "fps", here, server, cutSpec, `goal "fps": use latency, camera_cpu, bytes`},
		{"no timings here", "latency", &model.CutReport{Cuts: here.Cuts}, server, cutSpec, "the profile of this node has no timings"},
		{"no timings there", "latency", here, &model.CutReport{}, nil, "the server's profile has no timings"},
		{"another cut", "latency", here, server, []TensorSpec{{Name: "/model.2/cv2/act/Mul_output_0"}}, "the profile has no cut at /model.2/cv2/act/Mul_output_0: profile the whole model"},
		{"unprofiled cut", "latency", &unprofiled, server, cutSpec, "the cut after /model.3/act/Mul unprofiled"},
		{"no tail there", "latency", here, &noTail, cutSpec, "the server's profile has no timing of the tail after /model.3/act/Mul"},
	} {
		_, err := newWatch(WatchOptions{Goal: tc.goal, Local: tc.here, Server: tc.server}, tc.cut, Uint8, 90)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.name, err, tc.want)
		}
	}
}

// A head here and its tail on a real NATS server, the frames 4K: over the
// loopback the configured single-tensor cut is the planner's choice for
// latency, measured live, and nothing is reported; through a link shaped
// to 10 Mbit/s the detector measures the slower link, the planner picks
// running all here, and one warning says so.
func TestWatchShapedLink(t *testing.T) {
	requireRuntime(t)
	url := natsServer(t)
	hp, tp := split(t, singleCut, nil)
	const subject = "vigil.infer.plan"
	serve(t, conn(t, url), subject, ServerOptions{Tail: newTail(t, tp)})
	head := newHead(t, hp)
	here, server := profiles(t)
	var big []gocv.Mat
	for _, img := range frames(t, 3) {
		m := gocv.NewMat()
		gocv.Resize(img, &m, image.Pt(3840, 2160), 0, 0, gocv.InterpolationLinear)
		big = append(big, m)
	}
	defer func() {
		for _, m := range big {
			m.Close()
		}
	}()
	for _, tc := range []struct {
		link     string
		url      string
		mismatch bool
		choice   string
	}{
		{"loopback", url, false, "/model.3/act/Mul"},
		{"10 Mbit/s", natstest.Shaped(t, url, 10e6), true, "local"},
	} {
		r, err := NewRemote(RemoteOptions{Conn: conn(t, tc.url), Subject: subject, Head: head, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var logs bytes.Buffer
		w, err := NewWatch(WatchOptions{Remote: r, Goal: "latency", Local: here, Server: server, Margin: 0.1, Logger: zerolog.New(&logs)})
		if err != nil {
			t.Fatal(err)
		}
		if st := w.Check(); st.Waiting == "" {
			t.Fatalf("%s: a check before any frame planned: %+v", tc.link, st)
		}
		var st PlanStatus
		for i := range 6 {
			if _, _, err := r.Detect(big[i%len(big)], nil); err != nil {
				t.Fatalf("%s: frame %d: %v", tc.link, i, err)
			}
			if i >= 2 {
				st = w.Check()
			}
		}
		l := r.Link()
		t.Logf("%s: measured RTT %v, %.1f Mbit/s over %d requests and %d probes; %+v", tc.link, l.RTT, l.BitsPerSecond/1e6, l.Requests, l.Probes, st)
		if st.Waiting != "" || st.Choice != tc.choice || st.Mismatch != tc.mismatch {
			t.Errorf("%s: %+v; want the choice %s, mismatch %v", tc.link, st, tc.choice, tc.mismatch)
		}
		if tc.mismatch && (l.BitsPerSecond > 12e6 || l.BitsPerSecond < 5e6) {
			t.Errorf("%s: measured %.1f Mbit/s", tc.link, l.BitsPerSecond/1e6)
		}
		want := 0
		if tc.mismatch {
			want = 1
		}
		if got := warnings(&logs); len(got) != want {
			t.Errorf("%s: %d warnings over 4 checks, want %d:\n%s", tc.link, len(got), want, logs.String())
		}
	}
}
