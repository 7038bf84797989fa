package liveview

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"time"

	"github.com/vigil-vision/vigil/annotate"
	"github.com/vigil-vision/vigil/track"
	"gocv.io/x/gocv"
)

const (
	// staleAfter: tracks older than this are not drawn (the detector has
	// stopped serving this camera), rather than frozen or flung ahead.
	staleAfter = 2 * time.Second
	// maxAhead bounds how far tracks are moved with their velocity.
	maxAhead = time.Second
)

var (
	zoneColor = color.RGBA{255, 170, 0, 0}
	lineColor = color.RGBA{0, 230, 255, 0}
	hudColor  = color.RGBA{255, 255, 255, 0}
	// The motion overlay: blobs in magenta, the detector's crops in yellow.
	motionColor = color.RGBA{255, 0, 255, 0}
	cropColor   = color.RGBA{0, 255, 255, 0}
)

// placed is a track as drawn on one frame.
type placed struct {
	box   track.Box
	track track.Track
}

// place moves res's tracks to time at: exact results (ProcessedOnly) are
// drawn as they are; otherwise each box is carried along its velocity for
// the frames of tracker time between the result and this frame.
func place(res *result, at time.Time, exact bool) []placed {
	if res == nil {
		return nil
	}
	age := at.Sub(res.at)
	if age > staleAfter || age < -staleAfter {
		return nil
	}
	steps := 0.0
	if !exact && res.step > 0 {
		steps = min(age, maxAhead).Seconds() / res.step.Seconds()
		steps = max(steps, -2)
	}
	out := make([]placed, len(res.tracks))
	for i, t := range res.tracks {
		out[i] = placed{box: t.Predict(steps), track: t}
	}
	return out
}

// TrackLabel is how a track is named on a picture: "#id label score".
func TrackLabel(t track.Track, labels []string) string {
	name := strconv.Itoa(t.Class)
	if t.Class >= 0 && t.Class < len(labels) {
		name = labels[t.Class]
	}
	return fmt.Sprintf("#%d %s %.2f", t.ID, name, t.Score)
}

// Rect is a track box in whole pixels.
func Rect(b track.Box) image.Rectangle {
	return image.Rect(int(math.Round(b.X1)), int(math.Round(b.Y1)), int(math.Round(b.X2)), int(math.Round(b.Y2)))
}

// draw annotates img (a copy the caller owns) for capture time at: the
// camera's rule zones and lines, every tracked object, the HUD and the time
// stamp. It returns the number of objects drawn.
// Draw draws the zones and lines on img, as the live view and event
// snapshots show them.
func (ov Overlay) Draw(img *gocv.Mat) {
	for _, z := range ov.Zones {
		annotate.Polygon(img, z.Points, zoneColor, z.Name)
	}
	for _, l := range ov.Lines {
		annotate.Line(img, l.A, l.B, lineColor, l.Name)
	}
}

func (c *camera) draw(img *gocv.Mat, at time.Time, seq uint64, res *result, exact bool) int {
	if c.s.opts.Overlay != nil {
		c.s.opts.Overlay(c.id, img.Cols(), img.Rows()).Draw(img)
	}
	objs := place(res, at, exact)
	var labels []string
	if res != nil {
		labels = res.labels
	}
	if c.overlay.Load() && res != nil {
		drawMotion(img, res)
	}
	for _, o := range objs {
		annotate.Box(img, Rect(o.box), o.track.Class, TrackLabel(o.track, labels))
	}

	hud := fmt.Sprintf("%s  %.1f fps  %d objects", c.id, c.src.Status().FPS, len(objs))
	if res != nil {
		hud += fmt.Sprintf("  infer %.0f ms", float64(res.infer)/float64(time.Millisecond))
		if age := at.Sub(res.at); age > staleAfter {
			hud += fmt.Sprintf("  no detections for %.0fs", age.Seconds())
		}
	}
	if c.overlay.Load() && res != nil && res.gate != "" {
		hud += "  gate " + res.gate
		if res.skipped {
			hud += " (held)"
		}
	}
	annotate.Text(img, hud, image.Pt(8, 22), hudColor)
	annotate.Text(img, fmt.Sprintf("%s  #%d", at.Format("15:04:05.000"), seq), image.Pt(8, 44), hudColor)
	drawStamp(img, uint32(at.UnixMilli()))
	return len(objs)
}

// drawMotion draws what motion gating saw on the latest processed frame:
// the moving blobs (thin) and the crops the detector looked in (thick,
// numbered).
func drawMotion(img *gocv.Mat, res *result) {
	for _, b := range res.motion {
		gocv.Rectangle(img, b, motionColor, 1)
	}
	for i, r := range res.regions {
		gocv.Rectangle(img, r, cropColor, 3)
		annotate.Text(img, fmt.Sprintf("crop %d", i+1), r.Min.Add(image.Pt(6, 20)), cropColor)
	}
}
