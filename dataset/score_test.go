package dataset

import (
	"math"
	"testing"
)

// row is n boxes of class 0, 100×50 px, far apart, scores falling from 0.9.
func row(n int) []Box {
	out := make([]Box, n)
	for i := range out {
		out[i] = Box{Class: 0, Score: 0.9 - 0.1*float64(i), X: 10 + 300*float64(i), Y: 20, W: 100, H: 50}
	}
	return out
}

func shifted(bs []Box, f float64) []Box {
	out := append([]Box(nil), bs...)
	for i := range out {
		out[i].X += f * out[i].W
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestScore(t *testing.T) {
	// A box moved along x by a fraction f of its width overlaps its
	// original by (1−f)/(1+f): f = 0.2 gives IoU 2/3, which passes the
	// thresholds 0.50…0.65 (4 of 10); f = 0.28/1.72 gives IoU 0.72, which
	// passes 0.50…0.70 (5 of 10).
	fp := func(score float64) Box { return Box{Class: 0, Score: score, X: 2000, Y: 500, W: 40, H: 40} }
	cases := []struct {
		name         string
		truth, pred  []Box
		map50, map95 float64
		p, r         float64
	}{
		{"predictions equal the truth", row(4), row(4), 1, 1, 1, 1},
		{"shifted to IoU 2/3", row(4), shifted(row(4), 0.2), 1, 0.4, 1, 1},
		{"shifted to IoU 0.72", row(4), shifted(row(4), 0.28/1.72), 1, 0.5, 1, 1},
		{"shifted to IoU 0.45", row(4), shifted(row(4), 0.55/1.45), 0, 0, 0, 0},
		// Recall stops at 3/4: the envelope is 1 at the 76 recall points
		// 0…0.75 and 0 at the 25 above.
		{"one prediction missing", row(4), row(4)[:3], 76.0 / 101, 76.0 / 101, 1, 0.75},
		// Below every true positive, false positives come after full
		// recall is reached: the envelope is 1 up to recall 1.
		{"false positives scored below every match", row(4), append(row(4), fp(0.05), fp(0.01)), 1, 1, 4.0 / 6, 1},
		// Ranked first, one false positive makes the precision at recall
		// 1/4, 2/4, 3/4, 1 be 1/2, 2/3, 3/4, 4/5; the envelope is 4/5
		// everywhere.
		{"a false positive scored above every match", row(4), append(row(4), fp(0.95)), 0.8, 0.8, 0.8, 1},
		{"no predictions", row(2), nil, 0, 0, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Score([]Annotated{{Truth: c.truth, Pred: c.pred}}, []string{"person"})
			if !near(r.MAP50, c.map50) || !near(r.MAP50_95, c.map95) {
				t.Errorf("mAP50 %v, mAP50-95 %v; want %v, %v", r.MAP50, r.MAP50_95, c.map50, c.map95)
			}
			if !near(r.All.Precision, c.p) || !near(r.All.Recall, c.r) {
				t.Errorf("precision %v, recall %v; want %v, %v", r.All.Precision, r.All.Recall, c.p, c.r)
			}
			if len(r.Classes) != 1 || r.Classes[0].Label != "person" || *r.Classes[0].AP50 != r.MAP50 {
				t.Errorf("classes %+v", r.Classes)
			}
		})
	}
}

func TestScoreClasses(t *testing.T) {
	names := []string{"person", "car", "dog"}
	person, car, dog := row(2), row(2), row(1)
	for i := range car {
		car[i].Class, car[i].Y = 1, 400
	}
	dog[0].Class, dog[0].Y = 2, 800
	r := Score([]Annotated{
		{Truth: person, Pred: person},         // perfect
		{Truth: car, Pred: shifted(car, 0.6)}, // IoU 0.25: no car found
		{Truth: nil, Pred: dog},               // a dog where there is none
		{},                                    // an empty frame
	}, names)
	if r.Images != 4 || len(r.Classes) != 3 {
		t.Fatalf("%+v", r)
	}
	p, c, d := r.Classes[0], r.Classes[1], r.Classes[2]
	if *p.AP50 != 1 || *c.AP50 != 0 || c.Recall != 0 || c.Precision != 0 {
		t.Errorf("person %+v, car %+v", p, c)
	}
	// A class without ground truth has no AP and takes no part in the
	// mean; its predictions still count against precision.
	if d.AP50 != nil || d.AP50_95 != nil || d.Truth != 0 || d.Predicted != 1 || d.Precision != 0 || d.Recall != 1 {
		t.Errorf("dog %+v", d)
	}
	if r.MAP50 != 0.5 || r.MAP50_95 != 0.5 {
		t.Errorf("mAP50 %v, mAP50-95 %v; want 0.5 (person 1, car 0)", r.MAP50, r.MAP50_95)
	}
	if r.All.Truth != 4 || r.All.Predicted != 5 || r.All.TP != 2 || !near(r.All.Precision, 0.4) || r.All.Recall != 0.5 {
		t.Errorf("all %+v", r.All)
	}
	// A prediction of the wrong class is a false positive of its class and
	// leaves the truth unmatched.
	wrong := row(1)
	wrong[0].Class = 1
	r = Score([]Annotated{{Truth: row(1), Pred: wrong}}, names)
	if r.MAP50 != 0 || r.All.TP != 0 || len(r.Classes) != 2 {
		t.Errorf("wrong class: %+v", r)
	}
	if r := Score(nil, names); r.MAP50 != 0 || len(r.Classes) != 0 || r.All.Precision != 1 || r.All.Recall != 1 {
		t.Errorf("nothing: %+v", r)
	}
}

// TestMatchGreedy: the higher-scored prediction takes the truth box it
// overlaps most, as COCO's matching does, even where a lower-scored one
// overlaps it more.
func TestMatchGreedy(t *testing.T) {
	gt := []Box{{X: 0, Y: 0, W: 100, H: 100}, {X: 60, Y: 0, W: 100, H: 100}}
	dt := []Box{{Score: 0.9, X: 30, Y: 0, W: 100, H: 100}, {Score: 0.8, X: 5, Y: 0, W: 100, H: 100}}
	// dt0 overlaps gt0 by 70/130 and gt1 by 70/130 too; ties go to the
	// later truth box (COCO's >=), leaving gt0 for dt1.
	if m := match(gt, dt, 0.5); m[0] != 1 || m[1] != 0 {
		t.Errorf("match %v, want [1 0]", m)
	}
	dt[0].X = 20 // now nearer gt0 (80/120) than gt1 (60/140)
	if m := match(gt, dt, 0.5); m[0] != 0 || m[1] != -1 {
		t.Errorf("match %v, want [0 -1]: dt1 overlaps gt1 by 45/155", m)
	}
}

func TestAP(t *testing.T) {
	cases := []struct {
		tp   []bool
		npos int
		want float64
	}{
		{nil, 3, 0},
		{[]bool{true, true}, 2, 1},
		{[]bool{false}, 1, 0},
		{[]bool{true, false}, 2, 51.0 / 101},                  // recall 0.5 at precision 1
		{[]bool{true, false, true}, 2, (51 + 50*2.0/3) / 101}, // then 2/3 on to recall 1
	}
	for _, c := range cases {
		if got := AP(c.tp, c.npos); !near(got, c.want) {
			t.Errorf("AP(%v, %d) = %v, want %v", c.tp, c.npos, got, c.want)
		}
	}
}

func TestIoU(t *testing.T) {
	a := Box{X: 10, Y: 10, W: 100, H: 50}
	for _, c := range []struct {
		b    Box
		want float64
	}{
		{a, 1},
		{shifted([]Box{a}, 0.2)[0], 2.0 / 3},
		{Box{X: 110, Y: 10, W: 100, H: 50}, 0},
		{Box{X: 10, Y: 10, W: 50, H: 50}, 0.5},
	} {
		if got := IoU(a, c.b); !near(got, c.want) {
			t.Errorf("IoU(%+v) = %v, want %v", c.b, got, c.want)
		}
	}
}
