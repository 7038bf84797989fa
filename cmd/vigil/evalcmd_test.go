package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-vision/vigil/mot"
)

// gtLines is two people for ten frames; person 2 swaps to result ID 9 after
// frame 5 in swapped.
func gtLines() (gt, same, swapped string) {
	var g, s, w strings.Builder
	for f := 1; f <= 10; f++ {
		g.WriteString(fmt.Sprintf("%d,1,100,100,40,100,1,1,1\n%d,2,400,100,40,100,1,1,1\n", f, f))
		s.WriteString(fmt.Sprintf("%d,7,100,100,40,100,1,-1,-1,-1\n%d,8,400,100,40,100,1,-1,-1,-1\n", f, f))
		id := "8"
		if f > 5 {
			id = "9"
		}
		w.WriteString(fmt.Sprintf("%d,7,100,100,40,100,1,-1,-1,-1\n%d,"+id+",400,100,40,100,1,-1,-1,-1\n", f, f))
	}
	return g.String(), s.String(), w.String()
}

func TestEvalCommand(t *testing.T) {
	gt, same, swapped := gtLines()
	gtPath := writeFile(t, "gt.txt", gt)
	tests := []struct {
		name             string
		res              string
		mota, idf1, hota float64
		idsw             int
		wantTable        []string
	}{
		{name: "perfect", res: same, mota: 1, idf1: 1, hota: 1, wantTable: []string{"100.00"}},
		// One switch in 20 boxes: MOTA 19/20. IDF1: person 2 shares 5
		// frames with 8 and 5 with 9, so IDTP 15 of 20 GT and 20 results.
		{name: "one switch", res: swapped, mota: 0.95, idf1: 0.75, hota: math.NaN(), idsw: 1, wantTable: []string{"95.00", "75.00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := writeFile(t, "res.txt", tc.res)
			stdout, stderr, code := vigil(t, "eval", "mot", "--gt", gtPath, "--res", res, "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var r evalReport
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("%v:\n%s", err, stdout)
			}
			m := r.Overall
			if len(r.Sequences) != 1 || r.Sequences[0].Name != "res" || r.Sequences[0].Metrics != m {
				t.Fatalf("sequences %+v, overall %+v", r.Sequences, m)
			}
			if m.MOTA != tc.mota || m.IDF1 != tc.idf1 || m.IDSW != tc.idsw || (!math.IsNaN(tc.hota) && m.HOTA != tc.hota) {
				t.Errorf("MOTA %v IDF1 %v HOTA %v IDSW %d, want %v %v %v %d", m.MOTA, m.IDF1, m.HOTA, m.IDSW, tc.mota, tc.idf1, tc.hota, tc.idsw)
			}
			for _, k := range []string{`"HOTA"`, `"DetA"`, `"AssA"`, `"MOTA"`, `"MOTP"`, `"IDF1"`, `"IDP"`, `"IDR"`, `"FP"`, `"FN"`, `"IDSW"`, `"Frag"`, `"MT"`, `"PT"`, `"ML"`} {
				if !strings.Contains(stdout, k) {
					t.Errorf("JSON lacks %s", k)
				}
			}

			table, stderr, code := vigil(t, "eval", "mot", "--gt", gtPath, "--res", res)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tc.wantTable {
				if !strings.Contains(table, w) {
					t.Errorf("table lacks %s:\n%s", w, table)
				}
			}
			if strings.Contains(table, "OVERALL") {
				t.Errorf("one sequence, yet an overall row:\n%s", table)
			}
		})
	}
}

func TestEvalDirectoryMatchesPackage(t *testing.T) {
	root, res := t.TempDir(), t.TempDir()
	var total mot.Counts
	for i, name := range []string{"A", "B"} {
		s := mot.Synth(uint64(10+i), mot.SynthOptions{Frames: 50})
		if err := mot.WriteSequence(filepath.Join(root, name), s); err != nil {
			t.Fatal(err)
		}
		// Results: the detections above 0.5, each its own track.
		var rows []mot.Row
		for j, d := range s.Det {
			if d.Conf >= 0.5 {
				d.ID = j + 1
				rows = append(rows, d)
			}
		}
		f, _ := os.Create(filepath.Join(res, name+".txt"))
		mot.Write(f, rows)
		f.Close()
		gt, _ := mot.ReadFile(filepath.Join(root, name, "gt", "gt.txt"), mot.GroundTruth)
		back, _ := mot.ReadFile(filepath.Join(res, name+".txt"), mot.Results)
		total.Add(mot.Evaluate(gt, back))
	}
	stdout, stderr, code := vigil(t, "eval", "mot", "--gt", root, "--res", res, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r evalReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Sequences) != 2 || r.Sequences[0].Name != "A" || r.Overall != total.Metrics() {
		t.Fatalf("report %+v, want overall %+v", r, total.Metrics())
	}
}

