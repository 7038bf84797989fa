package node

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/modelstore"
)

// A detector whose model: names a store model (store: NAME or NAME@VERSION)
// runs a local copy of that version, fetched and checked by sha256 into
// <data_dir>/model-cache. The store is the NATS one (VIGIL_MODELS) when
// JetStream answers, else the folder <data_dir>/models.
//
// A detector that follows a name (no @VERSION) is swapped when another
// version is promoted or rolled back to: a watch of the name applies the
// running configuration again, which fetches the promoted version, loads
// it beside the running one, checks the rules' classes against its labels,
// and swaps it in between two frames (Change). A version that cannot be
// fetched or loaded, or that lacks a class a rule names, changes nothing:
// the running model goes on, and the refusal is in the log and in
// /api/config/status. Every later change of the name tries again.

// storeModels holds the model store and the watches of the followed names.
type storeModels struct {
	mu      sync.Mutex
	store   modelstore.Store
	watches map[string]context.CancelFunc // followed name → its watch
}

// modelStore opens the store once: NATS when JetStream answers, else the
// folder under data_dir.
func (n *Node) modelStore(cfg *config.Config) (modelstore.Store, error) {
	n.store.mu.Lock()
	defer n.store.mu.Unlock()
	if n.store.store != nil {
		return n.store.store, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var s modelstore.Store
	js, err := jetstream.New(n.nc)
	if err == nil {
		_, err = js.AccountInfo(ctx)
	}
	if err == nil {
		s, err = modelstore.OpenNATS(ctx, js, modelstore.Options{Replicas: fleetReplicas(cfg), TempDir: filepath.Join(cfg.DataDir, "model-cache")})
	} else {
		n.log.Info().Err(err).Str("dir", filepath.Join(cfg.DataDir, "models")).Msg("model store: no JetStream; using the folder")
		s, err = modelstore.OpenDir(filepath.Join(cfg.DataDir, "models"))
	}
	if err != nil {
		return nil, fmt.Errorf("model store: %w", err)
	}
	n.store.store = s
	return s, nil
}

// resolveModel fetches the version m.Store names into the cache and points
// m.Path at it.
func (n *Node) resolveModel(cfg *config.Config, m *config.Model) (modelstore.Version, error) {
	name, version, err := modelstore.ParseRef(m.Store)
	if err != nil {
		return modelstore.Version{}, err
	}
	s, err := n.modelStore(cfg)
	if err != nil {
		return modelstore.Version{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	path, v, err := s.Fetch(ctx, name, version, filepath.Join(cfg.DataDir, "model-cache"))
	if err != nil {
		return modelstore.Version{}, err
	}
	m.Path = path
	return v, nil
}

// runsOtherThan says whether a detector following name runs another
// version than promoted.
func (n *Node) runsOtherThan(name string, promoted int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, d := range n.dets {
		if d.follows == name && d.version != promoted {
			return true
		}
	}
	return false
}

// followModels watches the names cfg's detectors follow, and stops the
// watches of names no detector follows any more.
func (n *Node) followModels(cfg *config.Config) {
	want := map[string]bool{}
	for _, d := range cfg.DetectorModels() {
		if name, version, err := modelstore.ParseRef(d.Model.Store); d.Model.Store != "" && err == nil && version == 0 {
			want[name] = true
		}
	}
	n.store.mu.Lock()
	defer n.store.mu.Unlock()
	if n.store.watches == nil {
		n.store.watches = map[string]context.CancelFunc{}
	}
	for name, stop := range n.store.watches {
		if !want[name] {
			stop()
			delete(n.store.watches, name)
		}
	}
	store := n.store.store
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	}) {
		if _, ok := n.store.watches[name]; ok || store == nil {
			continue
		}
		ctx, stop := context.WithCancel(context.Background())
		n.store.watches[name] = stop
		go n.watchModel(ctx, store, name)
	}
}

// watchModel applies the running configuration again whenever name's
// promoted version is another than the one its detectors run.
func (n *Node) watchModel(ctx context.Context, store modelstore.Store, name string) {
	log := n.log.With().Str("model", name).Logger()
	for ctx.Err() == nil {
		entries, err := store.Watch(ctx, name)
		if err != nil {
			log.Warn().Err(err).Msg("model store: cannot watch; trying again in 5s")
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
			continue
		}
		for e := range entries {
			n.noteEntry(e)
			if e.Promoted != 0 && n.runsOtherThan(name, e.Promoted) {
				log.Info().Int("promoted", e.Promoted).Msg("model store: another version promoted; swapping it in")
				if _, err := n.Change("model-store", func(cur *config.Config) (*config.Config, error) { return cur, nil }); err != nil {
					log.Error().Err(err).Int("promoted", e.Promoted).Msg("model store: the promoted version was refused; the running one goes on")
				}
			}
			n.mu.Lock()
			if !n.closed {
				n.syncShadowsLocked()
			}
			n.mu.Unlock()
		}
		// The watch ended without ctx (its connection went away): watch
		// again, not at once.
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// stopModels ends every watch.
func (n *Node) stopModels() {
	n.store.mu.Lock()
	defer n.store.mu.Unlock()
	for name, stop := range n.store.watches {
		stop()
		delete(n.store.watches, name)
	}
}
