// Package mediatest reads media files the way a player would, for tests:
// ffprobe (installed by make deps with ffmpeg) decodes every frame. It
// also hands tests frames of the sample video.
package mediatest

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"gocv.io/x/gocv"
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

// SampleFrames reads frames first … first+n-1 of the sample video
// (vtest.avi: 768×576, people walking; make deps fetches it), closed when
// the test ends.
func SampleFrames(t testing.TB, first, n int) []gocv.Mat {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(assets.Media("vtest.avi"))
	if err != nil {
		t.Fatalf("open the sample video (make deps fetches it): %v", err)
	}
	defer vc.Close()
	out := make([]gocv.Mat, 0, n)
	t.Cleanup(func() {
		for _, m := range out {
			m.Close()
		}
	})
	m := gocv.NewMat()
	defer m.Close()
	for i := range first + n {
		if !vc.Read(&m) || m.Empty() {
			t.Fatalf("the sample video has no frame %d", i)
		}
		if i >= first {
			out = append(out, m.Clone())
		}
	}
	return out
}
