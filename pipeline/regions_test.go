package pipeline

import (
	"image"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/internal/scenes"
)

// TestRegionsFindSmallPersons: on vtest.avi shrunk into a 1920×1080
// frame (people a few dozen pixels tall), read losslessly with motion
// gating, the frames with motion are looked at in at most Max crops
// inside the frame, and find more persons than the same frames looked at
// whole; a whole frame still comes at least every FullInterval; and two
// runs crop and detect the same, frame for frame, whether the detector
// overlaps its steps or runs them in turn.
func TestRegionsFindSmallPersons(t *testing.T) {
	video := assets.Media("vtest.avi")
	large, err := scenes.NewLarge(video, image.Pt(1920, 1080), 0.5, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer large.Close()
	path := filepath.Join(t.TempDir(), "large.avi")
	const frames = 45
	if err := large.Write(path, 10, video, 60, frames); err != nil {
		t.Fatal(err)
	}
	det := detectorThreads(t, 2)
	whole, _ := runScene(t, det, path, &Gate{})
	regions := &Regions{Max: 2}
	cropped, p := runScene(t, det, path, &Gate{Regions: regions})
	serial, _ := runScene(t, det, path, &Gate{Regions: regions}, func(o *Options) { o.Serial = true })
	if len(whole) != frames || len(cropped) != frames || len(serial) != frames {
		t.Fatalf("results: whole %d, cropped %d, serial %d; want %d", len(whole), len(cropped), len(serial), frames)
	}

	persons := func(f loggedFrame) (n int) {
		for _, d := range f.dets {
			if d.Class == 0 {
				n++
			}
		}
		return n
	}
	var inCrops, wholeOnThem, crops, sinceWhole, maxSinceWhole int
	for i, f := range cropped {
		if f.skipped {
			continue
		}
		if len(f.regions) == 0 {
			sinceWhole = 0
			continue
		}
		sinceWhole++
		maxSinceWhole = max(maxSinceWhole, sinceWhole)
		if len(f.regions) > regions.Max {
			t.Errorf("frame %d: %d crops, want at most %d", i, len(f.regions), regions.Max)
		}
		for _, r := range f.regions {
			if !r.In(image.Rect(0, 0, 1920, 1080)) || r.Dx() < 640 {
				t.Errorf("frame %d: crop %v outside the frame or smaller than the model input", i, r)
			}
		}
		crops += len(f.regions)
		inCrops += persons(f)
		wholeOnThem += persons(whole[i])
		if !slices.Equal(f.regions, serial[i].regions) || len(f.dets) != len(serial[i].dets) {
			t.Errorf("frame %d: overlapped run cropped %v found %d, serial run %v found %d", i, f.regions, len(f.dets), serial[i].regions, len(serial[i].dets))
		}
	}
	t.Logf("frames in crops: %d crops, %d persons; the same frames whole: %d persons; longest run without a whole frame %d",
		crops, inCrops, wholeOnThem, maxSinceWhole)
	if crops == 0 {
		t.Fatal("no frame was looked at in crops")
	}
	if inCrops < wholeOnThem*5/4 || inCrops < wholeOnThem+5 {
		t.Errorf("persons found in crops %d, whole %d: crops should find clearly more", inCrops, wholeOnThem)
	}
	if maxSinceWhole > 20 { // FullInterval 2 s at 10 fps
		t.Errorf("%d frames in a row in crops; a whole frame is due every 2 s (20 frames)", maxSinceWhole)
	}
	if c, _ := p.Gating("scene"); c.Crops != uint64(crops) || c.RegionFrames == 0 {
		t.Errorf("Gating: %d frames in %d crops; the sink saw %d crops", c.RegionFrames, c.Crops, crops)
	}
}
