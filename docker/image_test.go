//go:build linux && imagetest

package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// imageConfig is the part of an image's configuration a runtime uses.
type imageConfig struct {
	User        string              `json:"User"`
	Env         []string            `json:"Env"`
	Entrypoint  []string            `json:"Entrypoint"`
	Cmd         []string            `json:"Cmd"`
	WorkingDir  string              `json:"WorkingDir"`
	Volumes     map[string]struct{} `json:"Volumes"`
	Healthcheck *struct {
		Test []string `json:"Test"`
	} `json:"Healthcheck"`
}

// container is an image's filesystem, run the way a container runtime
// would start it, minus cgroups and the network (the test's own network
// namespace stands in, see scripts/image.sh): a private mount and PID
// namespace, chroot, the image's user, environment and working directory.
type container struct {
	root   string
	cfg    imageConfig
	uid    int
	gid    int
	groups []int
	home   string
	data   string // the host folder mounted on /data
}

// TestImage checks the image `make image` built, named by
// VIGIL_TEST_IMAGE (engine: VIGIL_TEST_ENGINE, podman or docker): its
// configuration, its packages (no -dev, no compiler), that every library
// resolves, `vigil version`, and the default command: the demo answers
// /healthz, streams its camera, publishes tracks with objects on NATS,
// runs as the image's non-root user, and stops cleanly on SIGTERM. Needs
// root; `make test-image` runs it in a network namespace of its own, so
// the demo's ports cannot meet a vigil running on this machine.
func TestImage(t *testing.T) {
	image := os.Getenv("VIGIL_TEST_IMAGE")
	if image == "" {
		t.Fatal("VIGIL_TEST_IMAGE is not set: make test-image builds the image and runs this test with it")
	}
	if os.Geteuid() != 0 {
		t.Fatal("TestImage mounts and chroots: run it as root (make test-image)")
	}
	engine := os.Getenv("VIGIL_TEST_ENGINE")
	if engine == "" {
		engine = "podman"
	}
	c := openImage(t, engine, image)

	t.Run("config", func(t *testing.T) { checkImageConfig(t, c) })
	t.Run("packages", func(t *testing.T) { checkPackages(t, c) })
	t.Run("ldd", func(t *testing.T) {
		for _, f := range []string{"/usr/local/bin/vigil", "/usr/local/bin/vigil-plc", "/opt/vigil/lib/libonnxruntime.so.1"} {
			out, err := exec.Command("chroot", c.root, "ldd", f).CombinedOutput()
			if err != nil || bytes.Contains(out, []byte("not found")) {
				t.Errorf("ldd %s: %v\n%s", f, err, out)
			}
		}
	})
	t.Run("version", func(t *testing.T) {
		out, err := c.output(t, append(slices.Clone(c.cfg.Entrypoint), "version")...)
		if err != nil {
			t.Fatalf("vigil version: %v\n%s", err, out)
		}
		t.Logf("vigil version:\n%s", out)
		for _, want := range []string{"vigil ", "opencv 4.6", "onnxruntime 1.30.0 (/opt/vigil/lib/libonnxruntime.so.1)"} {
			if !strings.Contains(out, want) {
				t.Errorf("vigil version has no %q:\n%s", want, out)
			}
		}
	})
	t.Run("config check", func(t *testing.T) {
		if out, err := c.output(t, "/usr/local/bin/vigil", "config", "check", "/etc/vigil/vigil.yaml"); err != nil || !strings.Contains(out, "ok") {
			t.Errorf("vigil config check /etc/vigil/vigil.yaml: %v\n%s", err, out)
		}
	})
	t.Run("demo", func(t *testing.T) { checkDemo(t, c) })
}

