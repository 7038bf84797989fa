package mot

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Box is a MOTChallenge box: top-left corner and size, in pixels.
type Box struct{ X, Y, W, H float64 }

// IoU is the intersection over union of two boxes, 0 when either has no area.
func IoU(a, b Box) float64 {
	if !(a.W > 0 && a.H > 0 && b.W > 0 && b.H > 0) {
		return 0
	}
	w := min(a.X+a.W, b.X+b.W) - max(a.X, b.X)
	h := min(a.Y+a.H, b.Y+b.H) - max(a.Y, b.Y)
	if w <= 0 || h <= 0 {
		return 0
	}
	inter := w * h
	return inter / (a.W*a.H + b.W*b.H - inter)
}

// Row is one line of a MOTChallenge text file.
type Row struct {
	Frame int // from 1
	ID    int // object or track ID; detections carry -1
	Box   Box
	// Conf is the detection score in detections and results. In ground
	// truth it is the evaluation flag: 0 marks a box to ignore.
	Conf  float64
	Class int     // ground truth column 8, -1 where absent
	Vis   float64 // ground truth column 9, the visible fraction, -1 where absent
}

// Kind says which MOTChallenge file a reader parses; the kinds differ in
// their columns and in what they allow.
type Kind int

const (
	// Detections: frame,id,x,y,w,h,conf[,x,y,z]; the id is ignored.
	Detections Kind = iota
	// GroundTruth: frame,id,x,y,w,h[,flag[,class[,visibility]]] (MOT16
	// and later), or frame,id,x,y,w,h,flag,x,y,z (MOT15: world coordinates).
	GroundTruth
	// Results: frame,id,x,y,w,h[,conf,…], what a tracker writes.
	Results
)

var columnNames = [...]string{"frame", "id", "x", "y", "w", "h", "conf", "class", "visibility", "z"}

func (k Kind) String() string {
	switch k {
	case Detections:
		return "detections"
	case GroundTruth:
		return "ground truth"
	default:
		return "results"
	}
}

// columns is the range of column counts a kind accepts and how they read.
func (k Kind) columns() (lo, hi int, layout string) {
	switch k {
	case Detections:
		return 7, 10, "frame,id,x,y,w,h,conf[,x,y,z]"
	case GroundTruth:
		return 6, 10, "frame,id,x,y,w,h[,flag,class,visibility] or MOT15's frame,id,x,y,w,h,flag,x,y,z"
	default:
		return 6, 10, "frame,id,x,y,w,h[,conf,-1,-1,-1]"
	}
}

func (k Kind) columnName(i int) string {
	if k == GroundTruth && i == 6 {
		return "flag"
	}
	if k != GroundTruth && i >= 7 {
		return []string{"x", "y", "z"}[i-7]
	}
	return columnNames[i]
}

// MaxFrame is the last frame number Read accepts: over nine hours at 30
// fps. ByFrame allocates a slot per frame up to the last, so a stray huge
// frame number would otherwise take all memory.
const MaxFrame = 1_000_000

// maxExact bounds IDs and classes: every integer up to it is a float64,
// and so reads back as written.
const maxExact = 1 << 53

// ParseError is one malformed line; Field is the 1-based column, 0 when the
// line as a whole is wrong.
type ParseError struct {
	File   string
	Line   int
	Field  int
	Name   string // the column's name, such as "w"
	Reason string
}

func (e *ParseError) Error() string {
	if e.Field == 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s:%d: field %d (%s): %s", e.File, e.Line, e.Field, e.Name, e.Reason)
}

// ReadFile reads a MOTChallenge file of the given kind; errors name the path.
func ReadFile(path string, kind Kind) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", kind, err)
	}
	defer f.Close()
	return Read(f, path, kind)
}

