package sinks

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/vigil-vision/vigil/alerts"
	"github.com/vigil-vision/vigil/rules"
)

// TestMQTTClientReceivesEvents: a real MQTT client (paho) on the embedded
// server's MQTT listener gets the events vigil publishes to JetStream, on
// the topic that mirrors the subject.
func TestMQTTClientReceivesEvents(t *testing.T) {
	e, err := StartEmbedded(EmbeddedOptions{Port: -1, StoreDir: t.TempDir(), JetStream: true,
		MQTTListen: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	addr := e.MQTTAddr()
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("MQTTAddr %q", addr)
	}

	got := make(chan mqtt.Message, 10)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("node-red").
		SetAutoReconnect(false).SetConnectRetry(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Subscribe("vigil/+/events/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT subscribe: %v", tok.Error())
	}

	nc := connect(t, e.ClientURL())
	sp, err := alerts.OpenSpool(alerts.SpoolOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	pub, err := alerts.NewPublisher(alerts.PublisherOptions{Conn: nc, Spool: sp, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); pub.Run(ctx) }()
	defer func() { cancel(); <-done }()

	ev := alerts.Message{Camera: "cell-4", Rule: "robot_zone", Kind: rules.KindZone, Type: rules.TypeOccupancyReached,
		TrackID: 7, Label: "person", Time: time.Now().UTC(), Counts: map[string]int64{"entered": 1}}
	if err := pub.Accept(ev); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Topic() != "vigil/cell-4/events/robot_zone" {
			t.Errorf("topic %q", m.Topic())
		}
		var back alerts.Message
		if err := json.Unmarshal(m.Payload(), &back); err != nil || back.Schema != alerts.EventSchema || back.Type != rules.TypeOccupancyReached || back.TrackID != 7 {
			t.Errorf("payload %s (%v)", m.Payload(), err)
		}
	case <-time.After(30 * time.Second): // hang guard
		t.Fatal("the MQTT client received nothing")
	}
}

func TestMQTTNeedsJetStream(t *testing.T) {
	_, err := StartEmbedded(EmbeddedOptions{Port: -1, MQTTListen: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "MQTT on 127.0.0.1:0 needs JetStream") {
		t.Fatalf("got %v", err)
	}
}
