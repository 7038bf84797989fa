package plc

import (
	"fmt"
	"io"
	"log"
	"time"

	"github.com/simonvetter/modbus"
)

// Writer is what the bridge writes to; *Modbus is one.
type Writer interface {
	WriteCoil(addr uint16, on bool) error
	WriteRegister(addr uint16, v uint16) error
	Close() error
}

// Modbus writes to a Modbus/TCP server, connecting on first use and again
// after any failure.
type Modbus struct {
	URL     string // tcp://host:port
	UnitID  uint8
	Timeout time.Duration
	Log     io.Writer // the library's own log lines; nil: discarded

	client *modbus.ModbusClient
}

func (m *Modbus) conn() (*modbus.ModbusClient, error) {
	if m.client != nil {
		return m.client, nil
	}
	w := m.Log
	if w == nil {
		w = io.Discard
	}
	c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: m.URL, Timeout: m.Timeout, Logger: log.New(w, "", 0)})
	if err != nil {
		return nil, fmt.Errorf("modbus %s: %w", m.URL, err)
	}
	if err := c.Open(); err != nil {
		return nil, fmt.Errorf("modbus %s: connect: %w", m.URL, err)
	}
	if err := c.SetUnitId(m.UnitID); err != nil {
		c.Close()
		return nil, fmt.Errorf("modbus %s: unit id %d: %w", m.URL, m.UnitID, err)
	}
	m.client = c
	return c, nil
}

// done drops the connection after a failure, so the next write reconnects.
func (m *Modbus) done(err error) error {
	if err != nil && m.client != nil {
		m.client.Close()
		m.client = nil
	}
	return err
}

// WriteCoil sets (on) or clears a coil.
func (m *Modbus) WriteCoil(addr uint16, on bool) error {
	c, err := m.conn()
	if err != nil {
		return err
	}
	if err := c.WriteCoil(addr, on); err != nil {
		return m.done(fmt.Errorf("modbus %s: write coil %d: %w", m.URL, addr, err))
	}
	return nil
}

// WriteRegister writes a holding register.
func (m *Modbus) WriteRegister(addr uint16, v uint16) error {
	c, err := m.conn()
	if err != nil {
		return err
	}
	if err := c.WriteRegister(addr, v); err != nil {
		return m.done(fmt.Errorf("modbus %s: write register %d: %w", m.URL, addr, err))
	}
	return nil
}

// Close closes the connection.
func (m *Modbus) Close() error { return m.done(fmt.Errorf("closed")) }
