package docker

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/plc"
)

// composeFile is the part of compose.yaml the tests read.
type composeFile struct {
	Services map[string]service `yaml:"services"`
}

type service struct {
	Image       string            `yaml:"image"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Environment map[string]string `yaml:"environment"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("compose.yaml: no services")
	}
	return c
}

// binds maps each file a service mounts from this folder to where it
// lands in the container.
func (s service) binds(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[0], "./") {
			continue // a named volume
		}
		if _, err := os.Stat(parts[0]); err != nil {
			t.Errorf("volume %q: %v", v, err)
		}
		m[parts[1]] = filepath.Clean(parts[0])
	}
	return m
}

// hostFile is the file of this folder that the service sees at path.
func (s service) hostFile(t *testing.T, name, path string) string {
	t.Helper()
	f, ok := s.binds(t)[path]
	if !ok {
		t.Fatalf("service %s reads %s, which none of its volumes mounts", name, path)
	}
	return f
}

// argAfter is the argument that follows flag in args.
func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// checkVigil is `vigil config check FILE`: Load, then the missing files
// as warnings (paths inside the container do not exist here).
func checkVigil(t *testing.T, file string) *config.Config {
	t.Helper()
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatalf("vigil config check %s:\n%v", file, err)
	}
	for _, w := range cfg.CheckFiles() {
		t.Logf("%s: warning (a path in the container): %v", file, w)
	}
	return cfg
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// TestComposeConfigs checks every config compose.yaml mounts, each with
// the loader of the program that reads it, and that the three boxes make
// one fleet: one cluster routed to each box by its service name, distinct
// names, and the ports compose publishes are the ones the boxes listen on.
func TestComposeConfigs(t *testing.T) {
	c := loadCompose(t)
	checked := map[string]bool{}
	var boxes []string
	for name, s := range c.Services {
		switch {
		case len(s.Entrypoint) > 0 && filepath.Base(s.Entrypoint[0]) == "vigil-plc":
			file := s.hostFile(t, name, argAfter(s.Command, "-config"))
			if _, err := plc.Load(file); err != nil {
				t.Errorf("vigil-plc -check -config %s:\n%v", file, err)
			}
			checked[file] = true
		case len(s.Command) > 0 && s.Command[0] == "run":
			file := s.hostFile(t, name, argAfter(s.Command, "--config"))
			checked[file] = true
			cfg := checkVigil(t, file)
			checkBox(t, name, s, cfg)
			boxes = append(boxes, name)
		case len(s.Command) > 2 && s.Command[0] == "cameras" && s.Command[1] == "apply":
			file := s.hostFile(t, name, s.Command[2])
			checked[file] = true
			if cfg := checkVigil(t, file); len(cfg.Cameras) == 0 {
				t.Errorf("%s names no cameras; vigil cameras apply refuses it", file)
			}
		default:
			t.Errorf("service %s: neither vigil run, vigil cameras apply nor vigil-plc; the test does not know its config", name)
		}
	}
	slices.Sort(boxes)
	if len(boxes) != 3 {
		t.Fatalf("boxes %v; the fleet in compose.yaml has three", boxes)
	}
	checkCluster(t, boxes)

	// Every config under fleet/ is one compose mounts, and so was checked.
	files, _ := filepath.Glob("fleet/*.yaml")
	for _, f := range files {
		if !checked[f] {
			t.Errorf("%s: no compose service mounts it, so nothing checks it", f)
		}
	}
}

// checkBox: a box's names are its service's, and compose publishes the
// ports it listens on.
func checkBox(t *testing.T, name string, s service, cfg *config.Config) {
	t.Helper()
	if !cfg.Fleet.Enabled || cfg.Fleet.Node != name || cfg.NATS.ServerName != name {
		t.Errorf("box %s: fleet.enabled %v, fleet.node %q, nats.server_name %q; want true and the service name",
			name, cfg.Fleet.Enabled, cfg.Fleet.Node, cfg.NATS.ServerName)
	}
	httpPort := port(t, cfg.HTTP.Listen)
	if want := "http://" + name + ":" + httpPort; cfg.Fleet.Advertise != want {
		t.Errorf("box %s: fleet.advertise %q; the other boxes reach it at %s", name, cfg.Fleet.Advertise, want)
	}
	if cfg.DataDir != "/data" {
		t.Errorf("box %s: data_dir %q; the image's volume is /data", name, cfg.DataDir)
	}
	for _, p := range s.Ports {
		parts := strings.Split(p, ":")
		inner := parts[len(parts)-1]
		if inner != httpPort && inner != port(t, cfg.NATS.Listen) {
			t.Errorf("box %s: compose publishes port %s, where nothing listens", name, inner)
		}
	}
}

// checkCluster: every box names the same cluster and routes to every box
// at its cluster port.
func checkCluster(t *testing.T, boxes []string) {
	t.Helper()
	var want []string
	cluster := ""
	for _, b := range boxes {
		cfg := checkVigil(t, filepath.Join("fleet", b+".yaml"))
		want = append(want, net.JoinHostPort(b, port(t, cfg.NATS.Cluster.Listen)))
		if cluster == "" {
			cluster = cfg.NATS.Cluster.Name
		}
		if cfg.NATS.Cluster.Name != cluster {
			t.Errorf("box %s: nats.cluster.name %q, another box %q", b, cfg.NATS.Cluster.Name, cluster)
		}
	}
	for _, b := range boxes {
		cfg := checkVigil(t, filepath.Join("fleet", b+".yaml"))
		routes := slices.Clone(cfg.NATS.Cluster.Routes)
		slices.Sort(routes)
		if !slices.Equal(routes, want) {
			t.Errorf("box %s: nats.cluster.routes %v; want %v", b, routes, want)
		}
	}
}

// TestImageConfig checks the config the image runs by default: valid,
// the demo (no cameras), listening inside the container on every
// interface, state on the volume, and the path the Dockerfile names.
func TestImageConfig(t *testing.T) {
	cfg := checkVigil(t, "vigil.yaml")
	if len(cfg.Cameras) != 0 || cfg.Fleet.Enabled {
		t.Errorf("vigil.yaml: %d cameras, fleet %v; the image's default is the demo", len(cfg.Cameras), cfg.Fleet.Enabled)
	}
	if cfg.HTTP.Listen != "0.0.0.0:8080" || cfg.NATS.Listen != "0.0.0.0:4222" || cfg.DataDir != "/data" {
		t.Errorf("vigil.yaml: http.listen %q, nats.listen %q, data_dir %q; want 0.0.0.0:8080, 0.0.0.0:4222, /data",
			cfg.HTTP.Listen, cfg.NATS.Listen, cfg.DataDir)
	}
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		"COPY docker/vigil.yaml /etc/vigil/vigil.yaml",
		`CMD ["run", "--config", "/etc/vigil/vigil.yaml"]`,
		"VOLUME /data",
		"EXPOSE 8080 4222",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile has no %q", want)
		}
	}
}
