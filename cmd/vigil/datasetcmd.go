package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-vision/vigil/assets"
	"github.com/vigil-vision/vigil/config"
	"github.com/vigil-vision/vigil/dataset"
	"github.com/vigil-vision/vigil/detect"
	"github.com/vigil-vision/vigil/examples"
)

const datasetUsage = `usage:
  vigil dataset export --from-images DIR --to OUT [--format yolo|coco|labelstudio]
        [--model MODEL] [--split 80/20] [--camera ID] [--since T] [flags]
  vigil dataset export --from-store [--nats URL | --config FILE | --dir DIR] --to OUT
        [--format yolo|coco|labelstudio] [--split 80/20] [--camera ID] [--since T]

Pre-labels the images in DIR (and in its subfolders, one per camera) with
MODEL, or takes the hard examples vigil captured (examples:), pre-labelled
by the live model, from the fleet's NATS bucket VIGIL_EXAMPLES or from
examples.store.dir (--dir, or the --config file's), and writes them to OUT,
an empty or new folder, as a training set:
  yolo         Ultralytics: images/{train,val}, labels/{train,val}, data.yaml
  coco         images/{train,val}, annotations/instances_{train,val}.json
  labelstudio  images/{train,val}, tasks.json with the boxes as predictions,
               labeling-config.xml
Measure a model on a YOLO-layout set with vigil model eval MODEL --on OUT.
Run 'vigil dataset export -h' for flags.`

func cmdDataset(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no dataset command\n%s", errUsage, datasetUsage)
	}
	switch args[0] {
	case "export":
		return cmdDatasetExport(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, datasetUsage)
		return nil
	}
	return fmt.Errorf("%w: unknown dataset command %q; use export", errUsage, args[0])
}

func cmdDatasetExport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigil dataset export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "", "output `folder`: new or empty")
	format := fs.String("format", "yolo", "yolo, coco or labelstudio")
	from := fs.String("from-images", "", "a `folder` of images (.jpg, .png, …) to pre-label; a subfolder's images belong to the camera it is named after")
	modelPath := fs.String("model", "", "ONNX detector `path` that pre-labels the images (default: the model from `make deps`)")
	splitStr := fs.String("split", "80/20", "train/val `proportions`; an example's split is a hash of its ID, so it keeps it in later exports")
	camera := fs.String("camera", "", "only this camera's examples (a subfolder's name)")
	sinceStr := fs.String("since", "", "only examples from `T` on: RFC 3339 (2025-03-01T08:00:00Z), a date (2025-03-01, UTC), or a duration back from now (24h)")
	conf := fs.Float64("confidence", 0.25, "confidence threshold of the pre-labels")
	threads := fs.Int("threads", 0, "onnxruntime intra-op threads (0: onnxruntime's default)")
	runtime := fs.String("onnxruntime-lib", "", "libonnxruntime.so `path`")
	lsRoot := fs.String("ls-root", "", "labelstudio: Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT `folder`, which must hold --to (default: --to itself)")
	fromStore := fs.Bool("from-store", false, "export the hard examples vigil captured (examples:) instead of --from-images")
	var sf examplesStoreFlags
	sf.add(fs)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return fmt.Errorf("%w: --to is required; e.g. vigil dataset export --from-images shots/ --to ds/ --format yolo", errUsage)
	}
	if (*from == "") == !*fromStore {
		return fmt.Errorf("%w: give --from-images DIR (a folder of images to pre-label) or --from-store (the hard examples vigil captured)", errUsage)
	}
	switch *format {
	case "yolo", "coco", "labelstudio":
	default:
		return fmt.Errorf("%w: --format %q: use yolo, coco or labelstudio", errUsage, *format)
	}
	split, err := dataset.ParseSplit(*splitStr)
	if err != nil {
		return fmt.Errorf("%w: --split: %v", errUsage, err)
	}
	since, err := parseSince(*sinceStr, time.Now())
	if err != nil {
		return fmt.Errorf("%w: --since: %v", errUsage, err)
	}
	if err := emptyDir(*to); err != nil {
		return err
	}
	if *fromStore {
		return exportStore(&sf, *to, *format, *lsRoot, split, dataset.Filter{Camera: *camera, Since: since}, stdout, stderr)
	}
	if *modelPath == "" {
		*modelPath = assets.Model()
	}
	if err := initRuntime(*runtime); err != nil {
		return err
	}
	det, err := openDetector(*modelPath, *conf, *threads, stderr)
	if err != nil {
		return err
	}
	defer det.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	src := dataset.Folder{Dir: *from, Detector: det, Reason: "pre-labelled by " + filepath.Base(*modelPath)}
	examples := src.Examples(ctx, dataset.Filter{Camera: *camera, Since: since})
	names := det.Labels()
	var w dataset.Written
	switch *format {
	case "yolo":
		w, err = dataset.WriteYOLO(*to, examples, names, split)
	case "coco":
		w, err = dataset.WriteCOCO(*to, examples, names, split)
	case "labelstudio":
		w, err = dataset.WriteLabelStudio(*to, examples, names, split,
			dataset.LabelStudioOptions{ModelVersion: filepath.Base(*modelPath), DocumentRoot: *lsRoot})
	}
	if err != nil {
		return fmt.Errorf("export to %s: %w", *to, err)
	}
	reportExport(w, *from, *to, *format, *lsRoot, stdout, stderr)
	return nil
}

