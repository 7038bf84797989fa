package dataset

import (
	"encoding/json"
	"iter"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-vision/vigil/internal/jsonnum"
)

// COCO annotation files, as COCO's data format page defines them.
type (
	cocoFile struct {
		Info        cocoInfo         `json:"info"`
		Images      []cocoImage      `json:"images"`
		Annotations []cocoAnnotation `json:"annotations"`
		Categories  []cocoCategory   `json:"categories"`
	}
	cocoInfo struct {
		Description string `json:"description"`
	}
	cocoImage struct {
		ID       int    `json:"id"`
		FileName string `json:"file_name"` // in images/SPLIT/
		Width    int    `json:"width"`
		Height   int    `json:"height"`
		Camera   string `json:"camera,omitempty"`
		Time     string `json:"time,omitempty"` // RFC 3339
	}
	cocoAnnotation struct {
		ID         int        `json:"id"`
		ImageID    int        `json:"image_id"`
		CategoryID int        `json:"category_id"` // class id + 1
		BBox       [4]float64 `json:"bbox"`        // x, y (top-left), width, height in pixels
		Area       float64    `json:"area"`        // width × height
		IsCrowd    int        `json:"iscrowd"`     // always 0
		Score      float64    `json:"score"`
	}
	cocoCategory struct {
		ID   int    `json:"id"` // class id + 1
		Name string `json:"name"`
	}
)

// WriteCOCO writes COCO object-detection annotations into dir:
//
//	images/{train,val}/ID.jpg
//	annotations/instances_{train,val}.json
//
// Category ids are 1-based, class id + 1, as in COCO's own files (tools
// built on torchvision keep 0 for the background); image and annotation
// ids count from 1 in each file (pycocotools takes id 0 for "unmatched").
// Boxes are [x, y, width, height] in pixels, to the hundredth; each
// annotation keeps the detector's score.
func WriteCOCO(dir string, examples iter.Seq2[Example, error], names []string, split Split) (Written, error) {
	if err := os.MkdirAll(filepath.Join(dir, "annotations"), 0o755); err != nil {
		return Written{}, err
	}
	cats := make([]cocoCategory, len(names))
	for i, n := range names {
		cats[i] = cocoCategory{ID: i + 1, Name: n}
	}
	files := map[string]*cocoFile{}
	for _, s := range []string{Train, Val} {
		files[s] = &cocoFile{
			Info:        cocoInfo{Description: "vigil dataset export, " + s},
			Images:      []cocoImage{},
			Annotations: []cocoAnnotation{},
			Categories:  cats,
		}
	}
	w, err := export(dir, examples, names, split, func(e Example, s, image string) error {
		f := files[s]
		img := cocoImage{ID: len(f.Images) + 1, FileName: filepath.Base(image), Width: e.Width, Height: e.Height, Camera: e.Camera}
		if !e.Time.IsZero() {
			img.Time = e.Time.UTC().Format(time.RFC3339Nano)
		}
		f.Images = append(f.Images, img)
		for _, b := range e.Boxes {
			x, y, bw, bh := jsonnum.Round(b.X, 2), jsonnum.Round(b.Y, 2), jsonnum.Round(b.W, 2), jsonnum.Round(b.H, 2)
			f.Annotations = append(f.Annotations, cocoAnnotation{ID: len(f.Annotations) + 1, ImageID: img.ID,
				CategoryID: b.Class + 1, BBox: [4]float64{x, y, bw, bh}, Area: jsonnum.Round(bw*bh, 2),
				Score: jsonnum.Round(b.Score, 4)})
		}
		return nil
	})
	if err != nil {
		return w, err
	}
	for _, s := range []string{Train, Val} {
		b, err := json.Marshal(files[s])
		if err != nil {
			return w, err
		}
		if err := os.WriteFile(filepath.Join(dir, "annotations", "instances_"+s+".json"), b, 0o644); err != nil {
			return w, err
		}
	}
	return w, nil
}
