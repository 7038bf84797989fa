package dataset

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vigil-vision/vigil/detect"
	"gocv.io/x/gocv"
)

// Folder is a Source of images in a folder, pre-labelled by running a
// detector over them: a way to bootstrap a dataset before there is a
// hard-example store. Images directly in Dir have no camera; images in a
// subfolder (one level) belong to the camera the subfolder is named
// after. An example's ID is its file name without the extension (CAMERA_NAME
// in a subfolder; the extension is kept when two files would share one),
// its Time the file's modification time.
//
// A JPEG is exported as it is. Any other image (PNG, BMP, …), and a JPEG
// with EXIF (whose orientation some tools apply and others do not), is
// encoded to a plain JPEG, and the detector runs on that JPEG's pixels, so
// that the labels describe exactly the image exported.
type Folder struct {
	Dir      string
	Detector Detector // nil: examples without boxes
	Reason   string   // each example's Reason: "pre-labelled by yolov8n.onnx"
	Quality  int      // JPEG quality for images that are not JPEGs; 95 when 0
}

type folderFile struct{ path, id, camera string }

// Examples yields the folder's images in order of ID.
func (f Folder) Examples(ctx context.Context, flt Filter) iter.Seq2[Example, error] {
	return func(yield func(Example, error) bool) {
		files, err := f.files()
		if err != nil {
			yield(Example{}, err)
			return
		}
		var dets []detect.Detection
		for _, ff := range files {
			if err := ctx.Err(); err != nil {
				yield(Example{}, err)
				return
			}
			if flt.Camera != "" && flt.Camera != ff.camera {
				continue
			}
			st, err := os.Stat(ff.path)
			if err != nil {
				yield(Example{}, err)
				return
			}
			if !flt.keep(ff.camera, st.ModTime()) {
				continue
			}
			e := Example{ID: ff.id, Camera: ff.camera, Time: st.ModTime(), Reason: f.Reason}
			if dets, err = f.load(&e, ff.path, dets[:0]); err != nil {
				yield(Example{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

func (f Folder) files() ([]folderFile, error) {
	ents, err := os.ReadDir(f.Dir)
	if err != nil {
		return nil, fmt.Errorf("images %s: %w", f.Dir, err)
	}
	var files []folderFile
	add := func(dir, camera string, ents []os.DirEntry) {
		for _, e := range ents {
			if !e.IsDir() && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
				files = append(files, folderFile{path: filepath.Join(dir, e.Name()), camera: camera})
			}
		}
	}
	add(f.Dir, "", ents)
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		sub, err := os.ReadDir(filepath.Join(f.Dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("images %s: %w", f.Dir, err)
		}
		add(filepath.Join(f.Dir, e.Name()), e.Name(), sub)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("images %s: no images (.jpg, .png, .bmp, .tif, .webp) in the folder or its subfolders", f.Dir)
	}
	stem := func(ff folderFile, ext bool) string {
		n := filepath.Base(ff.path)
		if !ext {
			n = strings.TrimSuffix(n, filepath.Ext(n))
		}
		if ff.camera != "" {
			n = ff.camera + "_" + n
		}
		return safeID(n)
	}
	count := map[string]int{}
	for _, ff := range files {
		count[stem(ff, false)]++
	}
	for i := range files {
		files[i].id = stem(files[i], count[stem(files[i], false)] > 1)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].id < files[j].id })
	return files, nil
}

// safeID replaces what a file name may hold but an ID may not.
func safeID(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && validID.MatchString(string(r)) {
			return r
		}
		return '_'
	}, s)
}

// load fills e's JPEG, size and boxes from the image file.
func (f Folder) load(e *Example, path string, dets []detect.Detection) ([]detect.Detection, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return dets, err
	}
	img, err := decode(raw)
	if err != nil {
		return dets, fmt.Errorf("image %s: %w", path, err)
	}
	if !bytes.HasPrefix(raw, []byte{0xff, 0xd8, 0xff}) || hasEXIF(raw) {
		raw, err = f.toJPEG(img)
		img.Close()
		if err != nil {
			return dets, fmt.Errorf("image %s: %w", path, err)
		}
		if img, err = decode(raw); err != nil {
			return dets, fmt.Errorf("image %s: its JPEG: %w", path, err)
		}
	}
	defer img.Close()
	e.JPEG, e.Width, e.Height = raw, img.Cols(), img.Rows()
	if f.Detector == nil {
		return dets, nil
	}
	dets, _, err = f.Detector.Detect(img, dets)
	if err != nil {
		return dets, fmt.Errorf("image %s: %w", path, err)
	}
	e.Boxes = boxes(dets)
	return dets, nil
}

func decode(b []byte) (gocv.Mat, error) {
	img, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err == nil && img.Empty() {
		err = fmt.Errorf("OpenCV cannot decode it; use JPEG, PNG, BMP, TIFF or WebP")
	}
	if err != nil {
		img.Close()
		return gocv.Mat{}, err
	}
	return img, nil
}

func (f Folder) toJPEG(img gocv.Mat) ([]byte, error) {
	q := f.Quality
	if q == 0 {
		q = 95
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, q})
	if err != nil {
		return nil, fmt.Errorf("encode JPEG: %w", err)
	}
	defer buf.Close()
	return bytes.Clone(buf.GetBytes()), nil
}

// hasEXIF says whether a JPEG has an EXIF segment (APP1, "Exif\0\0")
// before its image data.
func hasEXIF(b []byte) bool {
	for i := 2; i+4 <= len(b) && b[i] == 0xff; {
		marker, n := b[i+1], int(b[i+2])<<8|int(b[i+3])
		if marker == 0xda { // start of scan: no more headers
			return false
		}
		if marker == 0xe1 && bytes.HasPrefix(b[i+4:], []byte("Exif\x00\x00")) {
			return true
		}
		i += 2 + n
	}
	return false
}
