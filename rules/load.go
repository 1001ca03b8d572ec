package rules

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/internal/yamlfile"
	"github.com/vigilhq/vigil/patterns/sequence"
)

// Source is one rules file: its name (for errors), its text, and the
// directory that list files are relative to.
type Source struct {
	Name string
	Data []byte
	Dir  string
	// Confined: list files must be named relative to Dir and inside it
	// (a file that came over the network must not read the server's
	// other files).
	Confined bool
}

// LoadFiles reads rules files and directories (every *.yaml and *.yml in
// them except *_test.yaml test files) into one ruleset.
func LoadFiles(paths ...string) (*Ruleset, error) {
	files, err := ExpandPaths(paths)
	if err != nil {
		return nil, err
	}
	var sources []Source
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		sources = append(sources, Source{Name: p, Data: data, Dir: filepath.Dir(p)})
	}
	return Load(sources)
}

// ExpandPaths replaces directories by the rules files they hold, sorted.
func ExpandPaths(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir // .git and the like
			}
			if !d.IsDir() && IsRulesFile(path) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

var (
	ruleNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	identNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// parsedDoc is a YAML document of a rules file after the first pass: its
// defaults and the rule nodes still to compile.
type parsedDoc struct {
	f        *file
	defaults *defaults
	rules    *yaml.Node
}

// defaults are the settings a document gives every rule it holds that does
// not set them itself, checked once, where they are written.
type defaults struct {
	entries  map[string]entry // as written, for rule hashes
	severity string           // "" when not set or invalid
	mode     string           // "" when not set or invalid
	throttle int64            // 0 when not set or invalid
	labels   map[string]string
	key      *yaml.Node // nil when not set or invalid
}

// Load compiles rules files into one ruleset. Lists are shared by every file
// of the ruleset; rule names are unique across it.
//
// A file may hold several YAML documents (separated by ---): each is read
// like a file of its own, its defaults applying to its own rules, so that
// files can be concatenated.
func Load(sources []Source) (*Ruleset, error) {
	return LoadWith(sources, LoadOptions{})
}

// LoadOptions are what a ruleset may use besides its files.
type LoadOptions struct {
	// Lists are named lists kept outside the rules files (a service's
	// PUT /v1/lists): rules may use them, and no file may define a list of
	// the same name.
	Lists map[string]map[any]struct{}
	// FilesWin: a file defining a list of Lists is not an error; the
	// file's list is used and its name is in Ruleset.ReplacedLists (a
	// service starting on its configured files).
	FilesWin bool
}

// LoadWith is Load with lists from outside the files.
func LoadWith(sources []Source, opts LoadOptions) (*Ruleset, error) {
	var errs ErrorList
	rs := &Ruleset{Lists: map[string]map[any]struct{}{}}
	listAt := map[string]string{}
	var parsed []parsedDoc

	// First pass: parse every file and gather lists, so that any rule may
	// use any list.
	for _, src := range sources {
		rs.Files = append(rs.Files, src.Name)
		if !utf8.Valid(src.Data) {
			line := 1 + bytes.Count(src.Data[:invalidUTF8At(src.Data)], []byte("\n"))
			errs = append(errs, &Error{File: src.Name, Line: line, Msg: "the file is not UTF-8 text (UTF-16, or a binary file?): save rules files as UTF-8"})
			continue
		}
		f := &file{name: src.Name, lines: strings.Split(strings.ReplaceAll(string(src.Data), "\r\n", "\n"), "\n"), errs: &errs, confined: src.Confined}
		dec := yaml.NewDecoder(bytes.NewReader(src.Data))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); err != nil {
				if err != io.EOF {
					f.yamlError(src.Data, err)
				}
				break
			}
			if len(doc.Content) == 0 {
				continue
			}
			root := doc.Content[0]
			if root.Kind == yaml.ScalarNode && root.Tag == "!!null" && root.Value == "" {
				continue // an empty document (--- alone) holds no rules
			}
			if !f.aliasesBounded(root) {
				continue
			}
			pd := parsedDoc{f: f}
			top := f.mapping(root, "", topKeys...)
			if e, ok := top["defaults"]; ok {
				pd.defaults = f.defaults(e.value)
			}
			if e, ok := top["lists"]; ok {
				for name, le := range f.mapping(e.value, "lists") {
					if prev, dup := listAt[name]; dup {
						f.errorf(le.key, "lists", "list %q is already defined in %s", name, prev)
						continue
					}
					if _, managed := opts.Lists[name]; managed && opts.FilesWin {
						rs.ReplacedLists = append(rs.ReplacedLists, name)
					} else if managed {
						f.errorf(le.key, "lists", "list %q is kept through the API (PUT /v1/lists/%s): define it in one place, there or here", name, name)
						continue
					}
					if !identNameRE.MatchString(name) {
						f.errorf(le.key, "lists", "list name %q must be an identifier (letters, digits, _)", name)
						continue
					}
					if set, ok := f.list(le.value, "lists."+name, src.Dir); ok {
						rs.Lists[name] = set
						listAt[name] = fmt.Sprintf("%s:%d", src.Name, le.key.Line)
					}
				}
			}
			if e, ok := top["rules"]; ok {
				if e.value.Kind != yaml.SequenceNode {
					f.errorf(e.value, "rules", "want a list of rules, got %s", kindName(e.value))
				} else {
					pd.rules = e.value
				}
			}
			parsed = append(parsed, pd)
		}
	}

	for name, set := range opts.Lists {
		if _, inFile := rs.Lists[name]; !inFile {
			rs.Lists[name] = set
		}
	}
	listNames := map[string]bool{}
	for name := range rs.Lists {
		listNames[name] = true
	}
	ruleAt := map[string]string{}
	for _, pd := range parsed {
		d := pd.defaults
		if d == nil {
			d = &defaults{}
		}
		if d.key != nil {
			// A default key is compiled for each rule that takes it; check
			// it once here, now that every list is known.
			pd.f.ruleName = ""
			before := len(*pd.f.errs)
			pd.f.keyExprs(&exprCompiler{f: pd.f, lists: listNames}, d.key, "defaults.key")
			if len(*pd.f.errs) > before {
				d.key = nil
			}
		}
		if pd.rules == nil {
			continue
		}
		for i, rn := range pd.rules.Content {
			r := pd.f.rule(rn, i, d, listNames)
			if r == nil {
				continue
			}
			r.Text = pd.f.ruleText(pd.rules, i)
			if prev, dup := ruleAt[r.Name]; dup {
				pd.f.ruleName = r.Name
				pd.f.errorf(rn, "name", "rule %q is already defined at %s", r.Name, prev)
				continue
			}
			ruleAt[r.Name] = fmt.Sprintf("%s:%d", r.File, r.Line)
			rs.Rules = append(rs.Rules, r)
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	rs.ListsAt = listAt
	return rs, nil
}

// defaults reads and checks a document's defaults.
func (f *file) defaults(n *yaml.Node) *defaults {
	f.ruleName = ""
	d := &defaults{entries: f.mapping(n, "defaults", defaultsKeys...)}
	if e, ok := d.entries["severity"]; ok {
		d.severity, _ = f.severity(e.value, "defaults.severity")
	}
	if e, ok := d.entries["mode"]; ok {
		d.mode, _ = f.mode(e.value, "defaults.mode")
	}
	if e, ok := d.entries["throttle"]; ok {
		d.throttle, _ = f.duration(e.value, "defaults.throttle")
	}
	if e, ok := d.entries["labels"]; ok {
		d.labels = f.labels(e.value, "defaults.labels")
	}
	if e, ok := d.entries["key"]; ok {
		d.key = e.value
	}
	return d
}

func (f *file) severity(n *yaml.Node, field string) (string, bool) {
	s, ok := f.str(n, field)
	if !ok {
		return "", false
	}
	if !contains(Severities, s) {
		f.errorf(n, field, "unknown severity %q (use %s)", s, strings.Join(Severities, ", "))
		return "", false
	}
	return s, true
}

func (f *file) mode(n *yaml.Node, field string) (string, bool) {
	s, ok := f.str(n, field)
	if !ok {
		return "", false
	}
	if s != "live" && s != "shadow" {
		f.errorf(n, field, "unknown mode %q (use live or shadow)", s)
		return "", false
	}
	return s, true
}

func (f *file) labels(n *yaml.Node, field string) map[string]string {
	out := map[string]string{}
	for k, le := range f.mapping(n, field) {
		if v, ok := f.scalar(le.value, field+"."+k); ok {
			out[k] = v
		}
	}
	return out
}

func (f *file) yamlError(data []byte, err error) {
	e := yamlfile.SyntaxError(f.name, data, err)
	*f.errs = append(*f.errs, &Error{File: f.name, Line: e.Line, Column: e.Column, Msg: e.Msg})
}

// list reads a named list: inline values or {file: path}, one value a line.
func (f *file) list(n *yaml.Node, field, dir string) (map[any]struct{}, bool) {
	set := map[any]struct{}{}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, item := range n.Content {
			v, ok := f.listValue(item, field)
			if !ok {
				return nil, false
			}
			set[v] = struct{}{}
		}
		return set, true
	case yaml.MappingNode:
		m := f.mapping(n, field, listFileKeys...)
		e, ok := m["file"]
		if !ok {
			f.errorf(n, field, "a list is a list of values or {file: path}")
			return nil, false
		}
		path, ok := f.str(e.value, field+".file")
		if !ok {
			return nil, false
		}
		if f.confined && !filepath.IsLocal(path) {
			f.errorf(e.value, field+".file", "list file %q: a rules file sent to the service names list files relative to its rules directory, inside it", path)
			return nil, false
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.errorf(e.value, field+".file", "%v", err)
			return nil, false
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			set[line] = struct{}{}
		}
		if err := sc.Err(); err != nil {
			f.errorf(e.value, field+".file", "%s: %v", path, err)
			return nil, false
		}
		return set, true
	}
	f.errorf(n, field, "a list is a list of values or {file: path}, got %s", kindName(n))
	return nil, false
}

