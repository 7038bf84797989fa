package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// FieldError is one problem with a configuration: where it is and what to do.
// Its text is "file:line: field.path: problem; fix", leaving out the parts
// that are unknown (a Config built in code has no file or line).
type FieldError struct {
	File string // the name given to Parse, or the path given to Load
	Line int    // 1-based; 0 when unknown
	Path string // e.g. cameras[1].url; "" for the file as a whole
	Msg  string // e.g. `unsupported scheme "rtmp"; use rtsp://, …`
}

func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and parses the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config file %q does not exist: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read config file %q: %w", path, err)
	}
	return Parse(data, path)
}

// Parse decodes a YAML configuration strictly, fills in the defaults of the
// keys that are absent or null, and validates the result. name is used in
// error messages, usually the file's path. The error, if any, lists every
// problem found, each a *FieldError (see errors.Join), in the order of their
// lines: unknown keys together with the invalid values of the keys that are
// known, so that one pass over the file fixes both. Only a value that cannot
// be read (malformed YAML, a mistyped value) leaves nothing to validate.
func Parse(data []byte, name string) (*Config, error) {
	cfg, _, err := parse(data, name)
	return cfg, err
}

// parse is Parse that also returns the walk, for tests to see which paths
// the file set.
func parse(data []byte, name string) (*Config, *walker, error) {
	w := newWalker(name, "a mapping of settings at the top level", "the whole configuration")
	cfg := &Config{}
	if err := w.decode(data, cfg); err != nil {
		return nil, w, err
	}
	fillDefaults(reflect.ValueOf(cfg).Elem(), reflect.ValueOf(Default()).Elem(), "", w.set)
	fillDetectors(cfg, w.set)

	if err := w.report(cfg.Validate()); err != nil {
		return nil, w, err
	}
	return cfg, w, nil
}

// decode parses data as one YAML document, walks it against the type v
// points to, and decodes it into v; v is left as it is when the document is
// empty. The error lists every problem the walk found, but when the only
// problems are unknown keys it is nil and v holds the known ones: the caller
// validates v and reports both (report), for an unknown key must not hide
// the mistakes that follow it.
func (w *walker) decode(data []byte, v any) error {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return yamlError(w.file, err)
	}
	var body ast.Node
	for _, doc := range file.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			return &FieldError{File: w.file, Line: nodeLine(doc.Body),
				Msg: "a second YAML document; keep " + w.whole + " in one"}
		}
		body = doc.Body
	}
	if body == nil || body.Type() == ast.NullType { // null: as empty as no document
		return nil
	}
	w.bodyLine = nodeLine(body)
	w.budget = 2*len(data) + maxExpansion // each byte makes at most one value, or one mapping
	w.walk(body, reflect.TypeOf(v).Elem(), "")
	if len(w.problems) > 0 {
		// A value the walk could not read leaves nothing to validate.
		return byLine(slices.Concat(w.problems, w.unknown))
	}
	// The walk has checked keys and types; this decode repeats the check
	// as a backstop, and skips only the unknown keys the walk reported.
	// The parser has already refused duplicate keys; allowing them here
	// lets a key override one merged in by "<<", which the decoder would
	// otherwise call a duplicate.
	opts := []yaml.DecodeOption{yaml.AllowDuplicateMapKey()}
	if len(w.unknown) == 0 {
		opts = append(opts, yaml.DisallowUnknownField())
	}
	if err := nodeToValue(body, v, opts...); err != nil {
		if len(w.unknown) > 0 {
			// The decoder reads the values of unknown keys too, which
			// the walk left alone ("foo: *undefined"): what it says may
			// be about them, and they go anyway.
			return byLine(w.unknown)
		}
		return yamlError(w.file, err)
	}
	dropEmpty(reflect.ValueOf(v).Elem())
	return nil
}

// report joins the unknown keys the walk found with the problems of
// validating what it decoded (invalid, Validate's error), these located in
// the file; nil when there are neither.
func (w *walker) report(invalid error) error {
	errs := slices.Clone(w.unknown)
	if invalid != nil {
		errs = append(errs, unjoin(locate(invalid, w.file, w.lines))...)
	}
	return byLine(errs)
}

