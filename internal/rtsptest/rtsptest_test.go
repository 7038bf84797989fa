package rtsptest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// wait bounds every wait, so that a broken environment fails instead of hanging.
const wait = 20 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestReadersGetThePublishedStream(t *testing.T) {
	input := filepath.Join(t.TempDir(), "clip.avi")
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if _, stderr, err := runTool(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "2", "-c:v", "mpeg4", input); err != nil {
		t.Fatalf("make input clip: %v\n%s", err, stderr)
	}

	for _, in := range []struct{ name, input string }{
		{"testsrc", TestSource},
		{"file", input},
	} {
		t.Run(in.name, func(t *testing.T) {
			s := Start(t)
			publish(t, s, "cam", in.input)

			// In parallel, so that both transports read the one stream at once.
			for _, transport := range []string{"tcp", "udp"} {
				t.Run(transport, func(t *testing.T) {
					t.Parallel()
					got, stderr, err := probe(t, transport, s.URL("cam"))
					if err != nil {
						t.Fatalf("ffprobe over %s: %v\n%s", transport, err, stderr)
					}
					want := stream{CodecName: "h264", Width: 320, Height: 240}
					if got.CodecName != want.CodecName || got.Width != want.Width || got.Height != want.Height {
						t.Errorf("ffprobe over %s = %+v, want %+v", transport, got, want)
					}
					if n, _ := strconv.Atoi(got.NbReadFrames); n < 1 {
						t.Errorf("ffprobe over %s decoded %q frames, want some", transport, got.NbReadFrames)
					}
				})
			}
		})
	}
}

func TestReaderOfIdlePathGets404(t *testing.T) {
	s := Start(t)
	publish(t, s, "cam", TestSource)

	_, stderr, err := probe(t, "tcp", s.URL("nobody"))
	if err == nil {
		t.Fatal("ffprobe of a path nobody publishes succeeded, want 404")
	}
	if !strings.Contains(stderr, "404") {
		t.Errorf("ffprobe of a path nobody publishes: %v, stderr %q, want a 404", err, stderr)
	}
}

func TestPublisherGoingAwayEndsReadersAndFreesPath(t *testing.T) {
	s := Start(t)
	url := s.URL("cam")
	p := publish(t, s, "cam", TestSource)

	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	reader := startReader(ctx, t, url)

	p.Stop()
	select {
	case <-reader:
	case <-ctx.Done():
		t.Fatal("reader still running after its publisher went away")
	}

	if _, stderr, err := probe(t, "tcp", url); err == nil || !strings.Contains(stderr, "404") {
		t.Errorf("ffprobe after the publisher went away: err %v, stderr %q, want a 404", err, stderr)
	}

	publish(t, s, "cam", TestSource)
	if got, stderr, err := probe(t, "tcp", url); err != nil || got.CodecName != "h264" {
		t.Errorf("ffprobe of the returning publisher = %+v, %v, want h264\n%s", got, err, stderr)
	}
}

func TestNewPublisherReplacesOld(t *testing.T) {
	s := Start(t)
	first := publish(t, s, "cam", TestSource)
	publish(t, s, "cam", TestSource)

	select {
	case <-first.done:
	case <-time.After(wait):
		t.Fatal("first publisher still running after a second took its path")
	}
	if got, stderr, err := probe(t, "tcp", s.URL("cam")); err != nil || got.CodecName != "h264" {
		t.Errorf("ffprobe of the second publisher = %+v, %v, want h264\n%s", got, err, stderr)
	}
}

func TestCameraComesUpAtReservedAddr(t *testing.T) {
	addr := ReserveAddr(t)
	url := "rtsp://" + addr + "/cam"

	if _, stderr, err := probe(t, "tcp", url); err == nil {
		t.Fatalf("ffprobe of %s before the server started succeeded, want refused\n%s", url, stderr)
	}

	s := StartAt(t, addr)
	if s.Addr() != addr || s.URL("cam") != url {
		t.Fatalf("StartAt(%s): Addr %s, URL %s", addr, s.Addr(), s.URL("cam"))
	}
	publish(t, s, "/cam", TestSource)
	if got, stderr, err := probe(t, "tcp", url); err != nil || got.CodecName != "h264" {
		t.Errorf("ffprobe after the server came up = %+v, %v, want h264\n%s", got, err, stderr)
	}
}

func TestWaitPublishingEnds(t *testing.T) {
	s := Start(t)

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := s.WaitPublishing(ctx, "cam"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitPublishing with nobody publishing = %v, want deadline exceeded", err)
	}

	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		errc <- s.WaitPublishing(ctx, "cam")
	}()
	s.Close()
	if err := <-errc; !errors.Is(err, errServerClosed) {
		t.Errorf("WaitPublishing across Close = %v, want server closed", err)
	}
}

// publish starts a publisher and waits until it is live.
func publish(t *testing.T, s *Server, path, input string) *Publisher {
	t.Helper()
	p := Publish(t, s.URL(path), input)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := s.WaitPublishing(ctx, path); err != nil {
		t.Fatal(err)
	}
	return p
}

type stream struct {
	CodecName    string `json:"codec_name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	NbReadFrames string `json:"nb_read_frames"`
}

// probe decodes two seconds of url with ffprobe and reports its one stream.
func probe(t *testing.T, transport, url string) (stream, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	stdout, stderr, err := runTool(ctx, "ffprobe", "-rtsp_transport", transport, "-v", "error",
		"-count_frames", "-read_intervals", "%+2",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json", url)
	if err != nil {
		return stream{}, stderr, err
	}
	var out struct{ Streams []stream }
	if err := json.Unmarshal(stdout, &out); err != nil {
		return stream{}, stderr, err
	}
	if len(out.Streams) != 1 {
		return stream{}, stderr, errors.New("want one stream, got " + strconv.Itoa(len(out.Streams)) + ": " + string(stdout))
	}
	return out.Streams[0], stderr, nil
}

// startReader runs an ffmpeg reader of url until its input ends and returns
// once it has decoded a frame; the channel closes when the reader exits.
func startReader(ctx context.Context, t *testing.T, url string) <-chan struct{} {
	t.Helper()
	cmd := command(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-rtsp_transport", "tcp", "-i", url, "-progress", "pipe:1", "-f", "null", "-")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ffmpeg reader of %s: %v", url, err)
	}
	exited := make(chan struct{})
	decoding := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		decoded := false
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "frame="); ok && n != "0" && !decoded {
				decoded = true
				close(decoding)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() { <-exited }) // ctx ending kills it
	select {
	case <-decoding:
	case <-exited:
		t.Fatalf("ffmpeg reader of %s exited before decoding a frame", url)
	case <-ctx.Done():
		t.Fatalf("ffmpeg reader of %s decoded no frame: %v", url, ctx.Err())
	}
	return exited
}

func runTool(ctx context.Context, name string, args ...string) (stdout []byte, stderr string, err error) {
	cmd := command(ctx, name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.Bytes(), errOut.String(), err
}

// command makes a tool whose whole process group dies when ctx ends.
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = ownProcessGroup()
	cmd.Cancel = func() error {
		killProcessGroup(cmd.Process.Pid)
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}