// listValue normalises a list item like a decoded JSON value, so that
// `country in lists.x` finds it.
func (f *file) listValue(n *yaml.Node, field string) (any, bool) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		f.errorf(n, field, "list values must be strings, numbers or booleans")
		return nil, false
	}
	switch n.Tag {
	case "!!int", "!!float":
		// Decoding reads numbers as YAML does (0x1F, 0o17, 1_000, .inf).
		var v any
		if err := n.Decode(&v); err == nil {
			switch x := v.(type) {
			case int:
				return float64(x), true
			case int64:
				return float64(x), true
			case uint64:
				return float64(x), true
			case float64:
				return x, true
			}
		}
		f.errorf(n, field, "invalid number %q", n.Value)
		return nil, false
	case "!!bool":
		return n.Value == "true", true
	}
	return n.Value, true
}

// rule compiles the i-th rule of a document; it returns nil after
// reporting errors.
func (f *file) rule(n *yaml.Node, i int, d *defaults, lists map[string]bool) *Rule {
	f.ruleName = ""
	if rn := resolveAlias(n); rn != nil && rn.Kind == yaml.MappingNode {
		// Name the rule in every error, including those about its keys.
		for i := 0; i+1 < len(rn.Content); i += 2 {
			if rn.Content[i].Value == "name" {
				f.ruleName = rn.Content[i+1].Value
			}
		}
	}
	before := len(*f.errs)
	if rn := resolveAlias(n); rn == nil || rn.Kind != yaml.MappingNode {
		f.errorf(n, fmt.Sprintf("rules[%d]", i), "a rule is a mapping of settings (name, pattern or threshold, …), got %s", kindName(rn))
		return nil
	}
	m := f.mapping(n, "", ruleKeys...)
	r := &Rule{File: f.name, Line: n.Line, Severity: DefaultSeverity}
	if e, ok := m["name"]; !ok {
		f.errorf(n, "", "rule has no name")
		return nil
	} else if name, ok := f.str(e.value, "name"); ok {
		if !ruleNameRE.MatchString(name) {
			f.errorf(e.value, "name", "invalid rule name %q: use lower-case letters, digits and _ . - (starting with a letter or digit)", name)
		}
		r.Name = name
		f.ruleName = name
	}
	if e, ok := m["description"]; ok {
		r.Description, _ = f.str(e.value, "description")
	}
	// The rule's own settings are checked here; those it takes from the
	// defaults were checked once, where they are written.
	if e, ok := m["severity"]; ok {
		if s, ok := f.severity(e.value, "severity"); ok {
			r.Severity = s
		}
	} else if d.severity != "" {
		r.Severity = d.severity
	}
	if e, ok := m["labels"]; ok {
		r.Labels = f.labels(e.value, "labels")
	} else if d.labels != nil {
		r.Labels = maps.Clone(d.labels)
	}
	mode := d.mode
	if e, ok := m["mode"]; ok {
		mode, _ = f.mode(e.value, "mode")
	}
	r.Shadow = mode == "shadow"
	if e, ok := m["throttle"]; ok {
		r.Throttle, _ = f.duration(e.value, "throttle")
	} else {
		r.Throttle = d.throttle
	}

	c := &exprCompiler{f: f, lists: lists}
	if e, ok := m["key"]; ok {
		r.Key = f.keyExprs(c, e.value, "key")
	} else if d.key != nil {
		r.Key = f.keyExprs(c, d.key, "defaults.key")
	}
	if e, ok := m["where"]; ok {
		if s, ok := f.str(e.value, "where"); ok {
			r.Where = c.compile(e.value, 0, s, "where", scopeWhere, true)
		}
	}

	pe, isSeq := m["pattern"]
	te, isThr := m["threshold"]
	switch {
	case isSeq && isThr:
		f.errorf(te.key, "", "a rule has either pattern or threshold, not both")
	case !isSeq && !isThr:
		f.errorf(n, "", "rule needs a pattern or a threshold")
	case isSeq:
		for _, k := range []string{"emit"} {
			if e, ok := m[k]; ok {
				f.errorf(e.key, "", "%s applies to threshold rules only", k)
			}
		}
		r.Sequence = f.sequence(c, pe.value, m)
	case isThr:
		for _, k := range []string{"within", "skip", "max_partial_matches"} {
			if e, ok := m[k]; ok {
				f.errorf(e.key, "", "%s applies to pattern rules only", k)
			}
		}
		r.Threshold = f.threshold(c, te.value, m)
	}

	alertScope := scopeAlertSeq
	if isThr {
		alertScope = scopeAlertAgg
		if c.aggs == nil {
			c.aggs = &aggSet{} // the threshold is broken; its alert still compiles
		}
	}
	if e, ok := m["alert"]; ok {
		am := f.mapping(e.value, "alert", alertKeys...)
		if se, ok := am["summary"]; ok {
			if _, ok := f.str(se.value, "alert.summary"); ok {
				r.Summary = c.compileTemplate(se.value, "alert.summary", alertScope)
			}
		}
		if fe, ok := am["fields"]; ok {
			fields := f.mapping(fe.value, "alert.fields")
			for i := 0; i+1 < len(fe.value.Content); i += 2 {
				name := fe.value.Content[i].Value
				fv, ok := fields[name]
				if !ok {
					continue
				}
				if src, ok := f.str(fv.value, "alert.fields."+name); ok {
					if x := c.compile(fv.value, 0, src, "alert.fields."+name, alertScope, false); x != nil {
						r.Fields = append(r.Fields, Field{Name: name, Expr: x})
					}
				}
			}
		}
	}
	if r.Threshold != nil && c.aggs != nil {
		r.Threshold.Aggregates = c.aggs.list
		r.Threshold.Args = c.aggs.args
	}
	if len(*f.errs) > before {
		return nil
	}
	var aggregates []string
	if r.Threshold != nil {
		for _, a := range r.Threshold.Aggregates {
			aggregates = append(aggregates, a.Text)
		}
	}
	r.Hash, r.MatchHash = hashRule(n, d.entries, aggregates)
	return r
}

