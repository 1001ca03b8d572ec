// Package yamlfile reads vigil's YAML files other than rules files (the
// service config, rule tests) with the care the rules loader takes: every
// error has a file, line and column; an unknown key is an error with a
// "did you mean"; a value of the wrong kind says what was expected, in the
// words of the file rather than Go's type names.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"gopkg.in/yaml.v3"
)

// Error is one problem in a YAML file.
type Error struct {
	File         string
	Line, Column int // 1-based; 0 when unknown
	Field        string
	Msg          string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a file, in file order.
type Errors []*Error

func (l Errors) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// SyntaxError positions a YAML syntax error of data: yaml.v3 reports a
// line only (and sometimes the line of the construct that is still open),
// so the position and wording come from goccy/go-yaml's parser where it
// finds the fault, and control characters are located directly.
func SyntaxError(name string, data []byte, err error) *Error {
	if line, col, ok := controlChar(data); ok {
		return &Error{File: name, Line: line, Column: col, Msg: "invalid YAML: control characters (here a byte below 0x20) are not allowed"}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if _, rest, ok := strings.Cut(msg, "line "); ok && strings.HasPrefix(err.Error(), "yaml: line ") {
		var n int
		if _, e := fmt.Sscanf(rest, "%d:", &n); e == nil {
			line = n
			msg = strings.TrimSpace(rest[strings.Index(rest, ":")+1:])
		}
	}
	e := &Error{File: name, Line: line, Msg: "invalid YAML: " + msg}
	defer func() {
		if strings.Contains(e.Msg, "'\t'") {
			e.Msg = "invalid YAML: a tab cannot start a token (YAML indents with spaces only)"
		}
	}()
	if _, perr := goccyparser.ParseBytes(data, 0); perr != nil {
		var se *goccy.SyntaxError
		if errors.As(perr, &se) && se.Token != nil && se.Token.Position != nil {
			e.Line, e.Column = se.Token.Position.Line, se.Token.Position.Column
			e.Msg = "invalid YAML: " + se.Message
		}
	}
	if e.Line > 0 && e.Column == 0 {
		e.Column = firstNonBlank(data, e.Line)
	}
	return e
}

// controlChar finds the first control character YAML forbids.
func controlChar(data []byte) (line, col int, ok bool) {
	line, col = 1, 1
	for _, r := range string(data) {
		switch {
		case r == '\n':
			line, col = line+1, 1
			continue
		case r < 0x20 && r != '\t' && r != '\r', r == 0x7f:
			return line, col, true
		}
		col++
	}
	return 0, 0, false
}

func firstNonBlank(data []byte, line int) int {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return 0
	}
	l := lines[line-1]
	return len(l) - len(strings.TrimLeft(l, " \t")) + 1
}

// Decode reads data, the YAML file name, into v (a pointer to a struct
// with yaml tags). Unknown keys, values of the wrong kind and syntax
// errors are all reported, positioned, as Errors; v is filled only when
// there is none.
func Decode(name string, data []byte, v any) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file: every default applies
		}
		return Errors{SyntaxError(name, data, err)}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	c := &checker{file: name}
	c.check(doc.Content[0], reflect.TypeOf(v).Elem(), "")
	if len(c.errs) > 0 {
		sort.SliceStable(c.errs, func(i, j int) bool {
			if c.errs[i].Line != c.errs[j].Line {
				return c.errs[i].Line < c.errs[j].Line
			}
			return c.errs[i].Column < c.errs[j].Column
		})
		return c.errs
	}
	if err := doc.Content[0].Decode(v); err != nil {
		return Errors{{File: name, Msg: friendly(err.Error())}}
	}
	return nil
}

type checker struct {
	file string
	errs Errors
}

func (c *checker) errorf(n *yaml.Node, field, format string, a ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Line: n.Line, Column: n.Column, Field: field, Msg: fmt.Sprintf(format, a...)})
}

var unmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// check walks n and t together.
func (c *checker) check(n *yaml.Node, t reflect.Type, field string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // nothing written: the default stays
	}
	if reflect.PointerTo(t).Implements(unmarshaler) || t.Implements(unmarshaler) {
		c.leaf(n, t, field)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		c.check(n, t.Elem(), field)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.errorf(n, field, "want a mapping of settings, got %s", kindName(n))
			return
		}
		fields := structFields(t)
		names := make([]string, 0, len(fields))
		for k := range fields {
			names = append(names, k)
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := join(field, k.Value)
			if seen[k.Value] {
				c.errorf(k, field, "duplicate key %q", k.Value)
				continue
			}
			seen[k.Value] = true
			ft, ok := fields[k.Value]
			if !ok {
				msg := unknownKey(k.Value, names)
				if where := nestedKey(fields, k.Value); where != "" && !strings.Contains(msg, "did you mean") {
					msg = fmt.Sprintf("unknown key %q here (it belongs under %s: %s)", k.Value, join(field, where), join(join(field, where), k.Value))
				}
				c.errorf(k, field, "%s", msg)
				continue
			}
			c.check(v, ft, sub)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if t.Elem().Kind() == reflect.Struct || t.Elem().Kind() == reflect.Map || n.Kind != yaml.ScalarNode {
				c.errorf(n, field, "want a list, got %s", kindName(n))
				return
			}
			c.errorf(n, field, "want a list, got %s (write [%s])", kindName(n), n.Value)
			return
		}
		for i, item := range n.Content {
			c.check(item, t.Elem(), fmt.Sprintf("%s[%d]", field, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.errorf(n, field, "want a mapping, got %s", kindName(n))
			return
		}
		if t.Elem().Kind() == reflect.Interface {
			return // free-form values (an event)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.check(n.Content[i+1], t.Elem(), join(field, n.Content[i].Value))
		}
	case reflect.Interface:
	default:
		c.leaf(n, t, field)
	}
}

// leaf decodes a single value on its own, to report a wrong kind where it
// is written.
func (c *checker) leaf(n *yaml.Node, t reflect.Type, field string) {
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i > 0 {
			msg = msg[i+2:]
		}
		c.errorf(n, field, "%s", friendly(msg))
	}
}

// friendly rewrites yaml.v3's "cannot unmarshal !!str `x` into int" in the
// file's words.
func friendly(msg string) string {
	if !strings.HasPrefix(msg, "cannot unmarshal ") {
		return msg
	}
	rest := strings.TrimPrefix(msg, "cannot unmarshal ")
	got, into, ok := strings.Cut(rest, " into ")
	if !ok {
		return msg
	}
	want := into
	switch {
	case strings.HasSuffix(into, "Duration"):
		want = "a duration such as 5s or 10m"
	case into == "bool":
		want = "true or false"
	case strings.HasPrefix(into, "int"), strings.HasPrefix(into, "uint"):
		want = "a whole number"
	case strings.HasPrefix(into, "float"):
		want = "a number"
	case into == "string":
		want = "text"
	case strings.HasPrefix(into, "[]"):
		want = "a list"
	case strings.HasPrefix(into, "map["):
		want = "a mapping"
	}
	got = strings.Replace(strings.Replace(strings.Replace(got, "!!str ", "", 1), "!!int ", "", 1), "!!map", "a mapping", 1)
	got = strings.Replace(strings.Replace(got, "!!seq", "a list", 1), "!!bool ", "", 1)
	if len(got) >= 2 && got[0] == '`' && got[len(got)-1] == '`' {
		got = strconv.Quote(got[1 : len(got)-1])
	}
	return fmt.Sprintf("want %s, got %s", want, got)
}

// structFields maps the yaml names of t's fields (inline ones included) to
// their types.
func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range structFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// nestedKey returns the setting, among fields, whose own settings hold
// name: "listen" written at the top of the config belongs under http.
func nestedKey(fields map[string]reflect.Type, name string) string {
	var found []string
	for k, t := range fields {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Struct {
			if _, ok := structFields(t)[name]; ok {
				found = append(found, k)
			}
		}
	}
	sort.Strings(found)
	if len(found) == 0 {
		return ""
	}
	return found[0]
}

func unknownKey(got string, allowed []string) string {
	sort.Strings(allowed)
	if best := Suggest(got, allowed); best != "" {
		return fmt.Sprintf("unknown key %q (did you mean %q?)", got, best)
	}
	return fmt.Sprintf("unknown key %q (allowed: %s)", got, strings.Join(allowed, ", "))
}

// Suggest returns the allowed key closest to a misspelt one, if it is
// close (an edit distance under 3), else "".
func Suggest(got string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if d := editDistance(got, a); d < bestDist {
			best, bestDist = a, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func join(field, sub string) string {
	if field == "" {
		return sub
	}
	return field + "." + sub
}

// Kind guesses what a vigil YAML file is from its top-level keys: "rules",
// "config" (the service's), "test" (a rule test), or "" when unsure.
func Kind(data []byte) string {
	var top map[string]yaml.Node
	if yaml.Unmarshal(data, &top) != nil || top == nil {
		return ""
	}
	_, tests := top["tests"]
	_, rules := top["rules"]
	switch {
	case tests:
		return "test"
	case has(top, "data_dir", "http", "kafka", "sinks", "store", "logging", "limits", "time", "allow_empty_rules", "auth", "rules_watch",
		"checkpoint", "telemetry", "clickhouse"):
		return "config"
	case !rules && has(top, "groups"):
		return "prometheus" // alerting rules for Prometheus, as examples/prometheus holds
	case rules || has(top, "defaults", "lists"):
		return "rules"
	}
	return ""
}

func has(m map[string]yaml.Node, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}
