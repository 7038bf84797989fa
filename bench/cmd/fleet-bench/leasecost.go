package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/bench/internal/results"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/fleet"
)

// idleRunner is a node's side that runs nothing: the lease cost is the
// fleet's own (leases, node keys, watches), without detector or capture.
type idleRunner struct{}

func (idleRunner) Check(config.Camera) error { return nil }
func (idleRunner) Start(config.Camera) error { return nil }
func (idleRunner) Stop(string)               {}
func (idleRunner) Local(string) bool         { return false }
func (idleRunner) Detectors() []string       { return []string{config.DefaultDetector} }
func (idleRunner) Busy() time.Duration       { return 0 }

// leaseOptions are the lease cost run's settings.
type leaseOptions struct {
	members, cameras int
	ttl              time.Duration // 0: fleet's default
	window, baseline time.Duration
	breakdown        time.Duration
}

// window is what one steady window cost.
type costWindow struct {
	in, out float64 // messages per second the server read from clients, wrote to them
	cpuPct  float64 // this process, % of one core
}

// leaseCost runs an embedded NATS server with JetStream (the options vigil's
// own embedded server runs with) and members in this process, and measures
// the server's messages and the process's CPU in steady windows: with no
// camera, then holding o.cameras.
func leaseCost(r *results.Report, o leaseOptions, dir string) error {
	srv, err := server.NewServer(&server.Options{ServerName: "fleet-bench", Host: "127.0.0.1", Port: -1,
		JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		return fmt.Errorf("lease cost: embedded NATS: %w", err)
	}
	go srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		return fmt.Errorf("lease cost: embedded NATS not ready after 10s")
	}
	url := srv.ClientURL()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var members []*fleet.Member
	var conns []*nats.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	connect := func() (jetstream.JetStream, error) {
		nc, err := nats.Connect(url)
		if err != nil {
			return nil, err
		}
		conns = append(conns, nc)
		return jetstream.New(nc)
	}
	for i := range o.members {
		js, err := connect()
		if err != nil {
			return fmt.Errorf("lease cost: %w", err)
		}
		jctx, jcancel := context.WithTimeout(ctx, 30*time.Second)
		m, err := fleet.Join(jctx, fleet.Options{JS: js, Node: fmt.Sprintf("lease-%d", i+1), TTL: o.ttl,
			MaxCameras: o.cameras, MaxLoad: config.DefaultMaxLoad, MinHold: config.DefaultMinHold,
			Runner: idleRunner{}, Logger: zerolog.Nop()})
		jcancel()
		if err != nil {
			return fmt.Errorf("lease cost: %w", err)
		}
		members = append(members, m)
		wg.Add(1)
		go func() { defer wg.Done(); m.Run(ctx) }()
	}
	ttl := members[0].TTL()
	r.Add("fleet_lease_runner", "none (the members' Runner starts nothing: no capture, no detector; leases, node keys and watches only)")
	r.Add("fleet_lease_members", "%d", o.members)
	r.Add("fleet_lease_ttl_s", "%g", ttl.Seconds())
	r.Add("fleet_lease_msgs_counted_by", "the server's Varz, in_msgs + out_msgs (messages read from its clients + written to them)")

	time.Sleep(2 * time.Second) // the members' first renewals and watches
	fmt.Fprintf(os.Stderr, "fleet-bench: lease cost: %d members, no camera, %s\n", o.members, o.baseline)
	base, err := measure(srv, o.baseline)
	if err != nil {
		return err
	}
	r.Add("fleet_lease_msgs_per_s_0_cameras", "%.1f", base.in+base.out)
	r.Add("fleet_lease_cpu_pct_0_cameras", "%.2f", base.cpuPct)

	var b strings.Builder
	b.WriteString("cameras:\n")
	ids := make([]string, o.cameras)
	for i := range ids {
		ids[i] = fmt.Sprintf("lease-cam-%03d", i+1)
		fmt.Fprintf(&b, "  - {id: %s, url: testsrc, fps: 1}\n", ids[i])
	}
	cfg, err := config.Parse([]byte(b.String()), "fleet-bench lease cameras")
	if err != nil {
		return err
	}
	js, err := connect()
	if err != nil {
		return err
	}
	store, err := fleet.OpenCameras(ctx, js, "", 1)
	if err != nil {
		return err
	}
	putAt := time.Now()
	if err := store.Put(ctx, cfg, cfg.Cameras); err != nil {
		return err
	}
	// Every camera held by exactly one member, and the spread steady.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		held, double := 0, 0
		for _, id := range ids {
			n := 0
			for _, m := range members {
				if m.Held(id) {
					n++
				}
			}
			held += min(n, 1)
			double += max(n-1, 0)
		}
		if held == len(ids) && double == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lease cost: after 2m, %d of %d cameras held (%d by two members)", held, len(ids), double)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Add("fleet_lease_cameras", "%d", o.cameras)
	r.Add("fleet_lease_all_taken_s", "%.2f", time.Since(putAt).Seconds())
	var spread []string
	for _, m := range members {
		n := 0
		for _, id := range ids {
			if m.Held(id) {
				n++
			}
		}
		spread = append(spread, strconv.Itoa(n))
	}
	r.Add("fleet_lease_cameras_per_member", "%s", strings.Join(spread, " "))
	time.Sleep(2 * ttl) // past the takes and the watches' catch-up

	fmt.Fprintf(os.Stderr, "fleet-bench: lease cost: %d cameras, %s\n", o.cameras, o.window)
	w, err := measure(srv, o.window)
	if err != nil {
		return err
	}
	scale := 100 / float64(o.cameras)
	r.Add("fleet_lease_msgs_in_per_s", "%.1f", w.in)
	r.Add("fleet_lease_msgs_out_per_s", "%.1f", w.out)
	r.Add("fleet_lease_msgs_per_s_per_100_cameras", "%.1f", (w.in+w.out)*scale)
	r.Add("fleet_lease_cpu_pct_per_100_cameras", "%.2f", w.cpuPct*scale)
	r.Add("fleet_lease_cpu_measured_as", "/proc/self/stat utime+stime of this process (server and members together), %% of one core, over %s", o.window)

	if o.breakdown > 0 {
		counts, err := bySubject(url, o.breakdown)
		if err != nil {
			return err
		}
		for _, c := range subjectClasses {
			r.Add("fleet_lease_seen_per_s_"+c.name, "%.1f", float64(counts[c.name])/o.breakdown.Seconds())
		}
	}
	// Nothing moved meanwhile: every camera still held once.
	for _, id := range ids {
		n := 0
		for _, m := range members {
			if m.Held(id) {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("lease cost: camera %s held by %d members after the window", id, n)
		}
	}
	return nil
}

// measure is one window: the server's message counters and this process's
// CPU time before and after.
func measure(srv *server.Server, d time.Duration) (costWindow, error) {
	v0, err := srv.Varz(nil)
	if err != nil {
		return costWindow{}, err
	}
	in0, out0 := v0.InMsgs, v0.OutMsgs
	cpu0, err := procCPU()
	if err != nil {
		return costWindow{}, err
	}
	t0 := time.Now()
	time.Sleep(d)
	v1, err := srv.Varz(nil)
	if err != nil {
		return costWindow{}, err
	}
	cpu1, err := procCPU()
	if err != nil {
		return costWindow{}, err
	}
	dt := time.Since(t0).Seconds()
	return costWindow{
		in:     float64(v1.InMsgs-in0) / dt,
		out:    float64(v1.OutMsgs-out0) / dt,
		cpuPct: 100 * (cpu1 - cpu0).Seconds() / dt,
	}, nil
}

// procCPU is utime + stime of /proc/self/stat, all threads, in clock ticks
// of 1/100 s (USER_HZ, 100 on Linux).
func procCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0, fmt.Errorf("/proc/self/stat: unexpected %q", s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/self/stat: unexpected %q", s)
	}
	// Fields 14 and 15 of the file; f[0] is field 3 (state).
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/self/stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// subjectClasses sort what a subscriber to every subject sees: each
// message published, and each JetStream delivery to a watch (under the
// subject of the message it delivers).
var subjectClasses = []struct{ name, prefix string }{
	{"camera_leases", "$KV." + fleet.DefaultLeasesBucket + "."},
	{"node_keys", "$KV." + fleet.DefaultNodesBucket + "."},
	{"cameras_bucket", "$KV." + fleet.DefaultCamerasBucket + "."},
	{"js_api", "$JS.API."},
	{"inbox", "_INBOX."}, // publish acks
	{"other", ""},
}

// bySubject counts, by class, what a subscription to every subject
// receives in d. It runs after the Varz window: its own deliveries would
// count there.
func bySubject(url string, d time.Duration) (map[string]int, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	var mu sync.Mutex
	counts := map[string]int{}
	var on atomic.Bool
	if _, err := nc.Subscribe(">", func(m *nats.Msg) {
		if !on.Load() {
			return
		}
		for _, c := range subjectClasses {
			if strings.HasPrefix(m.Subject, c.prefix) {
				mu.Lock()
				counts[c.name]++
				mu.Unlock()
				return
			}
		}
	}); err != nil {
		return nil, err
	}
	if err := nc.Flush(); err != nil {
		return nil, err
	}
	on.Store(true)
	time.Sleep(d)
	on.Store(false)
	nc.Flush()
	mu.Lock()
	defer mu.Unlock()
	return counts, nil
}