// keyExprs compiles `key`: one expression, or a list for a composite key.
func (f *file) keyExprs(c *exprCompiler, n *yaml.Node, field string) []*Expr {
	var nodes []*yaml.Node
	if n.Kind == yaml.SequenceNode {
		nodes = n.Content
		if len(nodes) == 0 {
			f.errorf(n, field, "a composite key needs at least one expression")
		}
	} else {
		nodes = []*yaml.Node{n}
	}
	var out []*Expr
	for i, kn := range nodes {
		field := field
		if n.Kind == yaml.SequenceNode {
			field = fmt.Sprintf("%s[%d]", field, i)
		}
		kn = resolveAlias(kn)
		if s, ok := f.str(kn, field); ok {
			out = append(out, c.compile(kn, 0, s, field, scopeKey, false))
		}
	}
	return out
}

var stageKinds = map[string]sequence.Kind{
	"begin":           sequence.Begin,
	"next":            sequence.Next,
	"followed_by":     sequence.FollowedBy,
	"followed_by_any": sequence.FollowedByAny,
	"not_next":        sequence.NotNext,
	"not_followed_by": sequence.NotFollowedBy,
}

// sequence reads a pattern and the rule options that go with it.
func (f *file) sequence(c *exprCompiler, n *yaml.Node, m map[string]entry) *Sequence {
	seq := &Sequence{}
	before := len(*f.errs)
	// Stage names are needed before conditions compile (matched.<stage>).
	c.stages = map[string]bool{}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		f.errorf(n, "pattern", "want a list of stages")
		return nil
	}
	c.stageAt = map[string]stageRef{}
	f.collectStageNames(n, c.stages, &seq.StageNames, nil)
	seq.Stages = f.stages(c, n, "pattern")
	if e, ok := m["within"]; ok {
		seq.Within, _ = f.duration(e.value, "within")
	}
	// A trailing absence is confirmed when a window passes: the rule's, or
	// the last stage's own (FlinkCEP's PREVIOUS_AND_CURRENT), from the
	// previous taken event.
	if last := seq.Stages; len(last) > 0 && last[len(last)-1].Kind == sequence.NotFollowedBy && seq.Within == 0 && last[len(last)-1].Within == 0 {
		f.errorf(n.Content[len(n.Content)-1], "pattern", "a pattern that ends with not_followed_by needs a within (on the rule, or on that stage): the absence is confirmed when the window passes")
	}
	if e, ok := m["skip"]; ok {
		seq.Skip = f.skip(e.value, c.stages)
	}
	if e, ok := m["max_partial_matches"]; ok {
		v, err := strconv.Atoi(e.value.Value)
		if e.value.Kind != yaml.ScalarNode || err != nil || v <= 0 {
			f.errorf(e.value, "max_partial_matches", "want a positive integer")
		}
		seq.MaxPartialMatches = v
	}
	if len(*f.errs) == before {
		// The matcher has the last word on what FlinkCEP accepts; compiling
		// here lets `vigil check` report it, at the stage it names, or else
		// at the pattern. Its conditions are never called.
		if _, err := sequence.Compile((&Evaluator{}).Pattern(seq, 0)); err != nil {
			at, field, msg := n, "pattern", err.Error()
			for _, prefix := range []string{"stage ", "group "} {
				rest, ok := strings.CutPrefix(msg, prefix)
				if !ok {
					continue
				}
				if q, err := strconv.QuotedPrefix(rest); err == nil {
					name, _ := strconv.Unquote(q)
					if ref, ok := c.stageAt[name]; ok {
						at, field, msg = ref.node, ref.field, strings.TrimPrefix(rest[len(q):], ": ")
					}
				}
			}
			f.errorf(at, field, "%s", msg)
		}
	}
	return seq
}

