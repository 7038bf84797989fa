package mot

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-vision/vigil/internal/fuzztest"
)

// FuzzRead feeds Read anything, as each kind: it must not panic, a line it
// refuses is a *ParseError, and what it accepts holds its documented
// invariants and reads back the same once written out (ground truth and
// results; detections have no writer).
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.txt"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for kind := range uint8(3) {
			f.Add(data, kind)
		}
	}
	for _, s := range []string{
		"", "\n\n", "1 2 3 4 5 6", "1,1,0,0,0,0,1,-1,-1,-1\n1,1,0,0,0,0,1,-1,-1,-1\n",
		"1e300,1,0,0,1,1\n", "2,1e300,0,0,1,1\n", "1,1,0,0,1,1,0,7.5,1\n", "1,1,0,0,-0,1\n",
		"0x10,1,0,0,1,1\n", "1,1,1e308,1e308,1e308,1e308,1e308\n", "9999999999,1,0,0,1,1\n",
	} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, k uint8) {
		fuzztest.Watchdog(t)
		kind := Kind(k % 3)
		rows, err := Read(bytes.NewReader(data), "fuzz", kind)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) && !errors.Is(err, bufio.ErrTooLong) {
				t.Fatalf("%s %q: %v is not a *ParseError", kind, data, err)
			}
			return
		}
		seen := map[[2]int]bool{}
		for _, r := range rows {
			for _, x := range []float64{r.Box.X, r.Box.Y, r.Box.W, r.Box.H, r.Conf, r.Vis} {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					t.Fatalf("%s %q: row %+v holds %v", kind, data, r, x)
				}
			}
			if r.Frame < 1 || r.Frame > MaxFrame || r.Box.W < 0 || r.Box.H < 0 {
				t.Fatalf("%s %q: accepted row %+v", kind, data, r)
			}
			if kind == Detections {
				if r.ID != -1 {
					t.Fatalf("%s %q: detection with ID %d", kind, data, r.ID)
				}
				continue
			}
			key := [2]int{r.Frame, r.ID}
			if seen[key] {
				t.Fatalf("%s %q: ID %d twice in frame %d", kind, data, r.ID, r.Frame)
			}
			seen[key] = true
		}
		frames := ByFrame(rows)
		n := 0
		for _, fr := range frames {
			n += len(fr)
		}
		if n != len(rows) {
			t.Fatalf("%s %q: ByFrame holds %d rows of %d", kind, data, n, len(rows))
		}
		if kind == Detections {
			return
		}
		write := Write
		if kind == GroundTruth {
			write = WriteGroundTruth
		}
		var out bytes.Buffer
		if err := write(&out, rows); err != nil {
			t.Fatal(err)
		}
		back, err := Read(bytes.NewReader(out.Bytes()), "written", kind)
		if err != nil {
			t.Fatalf("%s %q: written as\n%s\nreads back with %v", kind, data, out.Bytes(), err)
		}
		if len(back) != len(rows) {
			t.Fatalf("%s %q: %d rows written, %d read back", kind, data, len(rows), len(back))
		}
		byKey := map[[2]int]Row{}
		for _, r := range rows {
			byKey[[2]int{r.Frame, r.ID}] = r
		}
		for _, b := range back {
			r, ok := byKey[[2]int{b.Frame, b.ID}]
			// Write keeps two decimals of a box and six digits of a score.
			if !ok || r.Class != b.Class || !near(r.Box.X, b.Box.X, 0.005) || !near(r.Box.Y, b.Box.Y, 0.005) ||
				!near(r.Box.W, b.Box.W, 0.005) || !near(r.Box.H, b.Box.H, 0.005) ||
				!near(r.Conf, b.Conf, 1e-6*math.Abs(r.Conf)) || kind == GroundTruth && !near(r.Vis, b.Vis, 1e-6*math.Abs(r.Vis)) {
				t.Fatalf("%s %q: written as\n%s\nreads back %+v, not %+v", kind, data, out.Bytes(), b, r)
			}
		}
		// What was written once is written again the same.
		var again bytes.Buffer
		if err := write(&again, back); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), out.Bytes()) {
			t.Fatalf("%s %q: written as\n%s\nthen as\n%s", kind, data, out.Bytes(), again.Bytes())
		}
	})
}

// near allows for the rounding of a decimal print, and for the float64
// spacing of the numbers themselves.
func near(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*(1+1e-9)+4*ulp(max(math.Abs(a), math.Abs(b)))
}

func ulp(x float64) float64 { return math.Nextafter(x, math.Inf(1)) - x }

// FuzzSeqInfo feeds a seqinfo.ini reader anything: it must not panic, and
// what it accepts is written by WriteSeqInfo as a file that reads back the
// same.
func FuzzSeqInfo(f *testing.F) {
	f.Add([]byte("[Sequence]\nname=MOT17-02\nimDir=img1\nframeRate=14\nseqLength=600\nimWidth=1920\nimHeight=1080\nimExt=.jpg\n"))
	f.Add([]byte("[Sequence]\nname=x\nframeRate=fast\n"))
	f.Add([]byte("; comment\n[other]\nname=y\n[ sequence ]\nNAME = z \nseqlength=+7\n"))
	f.Add([]byte("[Sequence]\nname=x\n"))
	f.Add([]byte("[Sequence]\nframeRate=1e-300\nimWidth=-1\n"))
	f.Add([]byte("[Sequence]\nnot a pair\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzztest.Watchdog(t)
		info, err := readSeqInfo(bytes.NewReader(data), "fuzz")
		if err != nil {
			if info != (SeqInfo{}) {
				t.Fatalf("%q: error %v with %+v", data, err, info)
			}
			return
		}
		if info.Length < 0 || info.Width < 0 || info.Height < 0 || info.FrameRate < 0 || math.IsNaN(info.FrameRate) {
			t.Fatalf("%q: accepted %+v", data, info)
		}
		var out bytes.Buffer
		if err := writeSeqInfo(&out, info); err != nil {
			t.Fatal(err)
		}
		back, err := readSeqInfo(bytes.NewReader(out.Bytes()), "written")
		if err != nil || back != info {
			t.Fatalf("%q: %+v written as\n%s\nreads back as %+v, %v", data, info, out.Bytes(), back, err)
		}
	})
}