// openImage reads the image's configuration and gives the test its
// filesystem: a container's (podman create + mount), or an export of one
// (docker), removed at the end.
func openImage(t *testing.T, engine, image string) *container {
	t.Helper()
	out, err := exec.Command(engine, "image", "inspect", image).Output()
	if err != nil {
		t.Fatalf("%s image inspect %s: %v (make image builds it)", engine, image, err)
	}
	var inspected []struct {
		Config      imageConfig `json:"Config"`
		HealthCheck *struct {
			Test []string `json:"Test"`
		} `json:"HealthCheck"` // podman's place for it
		Size int64 `json:"Size"`
	}
	if err := json.Unmarshal(out, &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("%s image inspect %s: %v", engine, image, err)
	}
	c := &container{cfg: inspected[0].Config}
	if c.cfg.Healthcheck == nil {
		c.cfg.Healthcheck = inspected[0].HealthCheck
	}
	t.Logf("image %s: %d MB", image, inspected[0].Size/1e6)

	id := strings.TrimSpace(run(t, engine, "create", image))
	t.Cleanup(func() { exec.Command(engine, "rm", "-f", id).Run() })
	if engine == "podman" {
		c.root = strings.TrimSpace(run(t, engine, "mount", id))
		t.Cleanup(func() { exec.Command(engine, "umount", id).Run() })
	} else {
		c.root = t.TempDir()
		exp := exec.Command(engine, "export", id)
		untar := exec.Command("tar", "-x", "-C", c.root)
		pipe, _ := exp.StdoutPipe()
		untar.Stdin = pipe
		if err := untar.Start(); err != nil {
			t.Fatal(err)
		}
		if err := exp.Run(); err != nil {
			t.Fatalf("%s export: %v", engine, err)
		}
		if err := untar.Wait(); err != nil {
			t.Fatalf("untar the export: %v", err)
		}
	}
	c.uid, c.gid, c.groups, c.home = lookupUser(t, c.root, c.cfg.User)
	c.data = t.TempDir()
	if err := os.Chown(c.data, c.uid, c.gid); err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// lookupUser resolves the image's USER (name or uid[:gid]) in the image's
// own /etc/passwd and /etc/group, as a runtime does.
func lookupUser(t *testing.T, root, user string) (uid, gid int, groups []int, home string) {
	t.Helper()
	name, group, _ := strings.Cut(user, ":")
	var found bool
	each(t, filepath.Join(root, "etc/passwd"), func(f []string) {
		if len(f) >= 6 && (f[0] == name || f[2] == name) {
			uid, _ = strconv.Atoi(f[2])
			gid, _ = strconv.Atoi(f[3])
			name, home, found = f[0], f[5], true
		}
	})
	if !found {
		if n, err := strconv.Atoi(name); err == nil {
			uid, gid, home = n, n, "/"
		} else {
			t.Fatalf("USER %q is not in the image's /etc/passwd", user)
		}
	}
	each(t, filepath.Join(root, "etc/group"), func(f []string) {
		if len(f) < 4 {
			return
		}
		id, _ := strconv.Atoi(f[2])
		if group != "" && (f[0] == group || f[2] == group) {
			gid = id
		}
		if slices.Contains(strings.Split(f[3], ","), name) {
			groups = append(groups, id)
		}
	})
	return uid, gid, groups, home
}

func each(t *testing.T, file string, fn func([]string)) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		fn(strings.Split(line, ":"))
	}
}

// The host side of a container's start: the namespaces are made by
// unshare, the mounts by this script, then chroot drops to the user.
const startScript = `set -e
r=$1 data=$2 user=$3 groups=$4 wd=$5
shift 5
mount -t proc proc "$r/proc"
mount --rbind /dev "$r/dev"
mount --rbind /sys "$r/sys"
mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
mount --bind "$data" "$r/data"
exec chroot --userspec="$user" --groups="$groups" "$r" /bin/sh -c 'cd "$0" && exec "$@"' "$wd" "$@"
`

