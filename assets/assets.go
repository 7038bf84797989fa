package assets

import (
	_ "embed"
	"os"
	"path/filepath"
)

// Relative paths inside the deps folder.
const (
	LibraryFile = "lib/libonnxruntime.so.1"
	ModelFile   = "models/yolov8n.onnx"
	DemoVideo   = "media/vtest.avi"
)

// ExampleConfig is a commented config with every field, as shipped in
// assets/vigil.example.yaml.
//
//go:embed vigil.example.yaml
var ExampleConfig []byte

// DepsDir is where `make deps` put its artefacts: $VIGIL_DEPS_DIR when set,
// else ./deps when it exists, else deps/ beside the binary's parent folder
// (bin/vigil → deps/), else ./deps (which then names the missing thing in
// errors).
func DepsDir() string {
	if d := os.Getenv("VIGIL_DEPS_DIR"); d != "" {
		return d
	}
	for _, d := range candidates() {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	return "deps"
}

func candidates() []string {
	c := []string{"deps"}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			c = append(c, filepath.Join(filepath.Dir(filepath.Dir(exe)), "deps"))
		}
	}
	// Tests run in their package folder; walk up to the module root.
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				c = append(c, filepath.Join(d, "deps"))
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return c
}

// Path joins rel to DepsDir.
func Path(rel string) string { return filepath.Join(DepsDir(), rel) }

// Library is the onnxruntime library: $VIGIL_ONNXRUNTIME_LIB or the fetched one.
func Library() string {
	if p := os.Getenv("VIGIL_ONNXRUNTIME_LIB"); p != "" {
		return p
	}
	return Path(LibraryFile)
}

// Model is the detector model: $VIGIL_MODEL or the fetched YOLOv8n.
func Model() string {
	if p := os.Getenv("VIGIL_MODEL"); p != "" {
		return p
	}
	return Path(ModelFile)
}

// Media is a sample file fetched by `make deps`, e.g. Media("vtest.avi").
func Media(name string) string { return Path(filepath.Join("media", name)) }