// Read parses MOTChallenge rows from r; name is used in errors. Columns are
// separated by commas (or, in a line without commas, by white space); blank
// lines are skipped. A malformed line gives a *ParseError: a column count
// the kind does not accept, a field that is not a finite number, a frame
// below 1 or above MaxFrame, a non-integer frame, ID or class, an ID or
// class beyond ±2^53, a negative width or height, or (in ground truth and
// results) an ID used twice in one frame.
func Read(r io.Reader, name string, kind Kind) ([]Row, error) {
	lo, hi, layout := kind.columns()
	var rows []Row
	seen := map[[2]int]int{} // (frame, id) → line, for ground truth and results
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var vals [10]float64
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var fields []string
		if strings.Contains(text, ",") {
			fields = strings.Split(text, ",")
		} else {
			fields = strings.Fields(text)
		}
		bad := func(field int, format string, args ...any) error {
			e := &ParseError{File: name, Line: line, Field: field, Reason: fmt.Sprintf(format, args...)}
			if field > 0 {
				e.Name = kind.columnName(field - 1)
			}
			return e
		}
		if len(fields) < lo || len(fields) > hi {
			return nil, bad(0, "%d fields, want %d to %d for %s (%s)", len(fields), lo, hi, kind, layout)
		}
		for i, f := range fields {
			f = strings.TrimSpace(f)
			x, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return nil, bad(i+1, "%q is not a number", f)
			}
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, bad(i+1, "%q is not a finite number", f)
			}
			vals[i] = x
		}
		row := Row{Conf: 1, Class: -1, Vis: -1}
		if vals[0] != math.Trunc(vals[0]) || vals[0] < 1 || vals[0] > MaxFrame {
			return nil, bad(1, "%v is not a frame number; frames count from 1 to %d", vals[0], MaxFrame)
		}
		if vals[1] != math.Trunc(vals[1]) || math.Abs(vals[1]) > maxExact {
			return nil, bad(2, "%v is not an integer ID within ±2^53", vals[1])
		}
		if vals[4] < 0 {
			return nil, bad(5, "%v is negative; a box's width must be >= 0", vals[4])
		}
		if vals[5] < 0 {
			return nil, bad(6, "%v is negative; a box's height must be >= 0", vals[5])
		}
		row.Frame, row.ID = int(vals[0]), int(vals[1])
		row.Box = Box{X: vals[2], Y: vals[3], W: vals[4], H: vals[5]}
		if len(fields) > 6 {
			row.Conf = vals[6]
		}
		// Ten columns in ground truth are MOT15's: the last three are the
		// box's world coordinates (-1 where unknown), not class and
		// visibility as in MOT16's nine.
		if kind == GroundTruth && len(fields) < 10 {
			if len(fields) > 7 {
				if vals[7] != math.Trunc(vals[7]) || math.Abs(vals[7]) > maxExact {
					return nil, bad(8, "%v is not an integer class", vals[7])
				}
				row.Class = int(vals[7])
			}
			if len(fields) > 8 {
				row.Vis = vals[8]
			}
		}
		if kind == Detections {
			row.ID = -1
		} else {
			key := [2]int{row.Frame, row.ID}
			if first, dup := seen[key]; dup {
				return nil, bad(2, "ID %d appears twice in frame %d (first on line %d)", row.ID, row.Frame, first)
			}
			seen[key] = line
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return rows, nil
}

// Write writes rows as a tracker's results, one line each:
// frame,id,x,y,w,h,conf,-1,-1,-1, ordered by frame and then ID.
func Write(w io.Writer, rows []Row) error {
	return write(w, rows, false)
}

// WriteGroundTruth writes rows as MOTChallenge ground truth:
// frame,id,x,y,w,h,flag,class,visibility, ordered by frame and then ID.
func WriteGroundTruth(w io.Writer, rows []Row) error {
	return write(w, rows, true)
}

func write(w io.Writer, rows []Row, gt bool) error {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b Row) int {
		if a.Frame != b.Frame {
			return a.Frame - b.Frame
		}
		return a.ID - b.ID
	})
	bw := bufio.NewWriter(w)
	var buf []byte
	for _, r := range rows {
		buf = buf[:0]
		buf = strconv.AppendInt(buf, int64(r.Frame), 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, int64(r.ID), 10)
		for _, x := range [4]float64{r.Box.X, r.Box.Y, r.Box.W, r.Box.H} {
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, x, 'f', 2, 64)
		}
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, r.Conf, 'g', 6, 64)
		if gt {
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, int64(r.Class), 10)
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, r.Vis, 'g', 6, 64)
			buf = append(buf, '\n')
		} else {
			buf = append(buf, ",-1,-1,-1\n"...)
		}
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ByFrame groups rows by frame: the result's element f holds frame f's
// rows, element 0 is empty, and its length is one past the last frame.
func ByFrame(rows []Row) [][]Row {
	last := 0
	for _, r := range rows {
		last = max(last, r.Frame)
	}
	frames := make([][]Row, last+1)
	for _, r := range rows {
		frames[r.Frame] = append(frames[r.Frame], r)
	}
	return frames
}