// collectStageNames finds every stage name, groups included, and reports
// duplicates and names that expressions could not reach. via is the alias
// through which n is reached, if any: a name repeated by an alias is
// reported where the alias is used.
func (f *file) collectStageNames(n *yaml.Node, seen map[string]bool, leaves *[]string, via *yaml.Node) {
	for _, item := range n.Content {
		sn, at := resolveAlias(item), via
		if at == nil && item.Kind == yaml.AliasNode {
			at = item
		}
		if sn.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(sn.Content); i += 2 {
			k, v := sn.Content[i], resolveAlias(sn.Content[i+1])
			if _, ok := stageKinds[k.Value]; ok {
				if seen[v.Value] {
					if at != nil {
						f.errorf(at, "pattern", "duplicate stage name %q (repeated through the alias *%s)", v.Value, at.Value)
					} else {
						f.errorf(v, "pattern", "duplicate stage name %q", v.Value)
					}
				}
				seen[v.Value] = true
				if !identNameRE.MatchString(v.Value) {
					f.errorf(v, "pattern", "stage name %q must be an identifier (letters, digits, _) so that matched.%s works", v.Value, v.Value)
				}
			}
			if k.Value == "group" && v.Kind == yaml.SequenceNode {
				groupVia := at
				if groupVia == nil && sn.Content[i+1].Kind == yaml.AliasNode {
					groupVia = sn.Content[i+1]
				}
				f.collectStageNames(v, seen, leaves, groupVia)
				delete(seen, "") // groups are named by their own key
			}
		}
		if !isGroup(sn) {
			for i := 0; i+1 < len(sn.Content); i += 2 {
				if _, ok := stageKinds[sn.Content[i].Value]; ok {
					*leaves = append(*leaves, resolveAlias(sn.Content[i+1]).Value)
				}
			}
		}
	}
}