// byLine joins errs in the order of their lines, as a reader meets them, and
// each once (two empty entries in one nats.url are one problem). The sort is
// stable, so problems on one line keep the order they were found in, and
// those without a line, about the file as a whole, come first.
func byLine(errs []error) error {
	line := func(err error) int {
		if fe := (*FieldError)(nil); errors.As(err, &fe) {
			return fe.Line
		}
		return 0
	}
	sorted := slices.Clone(errs)
	slices.SortStableFunc(sorted, func(a, b error) int { return cmp.Compare(line(a), line(b)) })
	seen := map[string]bool{}
	out := sorted[:0]
	for _, err := range sorted {
		if text := err.Error(); !seen[text] {
			seen[text] = true
			out = append(out, err)
		}
	}
	return errors.Join(out...)
}

// unjoin is the list of errors that errors.Join made err of, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// nodeToValue is yaml.NodeToValue, with a panic of the library's on a
// strange document as its error: a configuration re-read on SIGHUP or sent
// to the API must not stop vigil.
func nodeToValue(n ast.Node, v any, opts ...yaml.DecodeOption) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML decoder failed here (%v); write the value more plainly", r)
		}
	}()
	return yaml.NodeToValue(n, v, opts...)
}

// dropEmpty makes the empty lists and mappings in v nil: "rules: []" says
// what no rules: key says, and a value must not differ from itself written
// out, where omitempty drops them, and read back.
func dropEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			dropEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				dropEmpty(f)
			}
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if v.Kind() == reflect.Slice {
			for i := 0; i < v.Len(); i++ {
				dropEmpty(v.Index(i))
			}
		}
	}
}

// yamlError turns an error of the YAML library into a FieldError that
// carries the line of the offending token.
func yamlError(name string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		fe := &FieldError{File: name, Msg: ye.GetMessage()}
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			fe.Line = tk.Position.Line
		}
		return fe
	}
	return &FieldError{File: name, Msg: err.Error()}
}

// locate gives each FieldError of a Validate error the file and the line of
// its field, or of the nearest enclosing field that the file sets.
func locate(err error, name string, lines map[string]int) error {
	errs := unjoin(err)
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			out = append(out, e)
			continue
		}
		located := *fe
		located.File = name
		for p := fe.Path; p != "" && located.Line == 0; p = parentPath(p) {
			located.Line = lines[p]
		}
		if located.Line == 0 {
			located.Line = lines[""] // the document's first line, where a caller blames it
		}
		out = append(out, &located)
	}
	return errors.Join(out...)
}

