// Package mediatest reads media files the way a player would, for tests:
// ffprobe (installed by make deps with ffmpeg) decodes every frame.
package mediatest

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"
)

// Probe is what ffprobe found in a file's first video stream.
type Probe struct {
	Format   string // e.g. "matroska,webm"
	Codec    string // e.g. "vp8"
	Width    int
	Height   int
	Frames   int     // decoded, one by one
	Duration float64 // seconds, as the container says
}

// ProbeFile decodes path with ffprobe; a file it cannot read fails t.
func ProbeFile(t testing.TB, path string) Probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_streams", "-show_format", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			FormatName string `json:"format_name"`
			Duration   string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Streams) != 1 {
		t.Fatalf("ffprobe %s: %d video streams", path, len(p.Streams))
	}
	s := p.Streams[0]
	n, _ := strconv.Atoi(s.NbReadFrames)
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return Probe{Format: p.Format.FormatName, Codec: s.CodecName, Width: s.Width, Height: s.Height, Frames: n, Duration: d}
}