// stageName returns the name of a stage as written, or "" when it has
// none or several.
func stageName(sn *yaml.Node) string {
	sn = resolveAlias(sn)
	if sn == nil || sn.Kind != yaml.MappingNode {
		return ""
	}
	name := ""
	for i := 0; i+1 < len(sn.Content); i += 2 {
		if _, ok := stageKinds[sn.Content[i].Value]; ok {
			v := resolveAlias(sn.Content[i+1])
			if name != "" || v.Kind != yaml.ScalarNode || v.Value == "" {
				return ""
			}
			name = v.Value
		}
	}
	return name
}

func isGroup(sn *yaml.Node) bool {
	for i := 0; i < len(sn.Content); i += 2 {
		if sn.Content[i].Value == "group" {
			return true
		}
	}
	return false
}

func (f *file) stages(c *exprCompiler, n *yaml.Node, field string) []Stage {
	var out []Stage
	for i, sn := range n.Content {
		// Stages are named by name in errors, or by place when they have none.
		sf := fmt.Sprintf("%s[%d]", field, i)
		if name := stageName(sn); name != "" {
			sf = field + "." + name
		}
		m := f.mapping(sn, sf, stageKeys...)
		if m == nil {
			continue
		}
		st := Stage{Min: 1, Max: 1}
		kinds := 0
		var kindNode *yaml.Node
		for name, kind := range stageKinds {
			if e, ok := m[name]; ok {
				kinds++
				st.Kind = kind
				kindNode = e.key
				st.Name, _ = f.str(e.value, sf+"."+name)
			}
		}
		if kinds != 1 {
			f.errorf(resolveAlias(sn), sf, "a stage has exactly one of begin, next, followed_by, followed_by_any, not_next, not_followed_by")
			continue
		}
		if i == 0 && st.Kind != sequence.Begin {
			f.errorf(kindNode, sf, "the first stage must be begin")
		}
		if i > 0 && st.Kind == sequence.Begin {
			f.errorf(kindNode, sf, "begin may only be the first stage")
		}
		negated := st.Kind == sequence.NotNext || st.Kind == sequence.NotFollowedBy
		stageField := field + "." + st.Name
		if _, dup := c.stageAt[st.Name]; !dup && c.stageAt != nil {
			c.stageAt[st.Name] = stageRef{resolveAlias(sn), stageField}
		}
		if e, ok := m["where"]; ok {
			if s, ok := f.str(e.value, stageField+".where"); ok {
				st.Where = c.compile(e.value, 0, s, stageField+".where", scopeStage, true)
			}
		}
		if e, ok := m["group"]; ok {
			if _, hasWhere := m["where"]; hasWhere {
				f.errorf(e.key, stageField, "a stage has either where or group, not both")
			}
			if e.value.Kind != yaml.SequenceNode || len(e.value.Content) == 0 {
				f.errorf(e.value, stageField+".group", "want a list of stages")
			} else {
				st.Group = f.stages(c, e.value, stageField+".group")
			}
			if negated {
				f.errorf(e.key, stageField, "a negated stage cannot be a group")
			}
		}
		if e, ok := m["times"]; ok {
			st.Min, st.Max = f.times(e.value, stageField+".times")
		}
		looping := st.Max == sequence.Unbounded
		quantified := st.Max != 1 || st.Min != 1
		if e, ok := m["optional"]; ok {
			st.Optional, _ = f.boolean(e.value, stageField+".optional")
		}
		if e, ok := m["greedy"]; ok {
			st.Greedy, _ = f.boolean(e.value, stageField+".greedy")
			if st.Greedy && st.Group != nil {
				f.errorf(e.key, stageField, "greedy cannot apply to a group")
			}
			if st.Greedy && !quantified {
				f.errorf(e.key, stageField, "greedy applies to a looping stage (times)")
			}
		}
		if e, ok := m["until"]; ok {
			if !looping {
				f.errorf(e.key, stageField, "until applies only to a looping stage (times: N..)")
			}
			if s, ok := f.str(e.value, stageField+".until"); ok {
				st.Until = c.compile(e.value, 0, s, stageField+".until", scopeStage, true)
			}
		}
		for _, opt := range []struct {
			key string
			c   sequence.Contiguity
		}{{"consecutive", sequence.Strict}, {"allow_combinations", sequence.NonDeterministic}} {
			if e, ok := m[opt.key]; ok {
				on, _ := f.boolean(e.value, stageField+"."+opt.key)
				if on {
					if !quantified {
						f.errorf(e.key, stageField, "%s applies only to a looping stage (times)", opt.key)
					}
					if st.Inner != sequence.Relaxed {
						f.errorf(e.key, stageField, "consecutive and allow_combinations exclude each other")
					}
					st.Inner = opt.c
				}
			}
		}
		if e, ok := m["within"]; ok {
			st.Within, _ = f.duration(e.value, stageField+".within")
		}
		if negated && (quantified || st.Optional) {
			f.errorf(kindNode, stageField, "a negated stage cannot have times or optional")
		}
		out = append(out, st)
	}
	return out
}