// parentPath strips the last element of a field path: "a.b[2]" -> "a.b",
// "a.b" -> "a", `a["k"]` -> "a".
func parentPath(p string) string {
	if strings.HasSuffix(p, `"]`) {
		if i := strings.LastIndex(p, `["`); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

// walker checks a YAML tree against the Go types of Config before decoding,
// so that every unknown key and every mistyped value is reported, with its
// field path and line, rather than only the first. It also records which
// paths the file sets (non-null) and where, for defaults and error lines.
type walker struct {
	file     string
	root     string  // what the top level must be, for "expected …, got a list"
	whole    string  // what one document holds, for "keep … in one"
	problems []error // values that cannot be decoded
	unknown  []error // keys the decoder can skip, leaving the rest to validate
	set      map[string]bool
	lines    map[string]int
	anchors  map[string]ast.Node
	bodyLine int // of the document's top-level node

	// Aliases and merges make the walk visit a value more than once, and
	// anchors that alias one another multiply ("billion laughs"): visits
	// are bounded by budget, a little above what a document without
	// aliases could need.
	visits, budget int
	inMapping      map[ast.Node]bool // mappings being walked, for "<<" cycles
	tagged         map[*ast.TagNode]bool
}

// maxExpansion is how many values more than the document's bytes the walk
// may visit: far above a configuration's anchors, well below a second's work.
const maxExpansion = 20_000

func newWalker(file, root, whole string) *walker {
	return &walker{file: file, root: root, whole: whole, set: map[string]bool{}, lines: map[string]int{}, anchors: map[string]ast.Node{},
		budget: maxExpansion, inMapping: map[ast.Node]bool{}, tagged: map[*ast.TagNode]bool{}}
}

// visit counts a visit of n and reports whether the walk may go on.
func (w *walker) visit(n ast.Node, path string) bool {
	w.visits++
	if w.visits == w.budget+1 {
		w.problem(n, path, "aliases and merges (<<) repeat values more than %d times; write the values out, or alias fewer", maxExpansion)
	}
	return w.visits <= w.budget
}

func (w *walker) problem(n ast.Node, path, format string, args ...any) {
	w.problems = append(w.problems, &FieldError{File: w.file, Line: nodeLine(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// resolve looks through anchors, aliases and tags to the node holding the
// value.
func (w *walker) resolve(n ast.Node, path string) ast.Node {
	for i := 0; n != nil && i < 100; i++ {
		switch v := n.(type) {
		case *ast.AnchorNode:
			if v.Name != nil {
				w.anchors[v.Name.GetToken().Value] = v.Value
			}
			n = v.Value
		case *ast.AliasNode:
			name := v.Value.GetToken().Value
			target, ok := w.anchors[name]
			if !ok {
				w.problem(n, path, "alias *%s names no anchor defined before it; define &%s first", name, name)
				return nil
			}
			n = target
		case *ast.TagNode:
			// The decoder applies a tag where the walk cannot check it
			// (!!int turns "a" into 0), and panics on some ("rules: ! ").
			if !w.tagged[v] {
				w.tagged[v] = true
				w.problem(n, path, "tag %s: settings take no YAML tags; write the value plainly, quoted to make it a string", v.Start.Value)
			}
			return nil
		default:
			return n
		}
	}
	return n
}

func (w *walker) walk(n ast.Node, t reflect.Type, path string) {
	n = w.resolve(n, path)
	if n == nil || n.Type() == ast.NullType || !w.visit(n, path) {
		return
	}
	if path != "" {
		w.set[path] = true
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if s, ok := n.(ast.ScalarNode); ok && takesSwitch(t) && isSwitch(fmt.Sprint(s.GetValue())) {
			w.set[joinPath(path, "enabled")] = true // "motion: off" is enabled: false
			return
		}
		w.walkStruct(n, t, path)
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			w.problem(n, path, "expected a list, got %s", describeNode(n))
			return
		}
		for i, v := range seq.Values {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.lines[p] = nodeLine(v)
			w.walk(v, t.Elem(), p)
		}
	case reflect.Map:
		m, ok := n.(ast.MapNode)
		if !ok {
			w.problem(n, path, "expected a mapping, got %s", describeNode(n))
			return
		}
		for it := m.MapRange(); it.Next(); {
			k := keyString(it.Key())
			p := fmt.Sprintf("%s[%q]", path, k)
			w.lines[p] = nodeLine(it.Key())
			w.walk(it.Value(), t.Elem(), p)
		}
	default:
		w.leaf(n, t, path)
	}
}

func (w *walker) walkStruct(n ast.Node, t reflect.Type, path string) {
	m, ok := n.(ast.MapNode)
	if !ok {
		what := "a mapping"
		if path == "" {
			what = w.root
		} else if takesSwitch(t) {
			what = "a mapping, or on/off"
		}
		w.problem(n, path, "expected %s, got %s", what, describeNode(n))
		return
	}
	w.inMapping[n] = true
	defer delete(w.inMapping, n)
	fields := yamlFields(t)
	written := map[string]ast.Node{} // keys so far, for merges that follow
	for it := m.MapRange(); it.Next(); {
		key := it.Key()
		if key.IsMergeKey() {
			// The decoder lets "<<" override the keys written before it,
			// where YAML says they win: refuse rather than surprise.
			for _, k := range w.mergedKeys(it.Value(), path) {
				if at, ok := written[k]; ok {
					w.problem(at, joinPath(path, k), "written before \"<<\", which would override it; put \"<<\" first")
				}
			}
			w.walkMerge(it.Value(), t, path)
			continue
		}
		name := keyString(key)
		written[name] = key
		p := joinPath(path, name)
		f, ok := fields[name]
		if !ok {
			w.unknown = append(w.unknown, &FieldError{File: w.file, Line: nodeLine(key), Path: p, Msg: unknownField(name, fields)})
			continue
		}
		w.lines[p] = nodeLine(key)
		w.walk(it.Value(), f.Type, p)
	}
}

// walkMerge checks the mapping (or list of mappings) merged in by "<<".
func (w *walker) walkMerge(n ast.Node, t reflect.Type, path string) {
	n = w.resolve(n, path)
	merged := []ast.Node{n}
	if seq, ok := n.(*ast.SequenceNode); ok {
		merged = merged[:0]
		for _, v := range seq.Values {
			merged = append(merged, w.resolve(v, path))
		}
	}
	for _, m := range merged {
		switch {
		case m == nil || !w.visit(m, path):
		case w.inMapping[m]:
			w.problem(m, path, "\"<<\" merges a mapping into itself; merge another anchor")
		default:
			w.walkStruct(m, t, path)
		}
	}
}

// mergedKeys lists the keys that "<<" merges in.
func (w *walker) mergedKeys(n ast.Node, path string) []string {
	var keys []string
	n = w.resolve(n, path)
	nodes := []ast.Node{n}
	if seq, ok := n.(*ast.SequenceNode); ok {
		nodes = seq.Values
	}
	for _, v := range nodes {
		if m, ok := w.resolve(v, path).(ast.MapNode); ok {
			for it := m.MapRange(); it.Next(); {
				keys = append(keys, keyString(it.Key()))
			}
		}
	}
	return keys
}

// leaf decodes a scalar into a fresh value of its Go type to check it.
func (w *walker) leaf(n ast.Node, t reflect.Type, path string) {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
		w.problem(n, path, "expected %s, got %s", describeType(t), describeNode(n))
		return
	}
	if f, ok := n.(*ast.FloatNode); ok && isInt(t) && f.Value != math.Trunc(f.Value) {
		// The library would truncate it.
		w.problem(n, path, "%s is not %s", n.GetToken().Value, describeType(t))
		return
	}
	err := nodeToValue(n, reflect.New(t).Interface())
	if err == nil {
		return
	}
	text := n.GetToken().Value
	var (
		ye       yaml.Error
		overflow *yaml.OverflowError
	)
	switch {
	case errors.As(err, &overflow):
		w.problem(n, path, "%s is out of range for %s", text, describeType(t))
	case errors.As(err, &ye):
		w.problem(n, path, "%q is not %s", text, describeType(t))
	default: // from an UnmarshalText of ours: already says what to do
		w.problem(n, path, "%s", err.Error())
	}
}

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return t != reflect.TypeOf(Duration(0))
	}
	return false
}

func describeType(t reflect.Type) string {
	if t == reflect.TypeOf(Duration(0)) {
		return "a duration such as 500ms or 30s"
	}
	if isInt(t) {
		return "a whole number"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

func describeNode(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.GetToken().Value)
}

func keyString(k ast.MapKeyNode) string {
	if mk, ok := k.(*ast.MappingKeyNode); ok && mk.Value != nil {
		return mk.Value.GetToken().Value
	}
	if k == nil || k.GetToken() == nil {
		return ""
	}
	return k.GetToken().Value
}

func nodeLine(n ast.Node) int {
	if n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// yamlName is the key a struct field is written as; "" for a field that is
// not in the YAML.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	fields := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		if name := yamlName(t.Field(i)); name != "" {
			fields[name] = t.Field(i)
		}
	}
	return fields
}

// unknownField says what an unknown key probably meant, or which keys are
// known at its level.
func unknownField(name string, fields map[string]reflect.StructField) string {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	if guess := closest(strings.ToLower(name), known); guess != "" {
		return fmt.Sprintf("unknown field; did you mean %q?", guess)
	}
	return "unknown field; use one of " + strings.Join(known, ", ")
}

// closest returns the known name that name is probably a typo or a
// shortening of, or "" when none is close.
func closest(name string, known []string) string {
	best, bestDist := "", 0
	for _, k := range known {
		d := editDistance(name, k)
		if best == "" || d < bestDist {
			best, bestDist = k, d
		}
	}
	// Close enough to be a typo: a third of the name's length, at least one
	// edit, and never the whole name.
	limit := max(1, len(name)/3)
	if best != "" && bestDist <= limit && bestDist < len(name) {
		return best
	}
	// Or a shortened name: "buffer" for "buffer_frames".
	var prefixed []string
	for _, k := range known {
		if len(name) >= 3 && strings.HasPrefix(k, name) {
			prefixed = append(prefixed, k)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

// editDistance is the number of edits that turn a into b: inserting,
// deleting or changing a letter, or swapping two neighbours ("modle" is one
// edit from "model"), the optimal string alignment distance.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1) // row i-2, for swaps
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// fillDefaults copies into dst the fields of def whose paths the file did not
// set, going into the structs (and the cameras) that it did set.
func fillDefaults(dst, def reflect.Value, path string, set map[string]bool) {
	t := dst.Type()
	for i := 0; i < t.NumField(); i++ {
		name := yamlName(t.Field(i))
		if name == "" {
			continue
		}
		p := joinPath(path, name)
		fv, dv := dst.Field(i), def.Field(i)
		if !set[p] {
			fv.Set(clone(dv))
			continue
		}
		switch {
		case fv.Kind() == reflect.Struct:
			fillDefaults(fv, dv, p, set)
		case fv.Type() == reflect.TypeOf([]Camera(nil)):
			cams := fv.Interface().([]Camera)
			for j := range cams {
				fillCamera(&cams[j], fmt.Sprintf("%s[%d]", p, j), set)
			}
		case fv.Type() == reflect.TypeOf([]Rule(nil)):
			rs := fv.Interface().([]Rule)
			for j := range rs {
				fillDefaults(reflect.ValueOf(&rs[j]).Elem(), reflect.ValueOf(DefaultRule()), fmt.Sprintf("%s[%d]", p, j), set)
			}
		}
	}
}

// fillCamera fills the camera at path (its rules too) with the defaults of
// the keys the file did not set.
func fillCamera(cam *Camera, path string, set map[string]bool) {
	fillDefaults(reflect.ValueOf(cam).Elem(), reflect.ValueOf(defaultCamera()), path, set)
	if kind, _ := cam.Kind(); kind == KindTestsrc && !set[joinPath(path, "fps")] {
		cam.FPS = DefaultTestsrcFPS
	}
}

// clone copies v deeply, so that no two configs, cameras or detectors share
// a map, a slice or a pointer.
func clone(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(clone(v.Elem()))
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			c.Index(i).Set(clone(v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			c.SetMapIndex(it.Key(), clone(it.Value()))
		}
		return c
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		for i := 0; i < c.NumField(); i++ {
			if f := c.Field(i); f.CanSet() {
				f.Set(clone(v.Field(i)))
			}
		}
		return c
	}
	return v
}

// switchable is a settings type that reads "on"/"off" in place of its
// mapping (Motion, CameraMotion): its UnmarshalYAML sets enabled.
type switchable interface {
	UnmarshalYAML(unmarshal func(any) error) error
}

// takesSwitch says whether a scalar on/off may stand for a struct of type
// t: t reads it, and has the enabled: field it sets.
func takesSwitch(t reflect.Type) bool {
	if !reflect.PointerTo(t).Implements(reflect.TypeFor[switchable]()) {
		return false
	}
	_, ok := yamlFields(t)["enabled"]
	return ok
}
