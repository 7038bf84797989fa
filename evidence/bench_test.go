package evidence

import (
	"image"
	"testing"
)

// BenchmarkRender is the encoder's cost per event on a frame of the
// sample video (768×576): the drawing, the snapshot and the thumbnail.
func BenchmarkRender(b *testing.B) {
	frame := videoFrame(b)
	s := Shot{Box: image.Rect(200, 150, 260, 330), Label: "#7 person 0.81", Caption: "walkway  crossing: line_cross up",
		Others: []Object{{Box: image.Rect(500, 100, 550, 250), Label: "#3 person 0.77"}}}
	for b.Loop() {
		if _, _, err := Render(frame, s, 85, 160); err != nil {
			b.Fatal(err)
		}
	}
}