// times reads a quantifier: N, N..M or N.. .
func (f *file) times(n *yaml.Node, field string) (lo, hi int) {
	s, ok := f.str(n, field)
	if !ok {
		return 1, 1
	}
	bad := func() (int, int) {
		f.errorf(n, field, "want N, N..M or N.. (e.g. 3, 2..4, 1..), got %q", s)
		return 1, 1
	}
	a, b, isRange := strings.Cut(s, "..")
	lo, err := strconv.Atoi(strings.TrimSpace(a))
	if err != nil || lo < 0 {
		return bad()
	}
	if !isRange {
		if lo == 0 {
			f.errorf(n, field, "times must be at least 1 (a stage that may not occur is optional: true)")
			return 1, 1
		}
		return lo, lo
	}
	// A range from 0 is FlinkCEP's times(0, m): an optional times(1, m).
	if strings.TrimSpace(b) == "" {
		return lo, sequence.Unbounded
	}
	hi, err = strconv.Atoi(strings.TrimSpace(b))
	if err != nil {
		return bad()
	}
	if hi < lo {
		f.errorf(n, field, "the upper bound %d is below the lower bound %d", hi, lo)
		return 1, 1
	}
	return lo, hi
}

// skip reads the after-match skip strategy.
func (f *file) skip(n *yaml.Node, stages map[string]bool) sequence.Skip {
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "no_skip":
			return sequence.Skip{Kind: sequence.NoSkip}
		case "skip_to_next":
			return sequence.Skip{Kind: sequence.SkipToNext}
		case "skip_past_last_event":
			return sequence.Skip{Kind: sequence.SkipPastLastEvent}
		}
		f.errorf(n, "skip", "unknown skip strategy %q (use no_skip, skip_to_next, skip_past_last_event, {skip_to_first: stage} or {skip_to_last: stage})", n.Value)
		return sequence.Skip{}
	}
	m := f.mapping(n, "skip", skipKeys...)
	if len(m) != 1 {
		f.errorf(n, "skip", "want one of {skip_to_first: stage} or {skip_to_last: stage}")
		return sequence.Skip{}
	}
	for k, e := range m {
		kind := sequence.SkipToFirst
		if k == "skip_to_last" {
			kind = sequence.SkipToLast
		}
		name, ok := f.str(e.value, "skip."+k)
		if ok && !stages[name] {
			f.errorf(e.value, "skip."+k, "skip target %q names no stage of the pattern", name)
		}
		return sequence.Skip{Kind: kind, Stage: name}
	}
	return sequence.Skip{}
}

