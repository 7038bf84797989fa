package model

import (
	"reflect"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

func TestCompareSelf(t *testing.T) {
	requireRuntime(t)
	c, err := Compare(assets.Model(), assets.Model(), CompareOptions{Threads: 2,
		Frames: Frames{Paths: []string{assets.Media("messi5.jpg"), assets.Media("basketball1.png")}}})
	if err != nil {
		t.Fatal(err)
	}
	person, ok := c.Class("person")
	if c.Frames != 2 || c.Agreement != 1 || c.All.Precision != 1 || c.All.Recall != 1 || c.MeanScoreChange != 0 ||
		c.MeanBoxIoU != 1 || !ok || person.Ref < 3 || person.Matched != person.Ref || c.SpeedRatio <= 0 {
		t.Errorf("the default model against itself: %+v", c)
	}
}

func TestMatch(t *testing.T) {
	box := func(x float32) detect.Box { return detect.Box{X1: x, Y1: 0, X2: x + 10, Y2: 10} }
	d := func(class int, score, x float32) detect.Detection {
		return detect.Detection{Class: class, Score: score, Box: box(x)}
	}
	cases := []struct {
		name      string
		ref, cand []detect.Detection
		want      int
	}{
		{"same", []detect.Detection{d(0, .9, 0), d(0, .8, 50)}, []detect.Detection{d(0, .8, 50), d(0, .9, 0)}, 2},
		{"shifted beyond IoU 0.5", []detect.Detection{d(0, .9, 0)}, []detect.Detection{d(0, .9, 4)}, 0}, // IoU 6/14
		{"shifted within IoU 0.5", []detect.Detection{d(0, .9, 0)}, []detect.Detection{d(0, .9, 3)}, 1}, // IoU 7/13
		{"other class", []detect.Detection{d(0, .9, 0)}, []detect.Detection{d(1, .9, 0)}, 0},
		{"one candidate for two", []detect.Detection{d(0, .9, 0), d(0, .5, 1)}, []detect.Detection{d(0, .7, 0)}, 1},
		{"empty", nil, []detect.Detection{d(0, .9, 0)}, 0},
	}
	for _, c := range cases {
		if got := match(c.ref, c.cand, 0.5); len(got) != c.want {
			t.Errorf("%s: %d matches, want %d", c.name, len(got), c.want)
		}
	}
}

func TestBudgets(t *testing.T) {
	cases := []struct {
		counts []int
		max    int
		want   []int
	}{
		{[]int{795, 1, 1}, 40, []int{38, 1, 1}},
		{[]int{795, 1, 1}, 0, []int{-1, -1, -1}},
		{[]int{10, 10}, 5, []int{3, 2}},
		{[]int{2, 100, 3}, 30, []int{2, 25, 3}},
		{[]int{1, 1, 1, 1}, 2, []int{1, 1, 0, 0}},
		{[]int{-1, 5}, 20, []int{15, 5}}, // a video of unknown length takes the rest
	}
	for _, c := range cases {
		srcs := make([]source, len(c.counts))
		for i, n := range c.counts {
			srcs[i].count = n
		}
		if got := budgets(srcs, c.max); !reflect.DeepEqual(got, c.want) {
			t.Errorf("budgets(%v, %d) = %v, want %v", c.counts, c.max, got, c.want)
		}
	}
}

func TestFramesPhase(t *testing.T) {
	names := func(phase float64) []string {
		var out []string
		n, err := Frames{Paths: []string{assets.Media("vtest.avi"), assets.Media("messi5.jpg")}, Max: 5, Phase: phase}.Each(
			func(name string, img gocv.Mat) error {
				if img.Empty() || img.Type() != gocv.MatTypeCV8UC3 {
					t.Errorf("%s: empty or not BGR", name)
				}
				out = append(out, name)
				return nil
			})
		if err != nil || n != 5 {
			t.Fatalf("%d frames, %v", n, err)
		}
		return out
	}
	a, b := names(0), names(0.5)
	v := assets.Media("vtest.avi")
	// vtest.avi has 795 frames: 4 of them, every 198.75th, then the image.
	want := []string{v + "#0", v + "#198", v + "#397", v + "#596", assets.Media("messi5.jpg")}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("phase 0: %v, want %v", a, want)
	}
	for _, x := range b[:4] {
		for _, y := range a[:4] {
			if x == y {
				t.Errorf("phase 0.5 repeats %s", x)
			}
		}
	}
}
