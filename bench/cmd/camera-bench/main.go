// Command camera-bench measures how soon vigil has a misbehaving network
// camera back: one that goes away and returns, and one that freezes
// without closing its connection and then goes on.
//
// One node (the real one: embedded NATS, the default model, the tracks
// publisher) runs two RTSP cameras, each from its own RTSP server (ffmpeg
// publishing a 10 fps test pattern, keyframe every second):
//
//   - "door" is the camera that goes away: -cycles times its server closes
//     (every connection refused, as when the camera reboots), stays down
//     -down, and comes back; then one long outage (-long) shows the backoff
//     a camera that stays down gets.
//   - "hang" is reached through a proxy that freezes every connection, old
//     and new, as when the camera's process is stopped (SIGSTOP): -cycles
//     times it freezes, for -freeze-short (less than the IO timeout: the
//     connection survives) and -freeze-long (more: it is given up) in turn.
//
// Lines printed and kept (camera-<date>.txt):
//
//   - camera_return_{p50,p99,max}_s: from the camera publishing again (its
//     server has the stream) to the first tracks message of a frame
//     captured after that. Goal p99 ≤ 2 s.
//   - camera_long_outage_{attempts,return_s}: reconnect attempts during the
//     long outage, and the return time after it.
//   - stall_detect_{p50,p99,max}_s: from the freeze to /api/cameras showing
//     the camera stalled or down. Goal ≤ io_timeout + 1 s.
//   - stall_resume_{short,long}_{p50,p99}_s: from the thaw to the first
//     tracks message of a frame captured after it. Goal ≤ 2 s.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/internal/rtsptest"
	"github.com/vigil-vision/vigil/node"
)