// threshold reads a threshold rule's definition and its emit option.
func (f *file) threshold(c *exprCompiler, n *yaml.Node, m map[string]entry) *Threshold {
	tm := f.mapping(n, "threshold", thresholdKeys...)
	if tm == nil {
		return nil
	}
	t := &Threshold{}
	c.aggs = &aggSet{}
	if e, ok := tm["where"]; ok {
		if s, ok := f.str(e.value, "threshold.where"); ok {
			t.Where = c.compile(e.value, 0, s, "threshold.where", scopeEvent, true)
		}
	}
	if e, ok := tm["window"]; !ok {
		f.errorf(n, "threshold", "threshold needs a window")
	} else if e.value.Kind == yaml.MappingNode {
		wm := f.mapping(e.value, "threshold.window", windowKeys...)
		if se, ok := wm["size"]; ok {
			t.Window, _ = f.duration(se.value, "threshold.window.size")
		} else {
			f.errorf(e.value, "threshold.window", "window needs a size")
		}
		if te, ok := wm["type"]; ok {
			switch s, _ := f.str(te.value, "threshold.window.type"); s {
			case "sliding":
			case "tumbling":
				t.Tumbling = true
			default:
				f.errorf(te.value, "threshold.window.type", "unknown window type %q (use sliding or tumbling)", s)
			}
		}
	} else {
		t.Window, _ = f.duration(e.value, "threshold.window")
	}
	if e, ok := tm["condition"]; !ok {
		f.errorf(n, "threshold", "threshold needs a condition")
	} else if s, ok := f.str(e.value, "threshold.condition"); ok {
		t.Condition = c.compile(e.value, 0, s, "threshold.condition", scopeCondition, true)
	}
	if e, ok := m["emit"]; ok {
		switch s, _ := f.str(e.value, "emit"); s {
		case "first":
		case "every":
			t.EmitEvery = true
		default:
			f.errorf(e.value, "emit", "unknown emit %q (use first or every)", s)
		}
	}
	return t
}