func TestEvalBadInput(t *testing.T) {
	gt, same, _ := gtLines()
	gtPath := writeFile(t, "gt.txt", gt)
	resPath := writeFile(t, "res.txt", same)
	emptyRes := t.TempDir()
	layout := t.TempDir()
	os.MkdirAll(filepath.Join(layout, "S1", "gt"), 0o755)
	os.WriteFile(filepath.Join(layout, "S1", "gt", "gt.txt"), []byte(gt), 0o644)
	detOnly := t.TempDir()
	os.MkdirAll(filepath.Join(detOnly, "S1", "det"), 0o755)
	os.WriteFile(filepath.Join(detOnly, "S1", "det", "det.txt"), []byte("1,-1,10,10,20,40,0.9,-1,-1,-1\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"ground truth with too few columns", []string{"--gt", writeFile(t, "gt.txt", "1,1,10,10,20\n"), "--res", resPath}, 1,
			[]string{"gt.txt:1: 5 fields, want 6 to 10 for ground truth"}},
		{"non-numeric result", []string{"--gt", gtPath, "--res", writeFile(t, "res.txt", "1,1,10,10,20,40,1,-1,-1,-1\n2,x,10,10,20,40,1,-1,-1,-1\n")}, 1,
			[]string{"res.txt:2: field 2 (id): \"x\" is not a number"}},
		{"negative width in results", []string{"--gt", gtPath, "--res", writeFile(t, "res.txt", "1,1,10,10,-20,40\n")}, 1,
			[]string{"res.txt:1: field 5 (w): -20 is negative"}},
		{"an ID twice in a frame", []string{"--gt", gtPath, "--res", writeFile(t, "res.txt", "1,1,10,10,20,40\n1,1,50,10,20,40\n")}, 1,
			[]string{"res.txt:2: field 2 (id): ID 1 appears twice in frame 1"}},
		{"missing results of a sequence", []string{"--gt", layout, "--res", emptyRes}, 1,
			[]string{"sequence S1", filepath.Join(emptyRes, "S1.txt")}},
		{"missing ground truth", []string{"--gt", "/nonexistent/gt.txt", "--res", resPath}, 1, []string{"/nonexistent/gt.txt"}},
		{"no --res", []string{"--gt", gtPath}, 2, []string{"--gt and --res (or --det) are required"}},
		{"--det with --res", []string{"--det", layout, "--res", resPath}, 2, []string{"leave out --res"}},
		{"--det without ground truth", []string{"--det", detOnly}, 1, []string{"no ground truth", "no sequence has ground truth"}},
		{"--det, invalid tracker flag", []string{"--det", detOnly, "--min-hits", "0"}, 2, []string{"--min-hits (tracker.min_hits)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := vigil(t, append([]string{"eval", "mot"}, tc.args...)...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
	if _, stderr, code := vigil(t, "eval"); code != 2 || !strings.Contains(stderr, "vigil eval mot") {
		t.Errorf("bare eval: exit %d, %s", code, stderr)
	}
}

// TestEvalMOT15 tracks the real MOT15 sequences in mot/testdata/mot15 (SORT's
// published Faster R-CNN detections; see its SOURCES) with vigil's tracker
// and with SORT, and pins the overall scores from below: a change to the
// tracker that loses more than a point fails here. The pins are for the
// sequences whose ground truth is in the repository; adding ground truth
// changes the set and the test says so.
func TestEvalMOT15(t *testing.T) {
	stdout, stderr, code := vigil(t, "eval", "mot", "--det", filepath.Join("..", "..", "mot", "testdata", "mot15"), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r trackEvalReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	var seqs []string
	for _, s := range r.Vigil.Sequences {
		seqs = append(seqs, s.Name)
	}
	const all = "ADL-Rundle-6,ADL-Rundle-8,ETH-Bahnhof,ETH-Pedcross2,KITTI-13,PETS09-S2L1,Venice-2"
	if got := strings.Join(seqs, ","); got != all {
		t.Fatalf("sequences with ground truth: %s; the pins below are for %s: measure again and update them", got, all)
	}
	v, s := r.Vigil.Overall, r.SORT.Overall
	t.Logf("vigil: MOTA %.4f IDF1 %.4f HOTA %.4f IDSW %d FP %d FN %d", v.MOTA, v.IDF1, v.HOTA, v.IDSW, v.FP, v.FN)
	t.Logf("SORT:  MOTA %.4f IDF1 %.4f HOTA %.4f IDSW %d FP %d FN %d", s.MOTA, s.IDF1, s.HOTA, s.IDSW, s.FP, s.FN)

	// SORT is the fixed yardstick: its numbers move only if the harness does.
	if s.MOTA < 0.3819 || s.MOTA > 0.3821 || s.IDF1 < 0.4298 || s.IDF1 > 0.4299 || s.IDSW != 502 {
		t.Errorf("SORT moved: MOTA %.4f IDF1 %.4f IDSW %d, measured 0.3820, 0.4298, 502", s.MOTA, s.IDF1, s.IDSW)
	}
	// A regression guard: vigil meets issue 19's goal on these detections
	// (MOTA at least 2 points over SORT's, IDF1 at least 5, fewer ID
	// switches; mot/README.md), and must keep meeting it.
	for _, c := range []struct {
		what     string
		got, min float64
	}{
		// Measured 0.4064, 0.4915, 0.3736.
		{"MOTA", v.MOTA, 0.406},
		{"IDF1", v.IDF1, 0.491},
		{"HOTA", v.HOTA, 0.373},
		// Measured +2.44, +6.16, +2.70 points.
		{"MOTA over SORT", v.MOTA - s.MOTA, 0.024},
		{"IDF1 over SORT", v.IDF1 - s.IDF1, 0.061},
		{"HOTA over SORT", v.HOTA - s.HOTA, 0.026},
	} {
		if c.got < c.min {
			t.Errorf("vigil %s %.4f, want at least %.3f", c.what, c.got, c.min)
		}
	}
	if v.IDSW > 295 { // measured 288
		t.Errorf("vigil %d ID switches, measured 288 (SORT %d)", v.IDSW, s.IDSW)
	}
}
