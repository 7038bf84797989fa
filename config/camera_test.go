package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/goccy/go-yaml"
)

func TestParseCameraGood(t *testing.T) {
	cases := []struct {
		file  string
		check func(Camera) error
	}{
		{"rtsp_rules.yaml", func(c Camera) error {
			switch {
			case c.ID != "dock-1" || c.URL != "rtsp://vigil:secret@192.168.1.10:554/stream1" || c.RTSPTransport != "udp" || c.Detector != "docks":
				return fmt.Errorf("id, url, transport or detector: %+v", c)
			case c.Reconnect != (Backoff{Min: Duration(time.Second), Max: Duration(10 * time.Second), Fast: Duration(10 * time.Second)}):
				return fmt.Errorf("reconnect %+v; want min as written, max the default", c.Reconnect)
			case c.FPS != 0 || c.Width != 640 || !*c.Loop || !*c.Enabled:
				return fmt.Errorf("defaults not filled: %+v", c)
			case len(c.Rules) != 2 || c.Rules[0].Directions != (Directions{AToB: "in", BToA: "out"}):
				return fmt.Errorf("rules %+v", c.Rules)
			}
			bay := DefaultRule()
			bay.Name, bay.Type, bay.Normalized, bay.Dwell = "bay", RuleZone, true, Duration(10*time.Second)
			bay.Points = [][]float64{{0.1, 0.1}, {0.9, 0.1}, {0.9, 0.9}}
			if !reflect.DeepEqual(c.Rules[1], bay) {
				return fmt.Errorf("rules[1]\n%+v\nwant DefaultRule with what is written\n%+v", c.Rules[1], bay)
			}
			return nil
		}},
		{"testsrc.json", func(c Camera) error {
			switch {
			case c.ID != "lab" || c.URL != "testsrc" || *c.Enabled:
				return fmt.Errorf("id, url or enabled: %+v", c)
			case c.FPS != DefaultTestsrcFPS || c.Width != 320 || c.Height != 240:
				return fmt.Errorf("fps %g (want the testsrc default), size %dx%d", c.FPS, c.Width, c.Height)
			case len(c.Rules) != 1 || *c.Rules[0].Armed || c.Rules[0].Anchor != "bottom_center":
				return fmt.Errorf("rules %+v", c.Rules)
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "camera", "good", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			cam, err := ParseCamera(data, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.check(cam); err != nil {
				t.Error(err)
			}

			// The same block under cameras: parses to the same camera.
			var b strings.Builder
			b.WriteString("detectors: [{name: docks}]\ncameras:\n  -\n")
			for _, line := range strings.Split(string(data), "\n") {
				b.WriteString("    " + line + "\n")
			}
			cfg, err := Parse([]byte(b.String()), "wrapped "+tc.file)
			if err != nil {
				t.Fatalf("under cameras: %v", err)
			}
			if !reflect.DeepEqual(cfg.Cameras[0], cam) {
				t.Errorf("ParseCamera\n%+v\nParse\n%+v", cam, cfg.Cameras[0])
			}
		})
	}
}

func TestParseCameraBad(t *testing.T) {
	cases := []struct {
		file string
		want []string // each the whole of one message, in order
	}{
		{"unknown_key.yaml", []string{
			`request body:3: fsp: unknown field; did you mean "fps"?`,
			`request body:8: rules[0].anchr: unknown field; did you mean "anchor"?`,
		}},
		{"unknown_key.json", []string{
			// The typo leaves the camera without its url: both are said.
			`request body:1: url: required; use rtsp://, http(s)://, a file path, /dev/videoN or testsrc`,
			`request body:3: urll: unknown field; did you mean "url"?`,
		}},
		{"wrong_type.yaml", []string{
			`request body:1: id: expected a string, got a list`,
			`request body:3: loop: "yes" is not true or false`,
			`request body:4: width: 1.5 is not a whole number`,
			`request body:6: reconnect.min: "5" has no unit; write e.g. 500ms, 30s or 1m`,
			`request body:7: rules: expected a list, got a mapping`,
		}},
		{"rule_geometry.yaml", []string{
			`request body:6: rules[0].points: polygon self-intersects between edges 0 (points 0→1) and 2 (points 2→3); reorder the points to go once around the zone`,
			`request body:10: rules[1].points[1]: has 3 numbers; write a point as [x, y]`,
			`request body:11: rules[2].name: duplicate "gate"; rule names must be unique per camera (rules[1] has it too)`,
			`request body:13: rules[2].points: the line has zero length: both points are (5, 5); give two different points`,
		}},
		{"invalid.yaml", []string{
			`request body:1: id: "dock 1" is not a valid id; use 1-64 letters, digits, _ or - (it becomes a NATS subject token)`,
			`request body:2: url: unsupported scheme "rtmp"; use rtsp://, http(s)://, a file path or /dev/videoN`,
			`request body:3: rtsp_transport: unknown transport "http"; use tcp or udp`,
			`request body:4: reconnect.max: 1s is below reconnect.min 10s; make min <= max`,
		}},
		// What the camera lacks is blamed on its first line.
		{"no_url.json", []string{`request body:2: url: required; use rtsp://, http(s)://, a file path, /dev/videoN or testsrc`}},
		{"list.yaml", []string{`request body:1: expected a camera: a mapping with id, url and its other settings, got a list`}},
		{"syntax.json", []string{`request body:1: could not find flow mapping end token '}'`}},
	}
	tested := map[string]bool{}
	for _, tc := range cases {
		tested[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "camera", "bad", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			cam, err := ParseCamera(data, "request body")
			if got := cameraErrors(t, cam, err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
	all, _ := filepath.Glob(filepath.Join("testdata", "camera", "bad", "*"))
	for _, f := range all {
		if !tested[filepath.Base(f)] {
			t.Errorf("fixture %s has no case", f)
		}
	}
}

func TestParseCameraInline(t *testing.T) {
	laughs := func(n int) string { // n rules of n points of n numbers, from 3n written
		nums := strings.TrimSuffix(strings.Repeat("1,", n), ",")
		var b strings.Builder
		b.WriteString("id: a\nurl: testsrc\nrules:\n")
		fmt.Fprintf(&b, "  - {name: r0, type: line, points: &p [&q [%s]%s]}\n", nums, strings.Repeat(",*q", n-1))
		for i := 1; i < n; i++ {
			fmt.Fprintf(&b, "  - {name: r%d, type: zone, points: *p}\n", i)
		}
		return b.String()
	}
	doubling := func(n int) string { // 2^n merges
		var b strings.Builder
		b.WriteString("id: a\nurl: testsrc\nrules:\n  - &r0 {name: x, type: line, points: [[0, 0], [1, 1]]}\n")
		for i := 1; i < n; i++ {
			fmt.Fprintf(&b, "  - &r%d {<<: [*r%d, *r%d]}\n", i, i-1, i-1)
		}
		return b.String()
	}
	tooMany := fmt.Sprintf("aliases and merges (<<) repeat values more than %d times; write the values out, or alias fewer", maxExpansion)
	cases := []struct {
		name, in string
		want     []string // each the whole of one message
	}{
		{"empty", "", []string{
			"body: id: required; name the camera with 1-64 letters, digits, _ or - (it becomes a NATS subject token)",
			"body: url: required; use rtsp://, http(s)://, a file path, /dev/videoN or testsrc",
		}},
		{"null", "null", []string{
			"body: id: required; name the camera with 1-64 letters, digits, _ or - (it becomes a NATS subject token)",
			"body: url: required; use rtsp://, http(s)://, a file path, /dev/videoN or testsrc",
		}},
		{"scalar", "dock-1", []string{`body:1: expected a camera: a mapping with id, url and its other settings, got "dock-1"`}},
		{"two documents", "id: a\nurl: testsrc\n---\nid: b\n", []string{"body:4: a second YAML document; keep one camera in one"}},
		{"self merge", "id: a\nurl: testsrc\nreconnect: &r {<<: *r}\n", []string{`body:3: reconnect: "<<" merges a mapping into itself; merge another anchor`}},
		{"tag", "id: !!int a\nurl: testsrc\n", []string{"body:1: id: tag !!int: settings take no YAML tags; write the value plainly, quoted to make it a string"}},
		{"tag without value", "id: a\nurl: testsrc\nrules: ! ", []string{"body:3: rules: tag !: settings take no YAML tags; write the value plainly, quoted to make it a string"}},
		{"a zone of too many corners", "id: a\nurl: testsrc\nrules:\n  - name: z\n    type: zone\n    points: [" + strings.Repeat("[1, 2], ", maxRulePoints) + "[3, 4]]\n",
			[]string{fmt.Sprintf("body:6: rules[0].points: %d points; a zone takes at most %d corners", maxRulePoints+1, maxRulePoints)}},
		{"alias before anchor", "id: *a\nurl: &a testsrc\n", []string{"body:1: id: alias *a names no anchor defined before it; define &a first"}},
		// Unbounded, the aliases cost n³ checks and the merges 2ⁿ. Where the
		// walk stops depends on the budget: the line and path only say it
		// was inside the rules.
		{"aliases multiply", laughs(60), []string{tooMany}},
		{"merges double", doubling(40), []string{tooMany}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cam, err := ParseCamera([]byte(tc.in), "body")
			got := cameraErrors(t, cam, err)
			for i := range got {
				if i < len(tc.want) && tc.want[i] == tooMany && strings.HasPrefix(got[i], "body:4: rules[") && strings.HasSuffix(got[i], tooMany) {
					got[i] = tooMany
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// cameraErrors checks that a failed ParseCamera returned no camera and only
// FieldErrors, and returns their messages.
func cameraErrors(t *testing.T, cam Camera, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; camera %+v", cam)
	}
	if !reflect.DeepEqual(cam, Camera{}) {
		t.Errorf("got a camera along with the error: %+v", cam)
	}
	for _, e := range unwrapAll(err) {
		if fe := (*FieldError)(nil); !errors.As(e, &fe) {
			t.Errorf("%v is a %T, not a *FieldError", e, e)
		}
	}
	return messages(err)
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// plainStrings reports whether every string in v is free of control
// characters and of spaces at either end.
func plainStrings(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		return strings.TrimSpace(s) == s && !strings.ContainsFunc(s, unicode.IsControl)
	case reflect.Pointer:
		return v.IsNil() || plainStrings(v.Elem())
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			if !plainStrings(v.Index(i)) {
				return false
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if !plainStrings(v.Field(i)) {
				return false
			}
		}
	}
	return true
}

// FuzzParseCamera feeds ParseCamera anything: it must not panic, and a camera
// it accepts must be valid, read back the same once written out as JSON (as
// an API returns it) or YAML, and join a Config that has its detector.
func FuzzParseCamera(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "camera", dir, "*"))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cam, err := ParseCamera(data, "fuzz")
		if err != nil {
			for _, e := range unwrapAll(err) {
				if fe := (*FieldError)(nil); !errors.As(e, &fe) || fe.File != "fuzz" {
					t.Fatalf("%q: %v is not a *FieldError of file fuzz", data, e)
				}
			}
			return
		}
		if cam.ID == "" || cam.URL == "" {
			t.Fatalf("%q: accepted with id %q, url %q", data, cam.ID, cam.URL)
		}
		var p problems
		cam.validate(&p, "")
		cam.validateRules(&p, "")
		if len(p) > 0 {
			t.Fatalf("%q: accepted, but %v", data, errors.Join(p...))
		}
		for _, opts := range [][]yaml.EncodeOption{{yaml.JSON()}, nil} {
			if opts == nil && !plainStrings(reflect.ValueOf(cam)) {
				// goccy/go-yaml writes such strings as YAML that reads back
				// otherwise ("a\tb" as "ab"); as JSON they come back whole.
				continue
			}
			out, err := yaml.MarshalWithOptions(cam, opts...)
			if err != nil {
				t.Fatalf("%q: marshal: %v", data, err)
			}
			back, err := ParseCamera(out, "marshalled")
			if err != nil {
				t.Fatalf("%q: written as\n%s\nreads back with %v", data, out, err)
			}
			if !reflect.DeepEqual(back, cam) {
				t.Fatalf("%q: written as\n%s\nreads back as\n%+v\nnot\n%+v", data, out, back, cam)
			}
		}
		cfg := Default()
		if name := cfg.DetectorOf(cam); name != DefaultDetector {
			if !cameraIDPattern.MatchString(name) {
				return // no detector can have that name: WithCamera says so
			}
			cfg.Detectors = []Detector{{Name: name, Model: cloneModel(cfg.Model)}}
		}
		if _, err := cfg.WithCamera(cam); err != nil {
			t.Fatalf("%q: accepted, but WithCamera: %v", data, err)
		}
	})
}

func TestParseCameraAs(t *testing.T) {
	cam, err := ParseCameraAs([]byte("url: testsrc\n"), "body", "dock-1")
	if err != nil || cam.ID != "dock-1" {
		t.Fatalf("no id in the block: %+v, %v", cam, err)
	}
	if cam, err := ParseCameraAs([]byte("{id: dock-1, url: testsrc}"), "body", "dock-1"); err != nil || cam.ID != "dock-1" {
		t.Fatalf("the same id: %+v, %v", cam, err)
	}
	_, err = ParseCameraAs([]byte("id: dock-2\nurl: testsrc\n"), "body", "dock-1")
	if err == nil || !strings.Contains(err.Error(), `body:1: id: "dock-2", but this camera is "dock-1"`) {
		t.Fatalf("another id: %v", err)
	}
}

func TestSourceURLReadsThePasswordFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("s3cr:t@x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cam := Camera{ID: "gate", URL: "rtsp://admin@10.0.0.7:554/stream1", PasswordFile: file}
	got, err := cam.SourceURL()
	if err != nil || got != "rtsp://admin:s3cr%3At%40x@10.0.0.7:554/stream1" {
		t.Errorf("SourceURL = %q, %v", got, err)
	}
	cam.PasswordFile = filepath.Join(t.TempDir(), "missing")
	if _, err := cam.SourceURL(); err == nil || !strings.Contains(err.Error(), "camera gate: read password_file") {
		t.Errorf("missing file: %v", err)
	}
	cam.PasswordFile = ""
	if got, _ := cam.SourceURL(); got != cam.URL {
		t.Errorf("without a file: %q", got)
	}
}
