package modelstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/model"
	"google.golang.org/protobuf/proto"
)

// checked is a file that passed Push's checks: tmp is a private copy of
// the bytes that were checked (the caller stores it, then removes it), v
// the version without its number and time.
type checked struct {
	tmp string
	v   Version
}

// check reads path once, checks it as vigil's detector would take it, and
// leaves the checked bytes in a temporary file under tmpDir, so that what
// is stored is what was checked even if path changes meanwhile.
func check(name, path, tmpDir string) (*checked, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, refuse(CheckReadable, "push %q: %s is not readable: %w; give the path of an .onnx file", name, path, pathErr(err))
	}
	m := &onnx.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, refuse(CheckONNX, "push %q: %s is not an ONNX model (truncated, or not protobuf): %v; export the detector to ONNX (yolo export format=onnx, torch.onnx.export) and push the .onnx file whole", name, path, err)
	}
	if m.Graph == nil || len(m.Graph.Node) == 0 || m.IrVersion <= 0 {
		return nil, refuse(CheckONNX, "push %q: %s is not an ONNX model (truncated, or not protobuf): it holds no graph; export the detector to ONNX (yolo export format=onnx, torch.onnx.export) and push the .onnx file whole", name, path)
	}
	if _, err := model.Parse(b); err != nil {
		return nil, refuse(CheckONNX, "push %q: %s: %w", name, path, err)
	}
	sum := sha256.Sum256(b)
	tmp, err := writeTemp(tmpDir, ".push-*.onnx", b)
	if err != nil {
		return nil, fmt.Errorf("push %q: %w", name, err)
	}
	info, err := model.Inspect(tmp)
	if err != nil {
		os.Remove(tmp)
		return nil, refuse(CheckONNX, "push %q: %s: %w", name, path, err)
	}
	v := Version{
		Name: name, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(b)), Source: filepath.Base(path),
		Classes: info.Classes, Decoder: info.Decoder, DecoderClasses: info.DecoderClasses, Quantized: info.Quantized,
	}
	if v.Classes == nil {
		v.Classes = []string{}
	}
	if err := checkInput(name, path, info, &v); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if strings.HasPrefix(info.Decoder, "none") {
		os.Remove(tmp)
		var outs []string
		for _, o := range info.Outputs {
			outs = append(outs, fmt.Sprintf("%s %s [%s]", o.Name, o.Type, strings.Join(o.Shape, ",")))
		}
		why := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(info.Decoder, "none"), ":"))
		return nil, refuse(CheckDecoder, "push %q: %s: no decoder for outputs %s: %s", name, path, strings.Join(outs, ", "), why)
	}
	return &checked{tmp: tmp, v: v}, nil
}

// checkInput asks what detect.New asks of the input: one float32 NCHW
// image, batch 1 (or dynamic), 3 channels. It fills v.Input.
func checkInput(name, path string, info *model.Info, v *Version) error {
	if len(info.Inputs) != 1 {
		var ins []string
		for _, t := range info.Inputs {
			ins = append(ins, fmt.Sprintf("%q [%s]", t.Name, strings.Join(t.Shape, ",")))
		}
		return refuse(CheckInput, "push %q: %s: has %d inputs (%s); vigil needs one NCHW image input of rank 4", name, path, len(info.Inputs), strings.Join(ins, ", "))
	}
	in := info.Inputs[0]
	for _, d := range in.Shape {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n <= 0 {
			n = -1 // a symbolic or unknown size
		}
		v.Input = append(v.Input, n)
	}
	if v.Input == nil {
		v.Input = []int64{}
	}
	if len(v.Input) != 4 {
		return refuse(CheckInput, "push %q: %s: input %q has rank %d (%v); vigil needs one NCHW image input of rank 4", name, path, in.Name, len(v.Input), v.Input)
	}
	if in.Type != "float32" || (v.Input[0] != 1 && v.Input[0] != -1) || v.Input[1] != 3 {
		return refuse(CheckInput, "push %q: %s: input %q is %s %v; vigil needs float32 [1,3,H,W] (an image in CHW order): export the model with a fixed batch of 1", name, path, in.Name, in.Type, v.Input)
	}
	return nil
}

func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// writeTemp writes b to a new file in dir and returns its path.
func writeTemp(dir, pattern string, b []byte) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("temporary file: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

// fetchInto makes dir/<sha256>.onnx hold v's bytes: a file already there
// with the right sha256 is kept; otherwise open's bytes are copied in
// through a temporary file and their sha256 checked before the rename, so
// a damaged copy never takes the name.
func fetchInto(ctx context.Context, v Version, dir string, open func(context.Context) (io.ReadCloser, error)) (string, error) {
	ref := fmt.Sprintf("model %q@%d", v.Name, v.Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", ref, err)
	}
	dst := filepath.Join(dir, v.SHA256+".onnx")
	if got, err := detect.FileSHA256(dst); err == nil && got == v.SHA256 {
		return dst, nil
	}
	r, err := open(ctx)
	if err != nil {
		return "", err
	}
	defer r.Close()
	f, err := os.CreateTemp(dir, ".fetch-*.onnx")
	if err != nil {
		return "", fmt.Errorf("%s: %w", ref, err)
	}
	defer os.Remove(f.Name()) // after a rename, nothing
	h := sha256.New()
	err = f.Chmod(0o644)
	if err == nil {
		_, err = io.Copy(io.MultiWriter(f, h), r)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("%s: copy to %s: %w", ref, dir, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != v.SHA256 {
		return "", refuse(CheckSHA256, "%s: sha256 mismatch: stored %s, got %s; push it again", ref, shortSHA(v.SHA256), shortSHA(got))
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return "", fmt.Errorf("%s: %w", ref, err)
	}
	return dst, nil
}