func main() {
	cycles := flag.Int("cycles", 12, "outages of door, and freezes of hang")
	down := flag.Duration("down", 5*time.Second, "how long door stays away in each outage")
	long := flag.Duration("long", 60*time.Second, "one longer outage of door at the end; 0: none")
	short := flag.Duration("freeze-short", 3*time.Second, "a freeze shorter than the IO timeout")
	longFreeze := flag.Duration("freeze-long", 10*time.Second, "a freeze longer than the IO timeout")
	ioTimeout := flag.Duration("io-timeout", 5*time.Second, "the cameras' io_timeout")
	fps := flag.Float64("fps", 5, "the cameras' fps cap")
	threads := flag.Int("threads", 2, "onnxruntime intra-op threads")
	out := flag.String("results", "bench/results", "folder for camera-<date>.txt; empty: write none")
	flag.Parse()
	t := &results.T{}
	b := &bench{t: t, cycles: *cycles, down: *down, long: *long, short: *short, longFreeze: *longFreeze,
		ioTimeout: *ioTimeout, fps: *fps, threads: *threads, r: results.New()}
	err := b.run(*out)
	t.RunCleanups()
	if err != nil {
		fmt.Fprintln(os.Stderr, "camera-bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	t                       *results.T
	cycles                  int
	down, long, short       time.Duration
	longFreeze, ioTimeout   time.Duration
	fps                     float64
	threads                 int
	r                       *results.Report
	httpAddr                string
	mu                      sync.Mutex
	captured                map[string]time.Time // camera → capture time of its newest tracks message
	arrived                 map[string]time.Time // camera → when that message arrived
	doorAddr, doorPath      string
	door                    *rtsptest.Server
	doorPub                 *rtsptest.Publisher
	hang                    *rtsptest.Proxy
	returns, resumeShort    []float64
	resumeLong, stallDetect []float64
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (b *bench) run(out string) error {
	dir, err := os.MkdirTemp("", "camera-bench")
	if err != nil {
		return err
	}
	b.t.Cleanup(func() { os.RemoveAll(dir) })

	b.doorAddr = rtsptest.ReserveAddr(b.t)
	if err := b.startDoor(); err != nil {
		return err
	}
	hangSrv := rtsptest.Start(b.t)
	rtsptest.Publish(b.t, hangSrv.URL("hang"), rtsptest.TestSource)
	if err := wait(hangSrv, "hang"); err != nil {
		return err
	}
	b.hang = rtsptest.NewProxy(b.t, hangSrv.Addr())

	natsAddr := freeAddr()
	b.httpAddr = freeAddr()
	cam := func(id, url string) string {
		return fmt.Sprintf("  - {id: %s, url: %q, fps: %g, io_timeout: %s}\n", id, url, b.fps, b.ioTimeout)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf("data_dir: %s\nnats: {listen: %q}\nhttp: {listen: %q}\nmodel: {intra_op_threads: %d}\ncameras:\n%s%s",
		dir, natsAddr, b.httpAddr, b.threads, cam("door", "rtsp://"+b.doorAddr+"/door"), cam("hang", "rtsp://"+b.hang.Addr()+"/hang"))), "camera-bench")
	if err != nil {
		return err
	}
	n, err := node.Start(cfg, node.Options{Logger: zerolog.New(os.Stderr).Level(zerolog.WarnLevel)})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	defer func() { stop(); <-done }()

	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		return err
	}
	defer nc.Close()
	b.captured, b.arrived = map[string]time.Time{}, map[string]time.Time{}
	if _, err := nc.Subscribe("vigil.*.tracks", func(m *nats.Msg) {
		at := time.Now()
		var tm struct {
			Camera     string    `json:"camera"`
			CapturedAt time.Time `json:"captured_at"`
		}
		if json.Unmarshal(m.Data, &tm) != nil {
			return
		}
		b.mu.Lock()
		if tm.CapturedAt.After(b.captured[tm.Camera]) {
			b.captured[tm.Camera], b.arrived[tm.Camera] = tm.CapturedAt, at
		}
		b.mu.Unlock()
	}); err != nil {
		return err
	}
	nc.Flush()
	for _, c := range []string{"door", "hang"} {
		if _, err := b.publishedAfter(c, time.Now(), 2*time.Minute); err != nil {
			return err
		}
	}

	for i := range b.cycles {
		fmt.Fprintf(os.Stderr, "camera-bench: cycle %d/%d\n", i+1, b.cycles)
		back, err := b.outage(b.down)
		if err != nil {
			return err
		}
		b.returns = append(b.returns, back)
		freeze := b.short
		if i%2 == 1 {
			freeze = b.longFreeze
		}
		if err := b.freeze(freeze, i%2 == 1); err != nil {
			return err
		}
	}
	b.r.Add("camera_return_cycles", "%d", len(b.returns))
	b.r.Add("camera_return_down_s", "%.1f", b.down.Seconds())
	b.r.Add("camera_return_p50_s", "%.3f", results.Percentile(b.returns, 50))
	b.r.Add("camera_return_p99_s", "%.3f%s", results.Percentile(b.returns, 99), goal(results.Percentile(b.returns, 99), 2))
	b.r.Add("camera_return_max_s", "%.3f", results.Percentile(b.returns, 100))
	b.r.Add("stall_io_timeout_s", "%.1f", b.ioTimeout.Seconds())
	b.r.Add("stall_detect_p50_s", "%.3f", results.Percentile(b.stallDetect, 50))
	b.r.Add("stall_detect_p99_s", "%.3f%s", results.Percentile(b.stallDetect, 99), goal(results.Percentile(b.stallDetect, 99), b.ioTimeout.Seconds()+1))
	b.r.Add("stall_detect_max_s", "%.3f", results.Percentile(b.stallDetect, 100))
	for name, v := range map[string][]float64{"short": b.resumeShort, "long": b.resumeLong} {
		b.r.Add("stall_resume_"+name+"_count", "%d", len(v))
		b.r.Add("stall_resume_"+name+"_p50_s", "%.3f", results.Percentile(v, 50))
		b.r.Add("stall_resume_"+name+"_p99_s", "%.3f%s", results.Percentile(v, 99), goal(results.Percentile(v, 99), 2))
	}
	b.r.Add("stall_freeze_short_s", "%.1f", b.short.Seconds())
	b.r.Add("stall_freeze_long_s", "%.1f", b.longFreeze.Seconds())

	if b.long > 0 {
		fmt.Fprintf(os.Stderr, "camera-bench: a %v outage\n", b.long)
		before := b.reconnects(n, "door")
		back, err := b.outage(b.long)
		if err != nil {
			return err
		}
		b.r.Add("camera_long_outage_s", "%.0f", b.long.Seconds())
		b.r.Add("camera_long_outage_attempts", "%d", b.reconnects(n, "door")-before)
		b.r.Add("camera_long_outage_return_s", "%.3f", back)
	}

	if out == "" {
		return nil
	}
	path, err := b.r.Write(out, "camera-", time.Now(), []string{
		"camera-bench: network cameras going away and freezing (bench/cmd/camera-bench)",
		"command: " + results.CommandLine("go run ./bench/cmd/camera-bench"),
		"flags: " + results.Flags(),
		"cpu: " + results.CPUInfo("model name") + ", cores " + results.NProc(),
		"go: " + results.GoVersion(),
		"cameras: two RTSP, 320x240 testsrc at 10 fps, H.264 keyframe every 10 frames (1 s), fps cap " + fmt.Sprint(b.fps),
		b.r.Load(),
	})
	if err == nil {
		fmt.Fprintln(os.Stderr, "camera-bench: wrote", path)
	}
	return err
}

func goal(v, limit float64) string {
	if v <= limit {
		return fmt.Sprintf(" (goal ≤ %g: met)", limit)
	}
	return fmt.Sprintf(" (goal ≤ %g: NOT met)", limit)
}

func wait(s *rtsptest.Server, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return s.WaitPublishing(ctx, path)
}

// startDoor starts door's RTSP server and publisher at its address.
func (b *bench) startDoor() error {
	b.door = rtsptest.StartAt(b.t, b.doorAddr)
	b.doorPub = rtsptest.Publish(b.t, b.door.URL("door"), rtsptest.TestSource)
	return wait(b.door, "door")
}

// outage takes door away for d and brings it back; the result is the
// seconds from the camera publishing again to its first tracks message
// of a frame captured after that.
func (b *bench) outage(d time.Duration) (float64, error) {
	b.doorPub.Stop()
	b.door.Close()
	time.Sleep(d)
	if err := b.startDoor(); err != nil {
		return 0, err
	}
	back := time.Now()
	at, err := b.publishedAfter("door", back, time.Minute)
	return at.Sub(back).Seconds(), err
}

// freeze freezes hang for d, noting how soon it is shown stalled or down,
// then thaws it and notes how soon its frames are published again.
func (b *bench) freeze(d time.Duration, long bool) error {
	if _, err := b.publishedAfter("hang", time.Now(), time.Minute); err != nil {
		return err
	}
	b.hang.Freeze()
	frozen := time.Now()
	detected := false
	for time.Since(frozen) < d {
		if !detected {
			if st := b.state("hang"); st == "stalled" || st == "down" {
				b.stallDetect = append(b.stallDetect, time.Since(frozen).Seconds())
				detected = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.hang.Thaw()
	thawed := time.Now()
	at, err := b.publishedAfter("hang", thawed, time.Minute)
	if err != nil {
		return err
	}
	if long {
		b.resumeLong = append(b.resumeLong, at.Sub(thawed).Seconds())
	} else {
		b.resumeShort = append(b.resumeShort, at.Sub(thawed).Seconds())
	}
	return nil
}

// publishedAfter waits for a tracks message of camera with a frame
// captured after t, and says when it arrived.
func (b *bench) publishedAfter(camera string, t time.Time, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		c, at := b.captured[camera], b.arrived[camera]
		b.mu.Unlock()
		if c.After(t) {
			return at, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("no tracks from %s captured after %s within %v", camera, t.Format(time.StampMilli), limit)
}

func (b *bench) state(camera string) string {
	resp, err := http.Get("http://" + b.httpAddr + "/api/cameras")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var cams []struct{ Camera, State string }
	if json.NewDecoder(resp.Body).Decode(&cams) != nil {
		return ""
	}
	for _, c := range cams {
		if c.Camera == camera {
			return c.State
		}
	}
	return ""
}

func (b *bench) reconnects(n *node.Node, camera string) int {
	if c := n.Pipeline().Camera(camera); c != nil {
		return int(c.Status().Reconnects)
	}
	return 0
}
