package mot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestReadMalformed(t *testing.T) {
	tests := []struct {
		file  string
		kind  Kind
		line  int
		field int // 0: the line as a whole
		want  string
	}{
		{"det-columns.txt", Detections, 2, 0, "5 fields, want 7 to 10 for detections (frame,id,x,y,w,h,conf[,x,y,z])"},
		{"det-too-many.txt", Detections, 1, 0, "11 fields, want 7 to 10"},
		{"det-not-a-number.txt", Detections, 2, 3, `field 3 (x): "abc" is not a number`},
		{"det-negative-width.txt", Detections, 3, 5, "field 5 (w): -20 is negative"},
		{"det-negative-height.txt", Detections, 1, 6, "field 6 (h): -4 is negative"},
		{"det-frame-zero.txt", Detections, 1, 1, "field 1 (frame): 0 is not a frame number; frames count from 1"},
		{"det-frame-too-large.txt", Detections, 2, 1, "field 1 (frame): 2.000001e+06 is not a frame number; frames count from 1 to 1000000"},
		{"det-nan-score.txt", Detections, 1, 7, `field 7 (conf): "NaN" is not a finite number`},
		{"gt-duplicate-id.txt", GroundTruth, 4, 2, "field 2 (id): ID 1 appears twice in frame 2 (first on line 3)"},
		{"gt-bad-class.txt", GroundTruth, 2, 8, `field 8 (class): "one" is not a number`},
		{"res-fractional-id.txt", Results, 1, 2, "field 2 (id): 1.5 is not an integer ID"},
		{"res-huge-id.txt", Results, 1, 2, "field 2 (id): 1e+300 is not an integer ID within ±2^53"},
		{"gt-fractional-class.txt", GroundTruth, 2, 8, "field 8 (class): 7.5 is not an integer class"},
		{"res-bad-conf.txt", Results, 1, 7, `field 7 (conf): "x" is not a number`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tc.file)
			_, err := ReadFile(path, tc.kind)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err %v, want a *ParseError", err)
			}
			if pe.File != path || pe.Line != tc.line || pe.Field != tc.field {
				t.Errorf("file %q line %d field %d, want %q line %d field %d", pe.File, pe.Line, pe.Field, path, tc.line, tc.field)
			}
			prefix := path + ":" + strconv.Itoa(tc.line) + ": "
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want %q…%q", msg, prefix, tc.want)
			}
		})
	}
}

func TestReadGood(t *testing.T) {
	det, err := ReadFile("testdata/good/det.txt", Detections)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{Frame: 1, ID: -1, Box: Box{1359.1, 413.27, 120.26, 362.77}, Conf: 2.3092, Class: -1, Vis: -1},
		{Frame: 1, ID: -1, Box: Box{571.03, 402.13, 104.56, 315.68}, Conf: 1.5028, Class: -1, Vis: -1},
		{Frame: 3, ID: -1, Box: Box{10, 20, 30, 40}, Conf: 0.25, Class: -1, Vis: -1}, // white space separated
	}
	if len(det) != len(want) {
		t.Fatalf("got %+v, want %+v", det, want)
	}
	for i := range want {
		if det[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, det[i], want[i])
		}
	}

	gt, err := ReadFile("testdata/good/gt.txt", GroundTruth)
	if err != nil {
		t.Fatal(err)
	}
	if g := gt[0]; g.Conf != 0 || g.Class != 7 || g.Vis != 1 || g.ID != 1 {
		t.Errorf("gt row 1: %+v, want flag 0, class 7, visibility 1", g)
	}

	res, err := ReadFile("testdata/good/res.txt", Results)
	if err != nil {
		t.Fatal(err)
	}
	if r := res[2]; r.Conf != 1 || r.ID != 2 || r.Box != (Box{100, 200, 30, 40}) {
		t.Errorf("6-column result row: %+v, want conf 1", r)
	}
}

func TestReadMissingFile(t *testing.T) {
	_, err := ReadFile("testdata/nonexistent.txt", GroundTruth)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "testdata/nonexistent.txt") {
		t.Fatalf("err %v, want not-exist naming the file", err)
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	rows := []Row{
		{Frame: 2, ID: 1, Box: Box{10.25, 20, 30, 40.5}, Conf: 0.875},
		{Frame: 1, ID: 3, Box: Box{-5, 0, 12, 24}, Conf: 0.5},
		{Frame: 1, ID: 2, Box: Box{1, 2, 3, 4}, Conf: 1},
	}
	var buf bytes.Buffer
	if err := Write(&buf, rows); err != nil {
		t.Fatal(err)
	}
	wantText := "1,2,1.00,2.00,3.00,4.00,1,-1,-1,-1\n1,3,-5.00,0.00,12.00,24.00,0.5,-1,-1,-1\n2,1,10.25,20.00,30.00,40.50,0.875,-1,-1,-1\n"
	if buf.String() != wantText {
		t.Fatalf("wrote\n%s\nwant\n%s", buf.String(), wantText)
	}
	back, err := Read(&buf, "buf", Results)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 3 || back[0].ID != 2 || back[2].Box != rows[0].Box || back[2].Conf != 0.875 {
		t.Fatalf("read back %+v", back)
	}
}

func TestSeqInfo(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seqinfo.ini")
	in := SeqInfo{Name: "MOT17-02", FrameRate: 14, Length: 600, Width: 1920, Height: 1080}
	if err := WriteSeqInfo(path, in); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSeqInfo(path)
	if err != nil || got != in {
		t.Fatalf("got %+v, %v; want %+v", got, err, in)
	}
	// A rate of 0 is unknown: left out, as a file without one reads.
	unknown := SeqInfo{Name: "cam-3", Length: 90}
	if err := WriteSeqInfo(path, unknown); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadSeqInfo(path); err != nil || got != unknown {
		t.Fatalf("no frame rate: got %+v, %v; want %+v", got, err, unknown)
	}
	os.WriteFile(path, []byte("[Sequence]\nname=x\nframeRate=fast\n"), 0o644)
	if _, err := ReadSeqInfo(path); err == nil || !strings.Contains(err.Error(), path+":3: frameRate") {
		t.Fatalf("err %v, want one naming %s:3 and frameRate", err, path)
	}
}
