package plc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/simonvetter/modbus"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/rules"
)

// plcSim is the memory of a PLC served by simonvetter/modbus's own server.
type plcSim struct {
	mu     sync.Mutex
	coils  map[uint16]bool
	regs   map[uint16]uint16
	writes []string // "coil 3 on", "register 10 = 2", in order
}

func (p *plcSim) HandleCoils(req *modbus.CoilsRequest) ([]bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.coils == nil {
		p.coils = map[uint16]bool{}
	}
	out := make([]bool, req.Quantity)
	for i := range out {
		a := req.Addr + uint16(i)
		if req.IsWrite {
			p.coils[a] = req.Args[i]
			state := "off"
			if req.Args[i] {
				state = "on"
			}
			p.writes = append(p.writes, fmt.Sprintf("coil %d %s", a, state))
		}
		out[i] = p.coils[a]
	}
	return out, nil
}

func (p *plcSim) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

func (p *plcSim) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.regs == nil {
		p.regs = map[uint16]uint16{}
	}
	out := make([]uint16, req.Quantity)
	for i := range out {
		a := req.Addr + uint16(i)
		if req.IsWrite {
			p.regs[a] = req.Args[i]
			p.writes = append(p.writes, fmt.Sprintf("register %d = %d", a, req.Args[i]))
		}
		out[i] = p.regs[a]
	}
	return out, nil
}

func (p *plcSim) HandleInputRegisters(*modbus.InputRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

func (p *plcSim) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.writes...)
}

// startPLC serves sim on addr ("127.0.0.1:0" picks a port).
func startPLC(t *testing.T, addr string, sim *plcSim) (*modbus.ModbusServer, string) {
	t.Helper()
	if strings.HasSuffix(addr, ":0") {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
	}
	s, err := modbus.NewServer(&modbus.ServerConfiguration{URL: "tcp://" + addr, Timeout: 30 * time.Second, MaxClients: 4,
		Logger: log.New(io.Discard, "", 0)}, sim)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s, addr
}