// ruleText is the text of rules[i] as written: its lines from the first
// to the last before the next rule (or the document's end), with the
// sequence's "- " marker and trailing blank or comment lines left out.
func (f *file) ruleText(rules *yaml.Node, i int) string {
	rn := rules.Content[i]
	if rules.Style&yaml.FlowStyle != 0 || rn.Line < 1 || rn.Line > len(f.lines) {
		return ""
	}
	end := len(f.lines) // exclusive, 0-based
	if i+1 < len(rules.Content) {
		end = rules.Content[i+1].Line - 1
	} else {
		// The rules sequence ends where a line is indented no deeper than
		// the "- " marker.
		for l := rn.Line; l < len(f.lines); l++ {
			line := f.lines[l]
			trimmed := strings.TrimSpace(line)
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			if indent := len(line) - len(strings.TrimLeft(line, " ")); indent < rn.Column-1 {
				end = l
				break
			}
		}
	}
	lines := append([]string(nil), f.lines[rn.Line-1:max(end, rn.Line)]...)
	for len(lines) > 1 {
		t := strings.TrimSpace(lines[len(lines)-1])
		if t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			break
		}
		lines = lines[:len(lines)-1]
	}
	// Strip the common indentation, and the "- " in front of the first line.
	first := lines[0]
	col := rn.Column - 1
	if col <= len(first) {
		lines[0] = strings.Repeat(" ", col) + first[col:]
	}
	for k, l := range lines {
		if len(l) >= col && strings.TrimSpace(l[:col]) == "" {
			lines[k] = l[col:]
		} else if k > 0 {
			lines[k] = strings.TrimLeft(l, " ")
		}
	}
	lines[0] = strings.TrimLeft(lines[0], " ")
	return strings.TrimRight(strings.Join(lines, "\n"), "\r\n ") + "\n"
}

// ValidListName reports whether name can name a list (lists.<name> in an
// expression): letters, digits and _, not starting with a digit.
func ValidListName(name string) bool { return identNameRE.MatchString(name) }

// IsRulesFile reports whether a directory's file is read as rules: *.yaml
// and *.yml, except *_test.yaml and *_test.yml test files and hidden
// files (a directory's hidden subdirectories are skipped too).
func IsRulesFile(path string) bool {
	name := filepath.Base(path)
	if strings.HasPrefix(name, ".") {
		return false // hidden: editors' temporary files among them
	}
	return (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) &&
		!strings.HasSuffix(name, "_test.yaml") && !strings.HasSuffix(name, "_test.yml")
}

// invalidUTF8At is the offset of the first byte that is not UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}
