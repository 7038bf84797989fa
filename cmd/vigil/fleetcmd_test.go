package main

import (
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/internal/natstest"
)

// TestCamerasApplyListRemove: the fleet's cameras from the command line;
// a file with a mistake stores nothing and says where the mistake is.
func TestCamerasApplyListRemove(t *testing.T) {
	url := natstest.Server(t)
	vigil := func(args ...string) (string, int) {
		var out strings.Builder
		code := run(append(args, "--nats", url), &out, &out)
		return out.String(), code
	}
	good := writeFile(t, "cameras.yaml", `
detectors: [{name: docks}]
cameras:
  - {id: gate, url: "rtsp://viewer@10.0.0.7/stream1", password_file: /run/secrets/gate, require: [gpu]}
  - {id: dock-1, url: testsrc, detector: docks}
`)
	if out, code := vigil("cameras", "apply", good); code != 0 || !strings.Contains(out, "camera gate added") || !strings.Contains(out, "camera dock-1 added") {
		t.Fatalf("apply: %d\n%s", code, out)
	}
	if out, code := vigil("cameras", "apply", good); code != 0 || !strings.Contains(out, "camera gate unchanged") {
		t.Errorf("apply again: %d\n%s", code, out)
	}

	bad := writeFile(t, "bad.yaml", `
cameras:
  - {id: gate, url: testsrc}
  - {id: yard, url: testsrc, fps: -1}
  - {id: roof, url: "rtsp://admin:hunter2@10.0.0.9/live"}
`)
	out, code := vigil("cameras", "apply", bad)
	if code == 0 || !strings.Contains(out, "bad.yaml:4: cameras[1].fps") || !strings.Contains(out, "nothing stored") {
		t.Errorf("a bad file: %d\n%s", code, out)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("the error shows a password:\n%s", out)
	}
	secret := writeFile(t, "secret.yaml", "cameras:\n  - {id: roof, url: \"rtsp://admin:hunter2@10.0.0.9/live\"}\n")
	if out, code := vigil("cameras", "apply", secret); code == 0 || !strings.Contains(out, "password_file") || strings.Contains(out, "hunter2") {
		t.Errorf("a password in the URL: %d\n%s", code, out)
	}

	out, code = vigil("cameras", "list")
	if code != 0 || !strings.Contains(out, "gate") || !strings.Contains(out, "dock-1") || strings.Contains(out, "yard") || strings.Contains(out, "roof") {
		t.Errorf("list after refused applies: %d\n%s", code, out)
	}
	if !strings.Contains(out, "unplaced") || !strings.Contains(out, "no live node") {
		t.Errorf("with no node, every camera is unplaced with the reason:\n%s", out)
	}
	if out, code := vigil("cameras", "rm", "gate", "nope"); code == 0 || !strings.Contains(out, "camera gate removed") || !strings.Contains(out, `no camera "nope"`) {
		t.Errorf("rm: %d\n%s", code, out)
	}
	out, code = vigil("fleet", "status", "--json")
	if code != 0 || strings.Contains(out, `"gate"`) || !strings.Contains(out, `"dock-1"`) {
		t.Errorf("status after rm: %d\n%s", code, out)
	}
}
