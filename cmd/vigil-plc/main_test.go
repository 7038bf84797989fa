package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/simonvetter/modbus"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/rules"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-plc-test")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "vigil-plc")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building vigil-plc:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type coils struct {
	mu sync.Mutex
	on map[uint16]bool
}

func (c *coils) HandleCoils(req *modbus.CoilsRequest) ([]bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.IsWrite {
		c.on[req.Addr] = req.Args[0]
	}
	return []bool{c.on[req.Addr]}, nil
}
func (c *coils) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}
func (c *coils) HandleHoldingRegisters(*modbus.HoldingRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}
func (c *coils) HandleInputRegisters(*modbus.InputRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

func (c *coils) get(a uint16) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.on[a]
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBinary runs vigil-plc against a real NATS with JetStream and a real
// Modbus/TCP server: an event sets the coil, /healthz and /metrics answer,
// SIGTERM stops it cleanly.
func TestBinary(t *testing.T) {
	ns, err := server.NewServer(&server.Options{ServerName: "t", Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	defer ns.Shutdown()
	plcAddr, httpAddr := freeAddr(t), freeAddr(t)
	sim := &coils{on: map[uint16]bool{}}
	ms, _ := modbus.NewServer(&modbus.ServerConfiguration{URL: "tcp://" + plcAddr, Timeout: time.Minute, MaxClients: 2, Logger: log.New(io.Discard, "", 0)}, sim)
	if err := ms.Start(); err != nil {
		t.Fatal(err)
	}
	defer ms.Stop()

	cfg := filepath.Join(t.TempDir(), "plc.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
nats: {url: %q}
plc: {url: "tcp://%s"}
http: {listen: %q}
mappings:
  - {rule: robot_cell, type: occupancy_reached, action: set_coil, address: 7}
`, ns.ClientURL(), plcAddr, httpAddr)), 0o644)

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-config", cfg, "-log-format", "json")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	nc, _ := nats.Connect(ns.ClientURL())
	defer nc.Close()
	sp, _ := alerts.OpenSpool(alerts.SpoolOptions{Dir: t.TempDir()})
	defer sp.Close()
	pub, _ := alerts.NewPublisher(alerts.PublisherOptions{Conn: nc, Spool: sp})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pub.Run(ctx)
	pub.Accept(alerts.Message{Camera: "cell-4", Rule: "robot_cell", Kind: rules.KindZone, Type: rules.TypeOccupancyReached, TrackID: 3, Time: time.Now()})

	waitFor(t, "coil 7 set", func() bool { return sim.get(7) })
	waitFor(t, "/healthz ready", func() bool {
		r, err := http.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	r, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(body), `vigil_plc_events_total{result="written"} 1`) {
		t.Errorf("/metrics:\n%s", body)
	}
	js, _ := jetstream.New(nc)
	c, err := js.Consumer(ctx, alerts.DefaultStream, "vigil-plc")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the event acknowledged", func() bool { i, err := c.Info(ctx); return err == nil && i.AckFloor.Stream == 1 })

	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "vigil-plc stopped") {
		t.Errorf("log:\n%s", stderr.String())
	}
}

func TestCheckAndExample(t *testing.T) {
	out, err := exec.Command(bin, "-example").Output()
	if err != nil || !strings.Contains(string(out), "mappings:") {
		t.Fatalf("-example: %v", err)
	}
	ex := filepath.Join(t.TempDir(), "ex.yaml")
	os.WriteFile(ex, out, 0o644)
	if out, err := exec.Command(bin, "-check", "-config", ex).CombinedOutput(); err != nil || !strings.Contains(string(out), "ok (5 mappings)") {
		t.Errorf("-check example: %v %s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("plc: {url: tcp://x:502}\nmappings:\n  - {rule: cell, type: enter, action: set_coil}\n"), 0o644)
	out, err = exec.Command(bin, "-check", "-config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `mappings[0].type: unknown event type "enter"`) {
		t.Errorf("-check bad: %v %s", err, out)
	}
	if err := exec.Command(bin).Run(); err == nil {
		t.Error("no -config: exit 0")
	}
}
