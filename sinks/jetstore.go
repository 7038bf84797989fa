package sinks

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// StoreError says why JetStream cannot store now ("" while it can): a
// stream's write error, as a full disk leaves it, or JetStream turned off
// by the server.
//
// nats-server (2.15) keeps a stream's first write error for good: the
// stream answers no later publish, so publishers time out, even once the
// disk has room again. A standalone server is mended here: once its
// store's file system has EmbeddedOptions.StoreMinFree bytes free,
// JetStream is stopped and started again, which reloads the streams from
// disk, nothing they acknowledged lost. In a cluster, running out of space
// turns the server's JetStream off instead, and it stays off; starting it
// again from here brings the streams back but leaves a stream store of
// the server's running that nothing stops (4 tries in 6, nats-server
// 2.15.2), so vigil does not: StoreError says so until vigil restarts.
func (e *Embedded) StoreError() string {
	if p := e.storeErr.Load(); p != nil {
		return *p
	}
	return ""
}

// restartGap spaces JetStream's restarts: a store that keeps failing for
// another reason than room (a broken disk) is not restarted in a loop.
const restartGap = 30 * time.Second

// storeWatch checks JetStream's store and, when it may, restarts
// JetStream after a write error.
type storeWatch struct {
	e         *Embedded
	dir       string // EmbeddedOptions.StoreDir: the server adds jetstream/
	cfg       server.JetStreamConfig
	every     time.Duration
	minFree   int64
	clustered bool
	log       zerolog.Logger
	fault     string
	restarted time.Time
}

func (w *storeWatch) run() {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-w.e.quit:
			return
		case <-t.C:
		}
		w.check()
	}
}

func (w *storeWatch) check() {
	fault := w.storeFault()
	if fault == "" {
		if w.fault != "" {
			w.log.Info().Str("store", w.dir).Msg("JetStream stores again")
			w.set("")
		}
		return
	}
	if w.fault == "" {
		hint := "vigil restarts JetStream once its disk has room again, and events wait until then"
		if w.clustered {
			hint = "in a cluster vigil does not restart it: give the disk room, then restart vigil; events wait until then"
		}
		w.log.Error().Str("store", w.dir).Int64("min_free_bytes", w.minFree).Msgf("JETSTREAM CANNOT STORE: %s; %s", fault, hint)
		w.set(fault)
	}
	if w.clustered || time.Since(w.restarted) < restartGap {
		return
	}
	free, err := freeBytes(w.dir)
	if err != nil || free < w.minFree {
		return
	}
	w.restarted = time.Now()
	if err := w.restartJetStream(); err != nil {
		w.log.Error().Err(err).Str("store", w.dir).Msgf("JetStream not restarted; trying again in %s", restartGap)
		return
	}
	if fault := w.storeFault(); fault != "" {
		w.set(fault)
		return
	}
	w.log.Info().Str("store", w.dir).Int64("free_bytes", free).
		Msg("JetStream restarted after its store failed: it stores again, its streams reloaded from disk")
	w.set("")
}

func (w *storeWatch) set(fault string) {
	w.fault = fault
	if fault == "" {
		w.e.storeErr.Store(nil)
	} else {
		w.e.storeErr.Store(&fault)
	}
}

// storeFault asks the server whether JetStream is off or a stream has a
// write error; the server tells only in words.
func (w *storeWatch) storeFault() string {
	srv := w.e.srv
	if !srv.JetStreamEnabled() {
		return "JetStream is off (nats-server turns it off when it runs out of disk in a cluster, or cannot write its store)"
	}
	h := srv.Healthz(&server.HealthzOptions{Details: true})
	for _, he := range h.Errors {
		if strings.Contains(he.Error, "write error") {
			return he.Error
		}
	}
	return ""
}

// restartJetStream stops JetStream and starts it again as it was
// configured at start: the streams are loaded from the store again, which
// clears their write errors.
func (w *storeWatch) restartJetStream() error {
	srv := w.e.srv
	if srv.JetStreamEnabled() {
		if err := srv.ShutdownJetStream(); err != nil {
			return fmt.Errorf("stop JetStream: %w", err)
		}
	}
	cfg := w.cfg
	cfg.StoreDir = w.dir // with MaxMemory and MaxStore set, the server adds jetstream/ as at start
	if err := srv.EnableJetStream(&cfg); err != nil {
		return fmt.Errorf("start JetStream: %w", err)
	}
	return nil
}
