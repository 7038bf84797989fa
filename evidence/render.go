package evidence

import (
	"fmt"
	"image"
	"image/color"

	"github.com/vigil-vision/vigil/annotate"
	"gocv.io/x/gocv"
)

// Highlight is the colour of the event's object in a snapshot: no class
// colour (annotate.Color) is this red.
var Highlight = color.RGBA{R: 255, G: 24, B: 24}

// Object is one tracked object on the frame, as a snapshot draws it and a
// record keeps it.
type Object struct {
	Box     image.Rectangle `json:"-"` // frame pixels
	Class   int             `json:"class"`
	Label   string          `json:"label"`          // as drawn: "#id name score"
	Name    string          `json:"name,omitempty"` // the class's label
	Score   float64         `json:"score,omitempty"`
	TrackID uint64          `json:"track_id,omitempty"`
	XYXY    [4]int          `json:"box"` // Box, in JSON
}

// Shot is what a snapshot shows beside the frame: the event's object
// highlighted, the frame's other objects in their class colours, the
// rule's zone or line, and a caption.
type Shot struct {
	Box    image.Rectangle // the event's object; empty: none (e.g. occupancy cleared)
	Object *Object         // the event's object, for the record; nil: none
	// Others are the frame's other tracks, drawn in their class colours.
	Label   string // over the highlighted box
	Others  []Object
	Overlay func(img *gocv.Mat) // draws the rule (and any others); nil: nothing
	Caption string              // top left, e.g. the rule, the event and the time
}

// objects are a shot's tracks for its record, the event's first.
func (s Shot) objects() []Object {
	var out []Object
	if s.Object != nil {
		out = append(out, *s.Object)
	}
	out = append(out, s.Others...)
	for i := range out {
		b := out[i].Box
		out[i].XYXY = [4]int{b.Min.X, b.Min.Y, b.Max.X, b.Max.Y}
	}
	return out
}

// highlightWidth is the highlighted box's line width: thicker than a class
// box's 2 pixels at every size, so that it stands out.
func highlightWidth(height int) int { return max(4, height/180) }

// Render draws s on a copy of frame and encodes it as a JPEG of quality
// q (1-100), and crops the event's object from the clean frame, a quarter
// of its size around it, into a thumbnail whose longer side is thumb
// pixels. Without an object the thumbnail is the whole frame, that small.
func Render(frame gocv.Mat, s Shot, q, thumb int) (snapshot, thumbnail []byte, err error) {
	if frame.Empty() {
		return nil, nil, fmt.Errorf("evidence: the frame is empty")
	}
	bounds := image.Rect(0, 0, frame.Cols(), frame.Rows())
	img := frame.Clone()
	defer img.Close()
	if s.Overlay != nil {
		s.Overlay(&img)
	}
	for _, o := range s.Others {
		if r := o.Box.Intersect(bounds); !r.Empty() {
			annotate.Box(&img, r, o.Class, o.Label)
		}
	}
	box := s.Box.Intersect(bounds)
	if !box.Empty() {
		w := highlightWidth(frame.Rows())
		gocv.Rectangle(&img, box, Highlight, w) // centred on the box's edges
		if s.Label != "" {
			annotate.Text(&img, s.Label, image.Pt(box.Min.X, max(box.Min.Y-w-4, 16)), Highlight)
		}
	}
	if s.Caption != "" {
		annotate.Text(&img, s.Caption, image.Pt(8, 22), color.RGBA{R: 255, G: 255, B: 255})
	}
	if snapshot, err = encode(img, q); err != nil {
		return nil, nil, err
	}

	crop := bounds
	if !box.Empty() {
		pad := image.Pt(box.Dx()/4+2, box.Dy()/4+2)
		crop = image.Rectangle{Min: box.Min.Sub(pad), Max: box.Max.Add(pad)}.Intersect(bounds)
	}
	region := frame.Region(crop)
	defer region.Close()
	scale := float64(thumb) / float64(max(crop.Dx(), crop.Dy()))
	size := image.Pt(max(1, int(float64(crop.Dx())*scale+0.5)), max(1, int(float64(crop.Dy())*scale+0.5)))
	small := gocv.NewMat()
	defer small.Close()
	interp := gocv.InterpolationArea
	if scale > 1 {
		interp = gocv.InterpolationLinear
	}
	gocv.Resize(region, &small, size, 0, 0, interp)
	if thumbnail, err = encode(small, q); err != nil {
		return nil, nil, err
	}
	return snapshot, thumbnail, nil
}

func encode(img gocv.Mat, q int) ([]byte, error) {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, q})
	if err != nil {
		return nil, fmt.Errorf("evidence: encode JPEG: %w", err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}
