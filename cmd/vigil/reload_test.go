package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

type healthz struct {
	Ready  bool `json:"ready"`
	Config struct {
		Generation uint64 `json:"generation"`
		LastReload *struct {
			Outcome string `json:"outcome"`
			Error   string `json:"error"`
		} `json:"last_reload"`
	} `json:"config"`
}

func getHealth(t *testing.T, base string) healthz {
	t.Helper()
	_, body := httpGet(base + "/healthz")
	var h healthz
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/healthz: %s", body)
	}
	return h
}

func cameraIDs(t *testing.T, base string) string {
	_, body := httpGet(base + "/api/cameras")
	var cams []map[string]any
	json.Unmarshal([]byte(body), &cams)
	var ids []string
	for _, c := range cams {
		ids = append(ids, fmt.Sprint(c["camera"]))
	}
	return strings.Join(ids, ",")
}

// TestReloadOnSIGHUPAndCommand: the real binary follows its config file on
// SIGHUP and on `vigil reload`; a broken file changes nothing and says so;
// it stops with no Mat left after cameras came and went.
func TestReloadOnSIGHUPAndCommand(t *testing.T) {
	httpAddr := freeAddr(t)
	head := fmt.Sprintf("data_dir: %s\nnats: {listen: %q}\nhttp: {listen: %q}\nmodel: {intra_op_threads: 1}\ncameras:\n", t.TempDir(), freeAddr(t), httpAddr)
	cam := func(id string, fps int, more ...string) string {
		return fmt.Sprintf("  - {id: %s, url: testsrc, fps: %d, width: 320, height: 240%s}\n", id, fps, strings.Join(more, ""))
	}
	file := writeFile(t, "vigil.yaml", head+cam("a", 5)+cam("b", 5))
	p := start(t, "run", "--config", file, "--log-format", "json")
	base := "http://" + httpAddr
	waitUntil(t, "/healthz ready", func() bool { c, _ := httpGet(base + "/healthz"); return c == 200 })

	rule := ", rules: [{name: door, type: zone, points: [[0, 0], [100, 0], [100, 100]]}]"
	os.WriteFile(file, []byte(head+cam("a", 5)+cam("c", 5, rule)), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "cameras a and c", func() bool { return cameraIDs(t, base) == "a,c" })
	if h := getHealth(t, base); h.Config.Generation != 2 || h.Config.LastReload == nil || h.Config.LastReload.Outcome != "applied" {
		t.Errorf("/healthz after SIGHUP: %+v", h.Config)
	}
	waitUntil(t, "the change logged", func() bool { return p.find("configuration applied") != nil })
	if l := p.find("configuration applied"); fmt.Sprint(l["added"]) != "[c]" || fmt.Sprint(l["removed"]) != "[b]" || l["generation"] != float64(2) {
		t.Errorf("log line %v", l)
	}

	os.WriteFile(file, []byte(head+cam("a", 5)+"  - {id: d, url: testsrc, fpss: 5}\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "the broken file refused", func() bool {
		h := getHealth(t, base)
		return h.Config.LastReload != nil && h.Config.LastReload.Outcome == "failed"
	})
	if h := getHealth(t, base); h.Config.Generation != 2 || !strings.Contains(h.Config.LastReload.Error, "cameras[1].fpss") || cameraIDs(t, base) != "a,c" {
		t.Errorf("after a broken file: %+v, cameras %s", h.Config, cameraIDs(t, base))
	}
	out, err := exec.Command(vigilBin, "reload", "--config", file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cameras[1].fpss") {
		t.Errorf("vigil reload of a broken file: %v\n%s", err, out)
	}

	os.WriteFile(file, []byte("log_level: warn\n"+head+cam("a", 8)+cam("c", 5, rule)), 0o644)
	out, err = exec.Command(vigilBin, "reload", "--config", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"reconnected": [`) || !strings.Contains(string(out), `"generation": 3`) || !strings.Contains(string(out), `"log_level": "warn"`) {
		t.Errorf("vigil reload: %v\n%s", err, out)
	}
	out, err = exec.Command(vigilBin, "reload", "--url", "127.0.0.1:1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "127.0.0.1:1") {
		t.Errorf("vigil reload of nothing: %v\n%s", err, out)
	}

	// Back to info: the change to warn was not logged at info, this one is.
	os.WriteFile(file, []byte(head+cam("a", 8)+cam("c", 5, rule)), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "generation 4", func() bool { return getHealth(t, base).Config.Generation == 4 })
	waitUntil(t, "generation 4 logged", func() bool { return strings.Contains(p.log(), `"generation":4`) })
	if strings.Contains(p.log(), `"generation":3`) {
		t.Error("the change to log_level warn was logged at info")
	}

	p.cmd.Process.Signal(syscall.SIGINT)
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}
	st := p.find("vigil stopped")
	if st == nil || st["mats_open"] != float64(0) || st["config_generation"] != float64(4) {
		t.Errorf("stopped line %v", st)
	}
}

// TestWatchedConfigFile: with --watch, a change to the file is applied
// without a signal.
func TestWatchedConfigFile(t *testing.T) {
	httpAddr := freeAddr(t)
	head := fmt.Sprintf("data_dir: %s\nnats: {listen: %q}\nhttp: {listen: %q}\nmodel: {intra_op_threads: 1}\ncameras:\n", t.TempDir(), freeAddr(t), httpAddr)
	file := writeFile(t, "vigil.yaml", head+"  - {id: a, url: testsrc, fps: 5, width: 160, height: 120}\n")
	p := start(t, "run", "--config", file, "--watch", "--log-format", "json")
	base := "http://" + httpAddr
	waitUntil(t, "/healthz ready", func() bool { c, _ := httpGet(base + "/healthz"); return c == 200 })
	os.WriteFile(file, []byte(head+"  - {id: b, url: testsrc, fps: 5, width: 160, height: 120}\n"), 0o644)
	waitUntil(t, "camera b instead of a", func() bool { return cameraIDs(t, base) == "b" })
	if l := p.find("config file changed; reloading"); l == nil {
		t.Error("the change was not logged")
	}
}
