package annotate

import (
	"image"
	"image/color"

	"gocv.io/x/gocv"
)

// palette is Ultralytics' class palette; class ids cycle through it.
var palette = []color.RGBA{
	{56, 56, 255, 0}, {151, 157, 255, 0}, {31, 112, 255, 0}, {29, 178, 255, 0},
	{49, 210, 207, 0}, {10, 249, 72, 0}, {23, 204, 146, 0}, {134, 219, 61, 0},
	{52, 147, 26, 0}, {187, 212, 0, 0}, {168, 153, 44, 0}, {255, 194, 0, 0},
}

// Color is the colour of class id class; negative ids take the first one.
func Color(class int) color.RGBA {
	if class < 0 {
		class = 0
	}
	return palette[class%len(palette)]
}

var white = color.RGBA{255, 255, 255, 0}

const (
	font      = gocv.FontHersheySimplex
	fontScale = 0.5
)

// Box outlines r in the colour of class and writes label on a bar of that
// colour above it (inside the frame when the box touches the top edge).
func Box(img *gocv.Mat, r image.Rectangle, class int, label string) {
	c := Color(class)
	gocv.Rectangle(img, r, c, 2)
	if label == "" {
		return
	}
	sz := gocv.GetTextSize(label, font, fontScale, 1)
	top := max(r.Min.Y-sz.Y-6, 0)
	gocv.Rectangle(img, image.Rect(r.Min.X, top, r.Min.X+sz.X+4, top+sz.Y+6), c, -1)
	gocv.PutText(img, label, image.Pt(r.Min.X+2, top+sz.Y+2), font, fontScale, white, 1)
}

// Polygon outlines a closed polygon and names it at its first point.
func Polygon(img *gocv.Mat, pts []image.Point, c color.RGBA, name string) {
	if len(pts) < 2 {
		return
	}
	pv := gocv.NewPointsVectorFromPoints([][]image.Point{pts})
	defer pv.Close()
	gocv.Polylines(img, pv, true, c, 2)
	if name != "" {
		Text(img, name, pts[0].Add(image.Pt(4, 16)), c)
	}
}

// Line draws a segment with an arrow head at b, so a counting line shows its
// direction, and names it at its middle.
func Line(img *gocv.Mat, a, b image.Point, c color.RGBA, name string) {
	gocv.ArrowedLine(img, a, b, c, 2)
	if name != "" {
		Text(img, name, a.Add(b).Div(2).Add(image.Pt(4, -4)), c)
	}
}

// Text writes s with its baseline at p, on a dark plate so that it reads on
// any background.
func Text(img *gocv.Mat, s string, p image.Point, c color.RGBA) {
	sz := gocv.GetTextSize(s, font, fontScale, 1)
	gocv.Rectangle(img, image.Rect(p.X-2, p.Y-sz.Y-4, p.X+sz.X+2, p.Y+4), color.RGBA{0, 0, 0, 0}, -1)
	gocv.PutText(img, s, p, font, fontScale, c, 1)
}