func reportExport(w dataset.Written, from, to, format, lsRoot string, stdout, stderr io.Writer) {
	fmt.Fprintf(stdout, "wrote %d images (train %d, val %d) and %d boxes to %s (%s)\n", w.Images(), w.Train, w.Val, w.Boxes, to, format)
	if w.Images() == 0 {
		fmt.Fprintf(stderr, "warning: no image of %s passed --camera/--since\n", from)
	} else if w.Val == 0 && format == "yolo" {
		fmt.Fprintf(stderr, "warning: the val split is empty; Ultralytics and vigil model eval need images there (--split, e.g. 80/20)\n")
	}
	switch format {
	case "yolo":
		fmt.Fprintf(stdout, "next: check the labels, then vigil model eval MODEL --on %s\n", to)
	case "labelstudio":
		root := lsRoot
		if root == "" {
			root = to
		}
		fmt.Fprintf(stdout, "next: start Label Studio with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=%s,\n"+
			"use %s as the project's labeling interface, and import %s\n",
			root, filepath.Join(to, "labeling-config.xml"), filepath.Join(to, "tasks.json"))
	}
}

// examplesStoreFlags say where the hard examples are: a fleet's NATS
// (reached as vigil cameras reaches it), or a folder: --dir, or the
// --config file's examples.store.dir.
type examplesStoreFlags struct {
	fleetFlags
	dir string
}

func (f *examplesStoreFlags) add(fs *flag.FlagSet) {
	f.fleetFlags.add(fs)
	fs.StringVar(&f.dir, "dir", "", "--from-store: the `folder` of examples.store.dir, instead of NATS")
}

// open is the store; done closes what it opened.
func (f *examplesStoreFlags) open(ctx context.Context) (examples.Store, func(), error) {
	if f.dir != "" && (f.nats != "" || f.config != "") {
		return nil, nil, fmt.Errorf("%w: give --dir (a folder) or --nats/--config (a fleet's NATS), not both", errUsage)
	}
	if f.dir == "" && f.config != "" && f.nats == "" {
		cfg, err := config.Load(f.config)
		if err != nil {
			return nil, nil, err
		}
		f.dir = cfg.Examples.Store.Dir
	}
	if f.dir != "" {
		if _, err := os.Stat(f.dir); err != nil {
			return nil, nil, fmt.Errorf("examples folder: %w", err)
		}
		return &examples.Folder{Dir: f.dir}, func() {}, nil
	}
	_, nc, js, err := f.connect()
	if err != nil {
		return nil, nil, fmt.Errorf("%w; for a folder of examples give --dir DIR", err)
	}
	s, err := examples.OpenNATS(ctx, js, examples.NATSOptions{})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return s, nc.Close, nil
}

// exportStore writes the store's examples, their boxes the live model's.
func exportStore(sf *examplesStoreFlags, to, format, lsRoot string, split dataset.Split, flt dataset.Filter, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	store, done, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	names, err := store.Labels(ctx, flt)
	if err != nil {
		return err
	}
	src := store.Examples(ctx, flt)
	var w dataset.Written
	switch format {
	case "yolo":
		w, err = dataset.WriteYOLO(to, src, names, split)
	case "coco":
		w, err = dataset.WriteCOCO(to, src, names, split)
	case "labelstudio":
		w, err = dataset.WriteLabelStudio(to, src, names, split, dataset.LabelStudioOptions{ModelVersion: "vigil live model", DocumentRoot: lsRoot})
	}
	if err != nil {
		return fmt.Errorf("export to %s: %w", to, err)
	}
	reportExport(w, "the store", to, format, lsRoot, stdout, stderr)
	return nil
}