func startNATS(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{ServerName: "plc-test", Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// events publishes events as vigil does: spooled, with ids, acknowledged.
type events struct {
	pub *alerts.Publisher
	n   int
}

func newEvents(t *testing.T, nc *nats.Conn) *events {
	t.Helper()
	sp, err := alerts.OpenSpool(alerts.SpoolOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := alerts.NewPublisher(alerts.PublisherOptions{Conn: nc, Spool: sp, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); pub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; sp.Close() })
	if err := pub.EnsureStream(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &events{pub: pub}
}

func (e *events) send(t *testing.T, rule string, typ rules.Type, mod ...func(*alerts.Message)) {
	t.Helper()
	e.n++
	m := alerts.Message{Camera: "cell-4", Rule: rule, Kind: rules.KindZone, Type: typ, TrackID: uint64(e.n), Seq: uint64(e.n),
		Time: time.Now(), Counts: map[string]int64{}}
	for _, f := range mod {
		f(&m)
	}
	if err := e.pub.Accept(m); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // hang guard only
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testConfig(plcAddr string) *Config {
	c := &Config{
		PLC:     PLC{URL: "tcp://" + plcAddr, Timeout: config.Duration(500 * time.Millisecond)},
		Retry:   config.Backoff{Min: config.Duration(20 * time.Millisecond), Max: config.Duration(100 * time.Millisecond)},
		AckWait: config.Duration(5 * time.Second),
		Mappings: []Mapping{
			{Rule: "robot_cell", Type: "occupancy_reached", Action: ActionSetCoil, Address: 3},
			{Rule: "robot_cell", Type: "occupancy_cleared", Action: ActionClearCoil, Address: 3},
			{Rule: "robot_cell", Type: "zone_enter", Action: ActionWriteRegister, Address: 10, From: "counts.entered"},
			{Rule: "door", Type: "line_cross", Direction: "up", Action: ActionPulseCoil, Address: 5, Duration: config.Duration(30 * time.Millisecond)},
		},
	}
	c.defaults()
	return c
}

type running struct {
	b      *Bridge
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
}

func runBridge(t *testing.T, cfg *Config, nc *nats.Conn) *running {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	w := &Modbus{URL: cfg.PLC.URL, UnitID: uint8(*cfg.PLC.UnitID), Timeout: cfg.PLC.Timeout.D()}
	b, err := New(cfg, nc, w, reg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{b: b, reg: reg, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); b.Run(ctx); w.Close() }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

// consumerInfo is the bridge's consumer, or an empty one before the bridge
// made it.
func consumerInfo(t *testing.T, nc *nats.Conn) *jetstream.ConsumerInfo {
	t.Helper()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, alerts.DefaultStream, DefaultConsumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return &jetstream.ConsumerInfo{}
	}
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestEventsBecomeWrites(t *testing.T) {
	sim := &plcSim{}
	_, addr := startPLC(t, "127.0.0.1:0", sim)
	srv := startNATS(t)
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	ev := newEvents(t, nc)
	r := runBridge(t, testConfig(addr), nc)

	ev.send(t, "robot_cell", rules.TypeZoneEnter, func(m *alerts.Message) { m.Counts["entered"] = 70000 }) // wraps to 4464
	ev.send(t, "robot_cell", rules.TypeOccupancyReached)
	ev.send(t, "door", rules.TypeLineCross, func(m *alerts.Message) { m.Kind, m.Direction = rules.KindLine, "down" }) // no mapping
	ev.send(t, "door", rules.TypeLineCross, func(m *alerts.Message) { m.Kind, m.Direction = rules.KindLine, "up" })
	ev.send(t, "robot_cell", rules.TypeOccupancyCleared)
	waitFor(t, "every event acknowledged", func() bool {
		i := consumerInfo(t, nc)
		return i.AckFloor.Stream == 5 && i.NumAckPending == 0 && !r.b.Health().Holding
	})
	want := []string{"register 10 = 4464", "coil 3 on", "coil 5 on", "coil 5 off", "coil 3 off"}
	if got := sim.log(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("PLC writes %q, want %q", got, want)
	}
	if h := r.b.Health(); !h.Ready || h.PLC != "ok" || h.EventsWritten != 4 {
		t.Errorf("health %+v", h)
	}

	// /healthz and /metrics.
	s, err := Serve("127.0.0.1:0", r.b, r.reg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz %v %v", resp, err)
	}
	resp.Body.Close()
	resp, _ = http.Get("http://" + s.Addr() + "/metrics")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`vigil_plc_events_total{result="written"} 4`, `vigil_plc_events_total{result="ignored"} 1`, `vigil_plc_writes_total{kind="coil",result="ok"} 4`, "vigil_plc_up 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestPLCOutageHoldsTheEvent(t *testing.T) {
	sim := &plcSim{}
	plc, addr := startPLC(t, "127.0.0.1:0", sim)
	srv := startNATS(t)
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	ev := newEvents(t, nc)
	r := runBridge(t, testConfig(addr), nc)

	ev.send(t, "robot_cell", rules.TypeOccupancyReached)
	waitFor(t, "the first write", func() bool { return len(sim.log()) == 1 })
	plc.Stop() // the PLC goes away

	ev.send(t, "robot_cell", rules.TypeOccupancyCleared)
	ev.send(t, "robot_cell", rules.TypeOccupancyReached)
	waitFor(t, "retries while the PLC is down", func() bool {
		var m struct{ n float64 }
		mfs, _ := r.reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "vigil_plc_retries_total" {
				m.n = mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return m.n >= 3
	})
	info := consumerInfo(t, nc)
	if info.AckFloor.Stream != 1 || info.NumAckPending != 1 || info.NumPending != 1 {
		t.Fatalf("while the PLC is down: ack floor %d, ack pending %d, pending %d; want the event held, not acknowledged",
			info.AckFloor.Stream, info.NumAckPending, info.NumPending)
	}
	if h := r.b.Health(); h.Ready || h.PLC != "failing" || !h.Holding || h.LastError == "" {
		t.Errorf("health while down %+v", h)
	}
	if got := sim.log(); len(got) != 1 {
		t.Fatalf("writes while the PLC was down: %q", got)
	}

	startPLC(t, addr, sim) // back on the same address
	waitFor(t, "both held events acknowledged", func() bool {
		i := consumerInfo(t, nc)
		return i.AckFloor.Stream == 3 && i.NumAckPending == 0 && i.NumPending == 0 && !r.b.Health().Holding
	})
	if got, want := sim.log(), []string{"coil 3 on", "coil 3 off", "coil 3 on"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("writes %q, want %q: none lost, in order", got, want)
	}
	if h := r.b.Health(); !h.Ready {
		t.Errorf("health after recovery %+v", h)
	}
}

func TestEventHeldAtShutdownIsDeliveredAgain(t *testing.T) {
	sim := &plcSim{}
	plc, addr := startPLC(t, "127.0.0.1:0", sim)
	plc.Stop()
	srv := startNATS(t)
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	ev := newEvents(t, nc)
	r := runBridge(t, testConfig(addr), nc)
	ev.send(t, "robot_cell", rules.TypeOccupancyReached)
	waitFor(t, "the bridge to hold the event", func() bool { return r.b.Health().Holding })
	r.stop() // the bridge stops before the PLC came back

	startPLC(t, addr, sim)
	runBridge(t, testConfig(addr), nc) // same durable consumer
	waitFor(t, "the event written by the next run", func() bool { return consumerInfo(t, nc).AckFloor.Stream == 1 })
	if got := sim.log(); fmt.Sprint(got) != "[coil 3 on]" {
		t.Errorf("writes %q", got)
	}
}

func TestMalformedEventIsTerminated(t *testing.T) {
	sim := &plcSim{}
	_, addr := startPLC(t, "127.0.0.1:0", sim)
	srv := startNATS(t)
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	ev := newEvents(t, nc)
	runBridge(t, testConfig(addr), nc)
	js, _ := jetstream.New(nc)
	if _, err := js.Publish(context.Background(), "vigil.cell-4.events.robot_cell", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	ev.send(t, "robot_cell", rules.TypeOccupancyReached)
	waitFor(t, "both handled", func() bool { return consumerInfo(t, nc).AckFloor.Stream == 2 })
	if got := sim.log(); fmt.Sprint(got) != "[coil 3 on]" {
		t.Errorf("writes %q", got)
	}
}

// TestOldOwnersEventsAreFenced: a camera moves from one vigil node (lease
// epoch 5) to another (epoch 9); the first node's late events are
// acknowledged but not written.
func TestOldOwnersEventsAreFenced(t *testing.T) {
	sim := &plcSim{}
	_, addr := startPLC(t, "127.0.0.1:0", sim)
	srv := startNATS(t)
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	first, second := newEvents(t, nc), newEvents(t, nc)
	r := runBridge(t, testConfig(addr), nc)

	// Each event reaches the stream before the next is sent, so the stream
	// holds them in this order.
	enter := func(owner *events, camera string, epoch uint64, entered int64) {
		t.Helper()
		owner.send(t, "robot_cell", rules.TypeZoneEnter, func(m *alerts.Message) {
			m.Camera, m.LeaseEpoch, m.Counts["entered"] = camera, epoch, entered
		})
		waitFor(t, "the event on the stream", func() bool { return owner.pub.Stats().Pending == 0 })
	}
	enter(first, "cell-4", 5, 1)
	enter(second, "cell-4", 9, 2)
	enter(first, "cell-4", 5, 3)                                                                          // late: fenced
	first.send(t, "robot_cell", rules.TypeOccupancyReached, func(m *alerts.Message) { m.LeaseEpoch = 5 }) // late: fenced
	waitFor(t, "the event on the stream", func() bool { return first.pub.Stats().Pending == 0 })
	enter(second, "cell-4", 9, 4)
	enter(first, "cell-4", 0, 5) // no fleet: always taken
	enter(first, "cell-5", 3, 6) // another camera, its own floor
	waitFor(t, "every event acknowledged", func() bool {
		i := consumerInfo(t, nc)
		return i.AckFloor.Stream == 7 && i.NumAckPending == 0 && i.NumPending == 0 && !r.b.Health().Holding
	})
	want := []string{"register 10 = 1", "register 10 = 2", "register 10 = 4", "register 10 = 5", "register 10 = 6"}
	if got := sim.log(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("PLC writes %q, want %q: no write of the old owner's late events", got, want)
	}
	if n := counterValue(t, r.reg, "vigil_plc_events_fenced_total", "camera", "cell-4"); n != 2 {
		t.Errorf("vigil_plc_events_fenced_total{camera=\"cell-4\"} %v, want 2", n)
	}
	if n := counterValue(t, r.reg, "vigil_plc_events_total", "result", "fenced"); n != 2 {
		t.Errorf("vigil_plc_events_total{result=\"fenced\"} %v, want 2", n)
	}
	if n := counterValue(t, r.reg, "vigil_plc_events_fenced_total", "camera", "cell-5"); n != 0 {
		t.Errorf("vigil_plc_events_fenced_total{camera=\"cell-5\"} %v, want 0", n)
	}
}

// counterValue is the value of a counter's series with label = value; 0
// when there is none.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
