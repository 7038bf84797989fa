package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// newLogger writes readable lines to a terminal and JSON otherwise.
func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("%w: log level %q; use debug, info, warn or error", errUsage, level)
	}
	json := false
	switch format {
	case "", "auto":
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
		} else {
			json = true
		}
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: true}
	case "json":
		json = true
	default:
		return zerolog.Nop(), fmt.Errorf("%w: log format %q; use auto, console or json", errUsage, format)
	}
	if json {
		// FFmpeg writes its own lines ("[rtsp @ 0x…] method DESCRIBE
		// failed: 404 Not Found") to stderr, which a JSON log must not
		// carry; vigil says what failed in its own lines. OpenCV reads
		// this when it first opens a video; a value set by the user stays.
		if _, set := os.LookupEnv("OPENCV_FFMPEG_LOGLEVEL"); !set {
			os.Setenv("OPENCV_FFMPEG_LOGLEVEL", "-8") // AV_LOG_QUIET
		}
	}
	// The level is the process's (zerolog's global one), so that a reload
	// of log_level changes it for every logger made from this one.
	zerolog.SetGlobalLevel(lvl)
	return zerolog.New(w).With().Timestamp().Logger(), nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
