// Command alert-bench measures how long a rule event takes from the frame's
// capture to the PLC's coil, on loopback, through the real parts: the rules
// engine, the fsync'd spool, the JetStream publisher with acknowledgement,
// an embedded nats-server with JetStream on disk, vigil-plc's bridge (a
// durable pull consumer) and a Modbus/TCP server (simonvetter/modbus).
//
// A synthetic person walks up and down across a line, one frame every
// -frame-interval; each crossing is one event, mapped to setting (up) or
// clearing (down) coil 0. Each coil write, as the Modbus server receives it,
// is matched to its event (the bridge writes in event order), and its
// latency is the write's time minus the frame's capture time.
//
// It prints "name: value" lines: alert_to_plc_{p50,p99}_ms (capture → coil
// write), alert_to_nats_{p50,p99}_ms (capture → the event received by a
// NATS subscriber), alert_spool_append_{p50,p99}_ms (one synced spool write)
// and the counts behind them; with -results, it also writes them, with the
// command and machine, to alert-<date>.txt and alert-latest.txt there.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/simonvetter/modbus"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/plc"
	"github.com/vigil-vision/vigil/rules"
	"github.com/vigil-vision/vigil/track"
)

func main() {
	events := flag.Int("events", 300, "crossings to time")
	warmup := flag.Int("warmup", 10, "crossings before timing starts")
	interval := flag.Duration("frame-interval", 20*time.Millisecond, "time between frames; a crossing every 4 frames")
	dir := flag.String("dir", "", "folder for the spool and the JetStream store (default: a new temporary folder, removed after)")
	results := flag.String("results", "", "folder for alert-<date>.txt and alert-latest.txt; empty: write none")
	flag.Parse()
	if err := run(*events, *warmup, *interval, *dir, *results); err != nil {
		fmt.Fprintln(os.Stderr, "alert-bench:", err)
		os.Exit(1)
	}
}

// coilLog records when each coil write reached the PLC.
type coilLog struct {
	mu    sync.Mutex
	at    []time.Time
	coils map[uint16]bool
}