// command runs argv in the container, with extra environment.
func (c *container) command(ctx context.Context, env []string, argv ...string) *exec.Cmd {
	groups := make([]string, 0, len(c.groups)+1)
	for _, g := range append([]int{c.gid}, c.groups...) {
		groups = append(groups, strconv.Itoa(g))
	}
	wd := c.cfg.WorkingDir
	if wd == "" {
		wd = "/"
	}
	args := append([]string{"--mount", "--pid", "--fork", "--propagation", "private", "--",
		"/bin/sh", "-c", startScript, "start", c.root, c.data,
		fmt.Sprintf("%d:%d", c.uid, c.gid), strings.Join(groups, ","), wd}, argv...)
	cmd := exec.CommandContext(ctx, "unshare", args...)
	// As runtimes do: HOME from the user's passwd entry unless the image
	// sets it.
	cmd.Env = slices.Clone(c.cfg.Env)
	if !slices.ContainsFunc(cmd.Env, func(e string) bool { return strings.HasPrefix(e, "HOME=") }) {
		cmd.Env = append(cmd.Env, "HOME="+c.home)
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func (c *container) output(t *testing.T, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.command(ctx, nil, argv...).CombinedOutput()
	return string(out), err
}

func checkImageConfig(t *testing.T, c *container) {
	if c.uid == 0 || c.cfg.User == "" || c.cfg.User == "root" {
		t.Errorf("USER %q (uid %d): the image must not run as root", c.cfg.User, c.uid)
	}
	if _, ok := c.cfg.Volumes["/data"]; !ok {
		t.Errorf("volumes %v; want /data", c.cfg.Volumes)
	}
	if c.cfg.Healthcheck == nil || !slices.Contains(c.cfg.Healthcheck.Test, "/usr/local/bin/vigil-healthz") {
		t.Errorf("healthcheck %+v; want vigil-healthz (build with --format docker under podman)", c.cfg.Healthcheck)
	}
	if got := append(slices.Clone(c.cfg.Entrypoint), c.cfg.Cmd...); !slices.Equal(got, []string{"/usr/local/bin/vigil", "run", "--config", "/etc/vigil/vigil.yaml"}) {
		t.Errorf("entrypoint and cmd %q; want vigil run --config /etc/vigil/vigil.yaml", got)
	}
	if !slices.Contains(c.cfg.Env, "VIGIL_DEPS_DIR=/opt/vigil") {
		t.Errorf("env %q has no VIGIL_DEPS_DIR=/opt/vigil", c.cfg.Env)
	}
	if fi, err := os.Stat(filepath.Join(c.root, "data")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(c.uid) {
		t.Errorf("/data in the image: %v; want a folder the user %d owns", err, c.uid)
	}
}

// checkPackages: nothing to build with is left, and says what takes the
// space.
func checkPackages(t *testing.T, c *container) {
	out, err := exec.Command("chroot", c.root, "dpkg-query", "-W", "-f", "${Package}\t${Installed-Size}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query in the image: %v", err)
	}
	type pkg struct {
		name string
		kb   int
	}
	var pkgs []pkg
	total := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, size, _ := strings.Cut(line, "\t")
		kb, _ := strconv.Atoi(size)
		pkgs = append(pkgs, pkg{name, kb})
		total += kb
		if strings.HasSuffix(name, "-dev") || strings.Contains(name, "-dev:") {
			t.Errorf("package %s in the runtime image", name)
		}
	}
	for _, bin := range []string{"cc", "gcc", "g++", "c++", "cpp", "clang", "ld", "as", "go"} {
		for _, dir := range []string{"usr/bin", "usr/local/bin", "usr/local/go/bin"} {
			if _, err := os.Lstat(filepath.Join(c.root, dir, bin)); err == nil {
				t.Errorf("/%s/%s in the runtime image", dir, bin)
			}
		}
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].kb > pkgs[j].kb })
	var top []string
	for _, p := range pkgs[:min(15, len(pkgs))] {
		top = append(top, fmt.Sprintf("%s %.1f", p.name, float64(p.kb)/1024))
	}
	t.Logf("%d packages, %d MB installed; largest (MB): %s", len(pkgs), total/1024, strings.Join(top, ", "))
	for _, d := range []string{"opt/vigil", "usr/local/bin"} {
		out, _ := exec.Command("du", "-sh", filepath.Join(c.root, d)).Output()
		t.Logf("/%s: %s", d, strings.Fields(string(out) + " ?")[0])
	}
}

