package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func cmdVersion(w io.Writer) error {
	fmt.Fprintf(w, "vigil %s\n", vigilVersion())
	fmt.Fprintf(w, "opencv %s (gocv %s)\n", gocv.OpenCVVersion(), moduleVersion("gocv.io/x/gocv"))
	if err := detect.InitRuntime(assets.Library()); err != nil {
		fmt.Fprintf(w, "onnxruntime unavailable: %v\n", err)
		return nil
	}
	fmt.Fprintf(w, "onnxruntime %s (%s)\n", detect.RuntimeVersion(), assets.Library())
	return nil
}

// moduleVersion is the version of a dependency as built in; gocv's own
// Version() constant lags its releases.
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "unknown"
}

func vigilVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return version
}