// emptyDir refuses an output folder that holds anything: an export never
// mixes with files it did not write.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case os.IsNotExist(err):
		return nil
	case err != nil:
		return fmt.Errorf("--to %s: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("%w: --to %s is not empty; give a new or empty folder", errUsage, dir)
	}
	return nil
}

// parseSince reads --since: RFC 3339, a date (UTC midnight), or a duration
// back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2025-03-01T08:00:00Z), a date (2025-03-01) or a duration (24h)", s)
}

func openDetector(path string, conf float64, threads int, stderr io.Writer) (*detect.Detector, error) {
	return detect.New(detect.Options{Model: path, Confidence: float32(conf), IntraOpThreads: threads,
		FallbackToCPU: true, Logger: zerolog.New(stderr).Level(zerolog.WarnLevel)})
}

// modelEvalReport is what vigil model eval --json prints.
type modelEvalReport struct {
	Model      string  `json:"model"`
	Confidence float64 `json:"confidence"`
	*dataset.Evaluation
}

func cmdModelEval(args []string, stdout, stderr io.Writer) error {
	fs := modelFlags("eval", stderr)
	on := fs.String("on", "", "a YOLO-layout dataset: a `folder` with data.yaml (vigil dataset export --format yolo writes one), or the yaml file")
	split := fs.String("split", dataset.Val, "the split to evaluate on, as data.yaml names it")
	conf := fs.Float64("confidence", 0.25, "confidence threshold: predictions below it are not counted, in AP as in precision and recall")
	threads := fs.Int("threads", 0, "onnxruntime intra-op threads (0: onnxruntime's default)")
	runtime := fs.String("onnxruntime-lib", "", "libonnxruntime.so `path`")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *on == "" {
		return fmt.Errorf("%w: vigil model eval MODEL --on DATASET [--split val] [--json]", errUsage)
	}
	if err := initRuntime(*runtime); err != nil {
		return err
	}
	det, err := openDetector(pos[0], *conf, *threads, stderr)
	if err != nil {
		return err
	}
	defer det.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ev, err := dataset.Eval(ctx, det, *on, *split)
	if err != nil {
		return err
	}
	if ev.All.Truth == 0 {
		return fmt.Errorf("dataset %s: the %s split has %d images and no labelled box: there is nothing to measure against", *on, *split, ev.Images)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(modelEvalReport{Model: pos[0], Confidence: *conf, Evaluation: ev})
	}
	fmt.Fprintf(stdout, "model %s on %s (%s): %d images, %d labelled boxes, confidence %.2f\n", pos[0], *on, *split, ev.Images, ev.All.Truth, *conf)
	yamlDir := *on
	if st, err := os.Stat(*on); err == nil && !st.IsDir() {
		yamlDir = filepath.Dir(*on)
	}
	if abs, _ := filepath.Abs(yamlDir); abs != ev.Root {
		fmt.Fprintf(stdout, "images and labels from %s, data.yaml's path\n", ev.Root)
	}
	fmt.Fprintln(stdout)
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "class\tlabelled\tpredicted\tprecision\trecall\tAP50\tAP50-95\t")
	for _, c := range append(ev.Classes, ev.All) {
		fmt.Fprintf(w, "%s\t%d\t%d\t%.3f\t%.3f\t%s\t%s\t\n", c.Label, c.Truth, c.Predicted, c.Precision, c.Recall, apStr(c.AP50), apStr(c.AP50_95))
	}
	w.Flush()
	fmt.Fprintf(stdout, "\nmAP50 %.3f  mAP50-95 %.3f\n", ev.MAP50, ev.MAP50_95)
	fmt.Fprintln(stdout, "AP: COCO's 101-point interpolation, IoU 0.50 and 0.50:0.05:0.95, mean over the classes with labelled boxes;")
	fmt.Fprintln(stdout, "precision and recall at IoU 0.50 and the confidence threshold.")
	if ev.LeftOut > 0 {
		fmt.Fprintf(stdout, "%d predictions of classes data.yaml does not name were left out.\n", ev.LeftOut)
	}
	return nil
}

func apStr(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f", *v)
}