// checkDemo runs the image's default command with an HTTP token set and
// checks what a user of the demo sees.
func checkDemo(t *testing.T, c *container) {
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:4222"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is taken here (%v): run TestImage in a network namespace of its own, as make test-image does", addr, err)
		}
		ln.Close()
	}
	const token = "image-test-token"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	argv := append(slices.Clone(c.cfg.Entrypoint), c.cfg.Cmd...)
	cmd := c.command(ctx, []string{"VIGIL_HTTP_TOKEN=" + token}, argv...)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("vigil's log:\n%s", logs.tail(6000))
		}
	}()
	pid := childOf(t, cmd.Process.Pid)
	defer syscall.Kill(pid, syscall.SIGKILL) // PID 1 of its namespace: all go with it

	base := "http://127.0.0.1:8080"
	deadline := time.Now().Add(4 * time.Minute) // model load and first frames, on 2 busy cores
	wait := func(what string, ok func() (bool, string)) {
		t.Helper()
		last := ""
		for time.Now().Before(deadline) {
			select {
			case err := <-exited:
				t.Fatalf("vigil exited while waiting for %s: %v", what, err)
			default:
			}
			var done bool
			if done, last = ok(); done {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("no %s: %s", what, last)
	}
	get := func(path, tok string) (int, []byte) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	wait("/healthz 200", func() (bool, string) {
		code, b := get("/healthz", "")
		return code == 200, fmt.Sprintf("%d %s", code, b)
	})
	if code, _ := get("/api/cameras", ""); code != http.StatusUnauthorized {
		t.Errorf("/api/cameras without the token: %d; want 401", code)
	}
	wait("demo camera streaming in /api/cameras", func() (bool, string) {
		code, b := get("/api/cameras", token)
		var cams []struct {
			Camera    string `json:"camera"`
			State     string `json:"state"`
			Processed uint64 `json:"processed"`
		}
		if code != 200 || json.Unmarshal(b, &cams) != nil {
			return false, fmt.Sprintf("%d %s", code, b)
		}
		for _, cam := range cams {
			if cam.Camera == "demo" && cam.State == "streaming" && cam.Processed > 0 {
				return true, ""
			}
		}
		return false, string(b)
	})

	nc, err := nats.Connect("nats://127.0.0.1:4222", nats.Timeout(10*time.Second))
	if err != nil {
		t.Fatalf("NATS in the container: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("vigil.*.tracks")
	if err != nil {
		t.Fatal(err)
	}
	wait("tracks message with objects on vigil.demo.tracks", func() (bool, string) {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			return false, err.Error()
		}
		var tr struct {
			Schema  string            `json:"schema"`
			Camera  string            `json:"camera"`
			Objects []json.RawMessage `json:"objects"`
		}
		if err := json.Unmarshal(m.Data, &tr); err != nil {
			return false, err.Error()
		}
		if m.Subject != "vigil.demo.tracks" || tr.Schema != "vigil.tracks/v1" || tr.Camera != "demo" {
			t.Fatalf("message on %s: %s", m.Subject, m.Data)
		}
		if len(tr.Objects) > 0 {
			t.Logf("%s: %d objects, e.g. %s", m.Subject, len(tr.Objects), tr.Objects[0])
		}
		return len(tr.Objects) > 0, string(m.Data)
	})

	// The image's HEALTHCHECK, run beside it as the runtime would.
	if hc := c.cfg.Healthcheck; hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" {
		t.Errorf("HEALTHCHECK %+v; want CMD vigil-healthz", hc)
	} else if out, err := c.output(t, hc.Test[1:]...); err != nil {
		t.Errorf("HEALTHCHECK %q: %v\n%s", hc.Test, err, out)
	}

	status := procStatus(t, pid)
	if status["Uid"] != strings.Repeat(strconv.Itoa(c.uid)+"\t", 3)+strconv.Itoa(c.uid) {
		t.Errorf("vigil runs with Uid %q; want %d (the image's user)", status["Uid"], c.uid)
	}
	if ns := strings.Fields(status["NSpid"]); len(ns) != 2 || ns[1] != "1" {
		t.Errorf("NSpid %q; want vigil as PID 1 of its namespace", status["NSpid"])
	}
	t.Logf("vigil: pid %d here, NSpid %q, Uid %q, Groups %q", pid, status["NSpid"], status["Uid"], status["Groups"])
	if fi, err := os.Stat(filepath.Join(c.data, "jetstream")); err != nil {
		entries, _ := os.ReadDir(c.data)
		t.Errorf("no JetStream store on the /data volume (%v); it holds %v", err, entries)
	} else if fi.Sys().(*syscall.Stat_t).Uid != uint32(c.uid) {
		t.Errorf("/data/jetstream is not the user's")
	}

	// docker stop: SIGTERM to PID 1, a clean exit.
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("vigil after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("vigil still runs 60 s after SIGTERM")
	}
}

// childOf waits for unshare's forked child: vigil, once it has exec'd.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if f := strings.Fields(string(b)); len(f) > 0 {
			child, _ := strconv.Atoi(f[0])
			return child
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("unshare (%d) started no process", pid)
	return 0
}

func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, _ := strings.Cut(s.Text(), ":")
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// syncBuffer collects a process's output for a failure report.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	return string(b[max(0, len(b)-n):])
}
