package mot

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// SeqInfo is the [Sequence] section of a MOTChallenge seqinfo.ini. Fields
// the file lacks are zero.
type SeqInfo struct {
	Name      string
	FrameRate float64 // frames per second
	Length    int     // frames
	Width     int     // pixels
	Height    int
}

// ReadSeqInfo reads a seqinfo.ini. Unknown keys are ignored; a known numeric
// key that is not a number is an error naming the file, line and key.
func ReadSeqInfo(path string) (SeqInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return SeqInfo{}, fmt.Errorf("read sequence info: %w", err)
	}
	defer f.Close()
	return readSeqInfo(f, path)
}

// readSeqInfo parses a seqinfo.ini from r; path is used in errors.
func readSeqInfo(r io.Reader, path string) (SeqInfo, error) {
	var info SeqInfo
	sc := bufio.NewScanner(r)
	section := ""
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		switch {
		case text == "" || text[0] == ';' || text[0] == '#':
			continue
		case text[0] == '[':
			section = strings.ToLower(strings.Trim(text, "[] "))
			continue
		}
		if section != "sequence" {
			continue
		}
		key, val, ok := strings.Cut(text, "=")
		if !ok {
			return SeqInfo{}, fmt.Errorf("%s:%d: %q is not key=value", path, line, text)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		num := func(dst *int) error {
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return fmt.Errorf("%s:%d: %s: %q is not a count", path, line, key, val)
			}
			*dst = n
			return nil
		}
		var err error
		switch strings.ToLower(key) {
		case "name":
			info.Name = val
		case "framerate":
			x, perr := strconv.ParseFloat(val, 64)
			if perr != nil || !(x > 0 && x < 1e6) {
				err = fmt.Errorf("%s:%d: %s: %q is not a frame rate", path, line, key, val)
			}
			info.FrameRate = x
		case "seqlength":
			err = num(&info.Length)
		case "imwidth":
			err = num(&info.Width)
		case "imheight":
			err = num(&info.Height)
		}
		if err != nil {
			return SeqInfo{}, err
		}
	}
	if err := sc.Err(); err != nil {
		return SeqInfo{}, fmt.Errorf("read %s: %w", path, err)
	}
	return info, nil
}

// WriteSeqInfo writes info as a seqinfo.ini.
func WriteSeqInfo(path string, info SeqInfo) error {
	var b bytes.Buffer
	writeSeqInfo(&b, info)
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// writeSeqInfo leaves frameRate out when it is 0, unknown: readSeqInfo
// refuses a rate of 0, and reads a missing one as 0.
func writeSeqInfo(w io.Writer, info SeqInfo) error {
	rate := ""
	if info.FrameRate != 0 {
		rate = "frameRate=" + strconv.FormatFloat(info.FrameRate, 'f', -1, 64) + "\n"
	}
	_, err := fmt.Fprintf(w, "[Sequence]\nname=%s\nimDir=img1\n%sseqLength=%d\nimWidth=%d\nimHeight=%d\nimExt=.jpg\n",
		info.Name, rate, info.Length, info.Width, info.Height)
	return err
}
