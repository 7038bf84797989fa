// Package tracksub records a running vigil's tracks messages as a NATS
// subscriber receives them, for the benches that count what reached NATS
// and when: lost frames (gaps in a camera's seq) and capture→publish
// latency within windows of time.
package tracksub

import (
	"encoding/json"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Arrival is one tracks message as received.
type Arrival struct {
	Seq     uint64
	At      time.Time     // when it was received
	Latency time.Duration // capture → sinks, as the message says
	Model   string        // which model made it
}

// Window is a span of time.
type Window struct{ From, To time.Time }

// Recorder keeps every camera's messages in the order received.
type Recorder struct {
	mu   sync.Mutex
	msgs map[string][]Arrival
}

// Subscribe records the tracks of every camera under prefix ("vigil").
func Subscribe(nc *nats.Conn, prefix string) (*Recorder, error) {
	r := &Recorder{msgs: map[string][]Arrival{}}
	_, err := nc.Subscribe(prefix+".*.tracks", func(m *nats.Msg) {
		at := time.Now()
		var tm struct {
			Camera    string             `json:"camera"`
			Seq       uint64             `json:"seq"`
			Model     string             `json:"model"`
			TimingsMS map[string]float64 `json:"timings_ms"`
		}
		if json.Unmarshal(m.Data, &tm) != nil {
			return
		}
		r.mu.Lock()
		r.msgs[tm.Camera] = append(r.msgs[tm.Camera], Arrival{Seq: tm.Seq, At: at, Model: tm.Model,
			Latency: time.Duration(tm.TimingsMS["total"] * float64(time.Millisecond))})
		r.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	return r, nc.Flush()
}

// Count is how many messages of camera arrived.
func (r *Recorder) Count(camera string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs[camera])
}

// First is camera's first message.
func (r *Recorder) First(camera string) (Arrival, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.msgs[camera]; len(m) > 0 {
		return m[0], true
	}
	return Arrival{}, false
}

// Since counts every camera's messages received after t, and says
// whether any of them was made by model.
func (r *Recorder) Since(t time.Time, model string) (n int, seen bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, msgs := range r.msgs {
		for _, m := range msgs {
			if m.At.After(t) {
				n++
				seen = seen || m.Model == model
			}
		}
	}
	return n, seen
}

// Gaps counts the seqs missing between camera's messages received within
// the windows (frames that never reached NATS there), and collects those
// messages' latencies.
func (r *Recorder) Gaps(camera string, ws []Window) (lost int, latencies []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs := r.msgs[camera]
	for _, w := range ws {
		var prev uint64
		for _, m := range msgs {
			if m.At.Before(w.From) {
				prev = m.Seq
				continue
			}
			if m.At.After(w.To) {
				break
			}
			if prev > 0 && m.Seq > prev+1 {
				lost += int(m.Seq - prev - 1)
			}
			prev = m.Seq
			latencies = append(latencies, m.Latency)
		}
	}
	return lost, latencies
}

// FreeAddr is a loopback address no one listens on now.
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
