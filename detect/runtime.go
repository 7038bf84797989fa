package detect

import (
	"fmt"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

var runtime struct {
	sync.Mutex
	path string
	err  error
	done bool
}

// InitRuntime loads the onnxruntime shared library at path, once per
// process. Later calls with the same path return the first result; a
// different path is an error, since one process holds one onnxruntime.
func InitRuntime(path string) error {
	runtime.Lock()
	defer runtime.Unlock()
	if runtime.done {
		if path != runtime.path {
			return fmt.Errorf("onnxruntime already loaded from %s; one process loads one library (asked for %s)", runtime.path, path)
		}
		return runtime.err
	}
	runtime.done, runtime.path = true, path
	if _, err := os.Stat(path); err != nil {
		runtime.err = fmt.Errorf("onnxruntime library %s: %w; run `make deps`, or set model.onnxruntime_lib (or VIGIL_ONNXRUNTIME_LIB) to a libonnxruntime.so.1", path, pathErr(err))
		return runtime.err
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		runtime.err = fmt.Errorf("load onnxruntime library %s: %w; it must be an onnxruntime 1.2x–1.30 build for this platform (`make deps` fetches one)", path, err)
		return runtime.err
	}
	return nil
}

// RuntimeVersion is the loaded onnxruntime's version, or "" before
// InitRuntime succeeded.
func RuntimeVersion() string {
	runtime.Lock()
	defer runtime.Unlock()
	if !runtime.done || runtime.err != nil {
		return ""
	}
	return ort.GetVersion()
}
