package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/alerts"
)

// streamEvents is what the events stream holds at the end.
type streamEvents struct {
	msgs     int            // messages read
	ids      map[string]int // event id → messages carrying it
	byCamera map[string]int
	byType   map[string]int // rule/type
	bad      []string       // messages that are not events of this soak
}

// readEvents reads the whole events stream with an ordered consumer.
func readEvents(url string) (streamEvents, error) {
	ev := streamEvents{ids: map[string]int{}, byCamera: map[string]int{}, byType: map[string]int{}}
	nc, err := nats.Connect(url)
	if err != nil {
		return ev, fmt.Errorf("read the events stream: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return ev, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, alerts.DefaultStream)
	if err != nil {
		return ev, fmt.Errorf("stream %s: %w", alerts.DefaultStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return ev, fmt.Errorf("stream %s: %w", alerts.DefaultStream, err)
	}
	want := int(info.State.Msgs)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{alerts.EventsFilter(alerts.DefaultPrefix)}})
	if err != nil {
		return ev, fmt.Errorf("stream %s: ordered consumer: %w", alerts.DefaultStream, err)
	}
	for ev.msgs < want {
		batch, err := cons.Fetch(min(want-ev.msgs, 500), jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			return ev, fmt.Errorf("stream %s: fetch after %d of %d: %w", alerts.DefaultStream, ev.msgs, want, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			ev.msgs++
			var e alerts.Message
			if err := json.Unmarshal(m.Data(), &e); err != nil || e.ID == "" {
				ev.bad = append(ev.bad, fmt.Sprintf("%s: %.120s", m.Subject(), m.Data()))
				continue
			}
			if m.Subject() != alerts.EventSubject(alerts.DefaultPrefix, e.Camera, e.Rule) || m.Headers().Get(jetstream.MsgIDHeader) != e.ID {
				ev.bad = append(ev.bad, fmt.Sprintf("%s (Nats-Msg-Id %q): %.120s", m.Subject(), m.Headers().Get(jetstream.MsgIDHeader), m.Data()))
			}
			ev.ids[e.ID]++
			ev.byCamera[e.Camera]++
			ev.byType[e.Rule+"/"+string(e.Type)]++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return ev, fmt.Errorf("stream %s: fetch after %d of %d: %w", alerts.DefaultStream, ev.msgs, want, err)
		}
		if got == 0 {
			return ev, fmt.Errorf("stream %s: nothing more after %d of %d messages", alerts.DefaultStream, ev.msgs, want)
		}
	}
	return ev, nil
}

// idCheck compares the ids in the stream with the events vigil accepted.
// vigil names its events <process prefix>-<n>, n counting from 1 in
// accepting order (alerts.Publisher.NextID), so that the n that should be
// there are 1 … accepted.
type idCheck struct {
	prefixes   []string // one per vigil process; the soak runs one
	duplicated int      // ids in more than one message
	missing    []uint64 // n in 1 … accepted not in the stream
	beyond     []uint64 // n above accepted
	unparsed   int
}

func checkIDs(ids map[string]int, accepted uint64) idCheck {
	var c idCheck
	seen := map[uint64]bool{}
	prefixes := map[string]bool{}
	for id, k := range ids {
		if k > 1 {
			c.duplicated++
		}
		i := strings.LastIndexByte(id, '-')
		n, err := strconv.ParseUint(id[i+1:], 10, 64)
		if i < 0 || err != nil {
			c.unparsed++
			continue
		}
		prefixes[id[:i]] = true
		seen[n] = true
		if n > accepted {
			c.beyond = append(c.beyond, n)
		}
	}
	for p := range prefixes {
		c.prefixes = append(c.prefixes, p)
	}
	sort.Strings(c.prefixes)
	sort.Slice(c.beyond, func(i, j int) bool { return c.beyond[i] < c.beyond[j] })
	for n := uint64(1); n <= accepted; n++ {
		if !seen[n] {
			c.missing = append(c.missing, n)
		}
	}
	return c
}

// ranges writes 1,2,3,7 as "1-3 7", at most max ranges.
func ranges(ns []uint64, max int) string {
	var out []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if i == j {
			out = append(out, strconv.FormatUint(ns[i], 10))
		} else {
			out = append(out, fmt.Sprintf("%d-%d", ns[i], ns[j]))
		}
		i = j + 1
		if len(out) == max && i < len(ns) {
			out = append(out, "…")
			break
		}
	}
	return strings.Join(out, " ")
}