func (c *coilLog) HandleCoils(req *modbus.CoilsRequest) ([]bool, error) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.coils == nil {
		c.coils = map[uint16]bool{}
	}
	out := make([]bool, req.Quantity)
	for i := range out {
		if req.IsWrite {
			c.coils[req.Addr+uint16(i)] = req.Args[i]
			c.at = append(c.at, now)
		}
		out[i] = c.coils[req.Addr+uint16(i)]
	}
	return out, nil
}
func (c *coilLog) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}
func (c *coilLog) HandleHoldingRegisters(*modbus.HoldingRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}
func (c *coilLog) HandleInputRegisters(*modbus.InputRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

func (c *coilLog) writes() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.at)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func run(n, warmup int, interval time.Duration, dir, resultsDir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "alert-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	quiet := zerolog.Nop()

	// NATS as vigil embeds it: JetStream on disk.
	ns, err := server.NewServer(&server.Options{ServerName: "alert-bench", Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: filepath.Join(dir, "nats"), NoSigs: true, NoLog: true})
	if err != nil {
		return err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		return fmt.Errorf("nats-server not ready")
	}
	defer ns.Shutdown()

	// The PLC.
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	sim := &coilLog{}
	ms, err := modbus.NewServer(&modbus.ServerConfiguration{URL: "tcp://" + addr, Timeout: time.Minute, MaxClients: 4, Logger: log.New(io.Discard, "", 0)}, sim)
	if err != nil {
		return err
	}
	if err := ms.Start(); err != nil {
		return err
	}
	defer ms.Stop()

	// vigil's side: the rules, the spool, the publisher.
	vnc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return err
	}
	defer vnc.Close()
	al, err := alerts.New(alerts.Options{Conn: vnc, Cameras: []alerts.CameraRules{{Camera: "walkway", Rules: []rules.Rule{
		{Name: "crossing", Kind: rules.KindLine, Points: []rules.Point{{X: 0, Y: 300}, {X: 768, Y: 300}}, Hysteresis: 10, AToB: "down", BToA: "up"},
	}}}, Spool: alerts.SpoolOptions{Dir: filepath.Join(dir, "spool")}, Logger: quiet, Registerer: prometheus.NewRegistry()})
	if err != nil {
		return err
	}
	if err := al.Start(time.Second); err != nil {
		return err
	}
	defer al.Close(5 * time.Second)
	if err := al.Publisher().EnsureStream(context.Background()); err != nil {
		return err
	}

	// A subscriber sees when each event is on NATS.
	snc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return err
	}
	defer snc.Close()
	var smu sync.Mutex
	var toNATS []time.Duration
	if _, err := snc.Subscribe(alerts.EventsFilter("vigil"), func(m *nats.Msg) {
		now := time.Now()
		var ev alerts.Message
		if json.Unmarshal(m.Data, &ev) == nil {
			smu.Lock()
			toNATS = append(toNATS, now.Sub(ev.Time))
			smu.Unlock()
		}
	}); err != nil {
		return err
	}
	snc.Flush()

	// vigil-plc's side.
	pnc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return err
	}
	defer pnc.Close()
	pcfg, err := plc.Parse([]byte(fmt.Sprintf(`
plc: {url: "tcp://%s", timeout: 1s}
http: {listen: "off"}
mappings:
  - {rule: crossing, type: line_cross, direction: up, action: set_coil, address: 0}
  - {rule: crossing, type: line_cross, direction: down, action: clear_coil, address: 0}
`, addr)), "bench")
	if err != nil {
		return err
	}
	w := &plc.Modbus{URL: pcfg.PLC.URL, UnitID: 1, Timeout: time.Second}
	defer w.Close()
	bridge, err := plc.New(pcfg, pnc, w, prometheus.NewRegistry(), quiet)
	if err != nil {
		return err
	}
	bctx, stopBridge := context.WithCancel(context.Background())
	bdone := make(chan struct{})
	go func() { defer close(bdone); bridge.Run(bctx) }()
	defer func() { stopBridge(); <-bdone }()

	// Walk: 4 frames per crossing, alternating up and down through y=300.
	fmt.Fprintf(os.Stderr, "alert-bench: %d crossings (+%d warm-up), a frame every %s\n", n, warmup, interval)
	total := n + warmup
	ys := []float64{260, 280, 320, 340, 340, 320, 280, 260}
	var captured []time.Time
	var appendTimes []time.Duration
	seq := uint64(0)
	next := time.Now()
	for len(captured) < total {
		y := ys[int(seq)%len(ys)]
		seq++
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		at := time.Now() // the frame's capture
		t0 := time.Now()
		evs := al.Observe("walkway", seq, at, 768, 576, []track.Track{{ID: 1, Class: 0, Score: 0.9, Box: track.Box{X1: 380, Y1: y - 120, X2: 420, Y2: y}}}, []string{"person"})
		if len(evs) > 0 {
			appendTimes = append(appendTimes, time.Since(t0))
		}
		for range evs {
			captured = append(captured, at)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(sim.writes()) < total && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	writes := sim.writes()
	if len(writes) != total {
		return fmt.Errorf("%d coil writes for %d events", len(writes), total)
	}
	var toPLC []time.Duration
	for i := warmup; i < total; i++ {
		toPLC = append(toPLC, writes[i].Sub(captured[i]))
	}
	smu.Lock()
	onNATS := slices.Clone(toNATS)
	smu.Unlock()
	if len(onNATS) > warmup {
		onNATS = onNATS[warmup:]
	}
	appends := appendTimes
	if len(appends) > warmup {
		appends = appends[warmup:]
	}

	var lines []string
	add := func(name, format string, v any) {
		l := fmt.Sprintf("%s: "+format, name, v)
		lines = append(lines, l)
		fmt.Println(l)
	}
	add("alert_events", "%d", len(toPLC))
	add("alert_to_nats_p50_ms", "%.2f", pct(onNATS, 50))
	add("alert_to_nats_p99_ms", "%.2f", pct(onNATS, 99))
	add("alert_to_plc_p50_ms", "%.2f", pct(toPLC, 50))
	add("alert_to_plc_p99_ms", "%.2f", pct(toPLC, 99))
	add("alert_to_plc_max_ms", "%.2f", pct(toPLC, 100))
	add("alert_spool_append_p50_ms", "%.3f", pct(appends, 50))
	add("alert_spool_append_p99_ms", "%.3f", pct(appends, 99))
	if st := al.Stats(); st.Dropped != 0 || st.Errors != 0 {
		return fmt.Errorf("publisher stats %+v", st)
	}
	if resultsDir != "" {
		return writeResults(resultsDir, lines, n, warmup, interval)
	}
	return nil
}

// pct is the nearest-rank percentile in milliseconds.
func pct(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i]) / 1e6
}

func writeResults(dir string, lines []string, n, warmup int, interval time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# go run ./bench/cmd/alert-bench %s\n", strings.Join(os.Args[1:], " "))
	fmt.Fprintf(&b, "# events=%d warmup=%d frame-interval=%s\n", n, warmup, interval)
	fmt.Fprintf(&b, "# %s, %d cores, %s\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.Version())
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(&b, "# loadavg %s", la)
	}
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	name := filepath.Join(dir, "alert-"+time.Now().UTC().Format("2006-01-02-150405")+".txt")
	if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "alert-latest.txt"), []byte(b.String()), 0o644)
}
