package rules

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/internal/yamlfile"
)

// file is the loading state of one rules file: its text (for carets) and
// the errors found so far.
type file struct {
	name     string
	lines    []string
	errs     *ErrorList
	ruleName string // the rule being read, for error context
	// expanded memoizes size; -1 while a node is being counted.
	expanded map[*yaml.Node]int
	confined bool // Source.Confined
}

func (f *file) errorf(n *yaml.Node, field, format string, args ...any) {
	e := &Error{File: f.name, Rule: f.ruleName, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	*f.errs = append(*f.errs, e)
}

// entry is one key/value pair of a YAML mapping.
type entry struct {
	key, value *yaml.Node
}

// mapping reads a YAML mapping, reporting keys not in allowed (with a
// suggestion when one is close: a typo must never silently disable a rule)
// and duplicate keys. It returns the entries by key.
func (f *file) mapping(n *yaml.Node, field string, allowed ...string) map[string]entry {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		f.errorf(n, field, "want a mapping, got %s", kindName(n))
		return nil
	}
	out := make(map[string]entry, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			f.errorf(k, field, "keys must be strings")
			continue
		}
		if _, dup := out[k.Value]; dup {
			f.errorf(k, join(field, k.Value), "duplicate key %q", k.Value)
			continue
		}
		if allowed != nil && !contains(allowed, k.Value) {
			msg := fmt.Sprintf("unknown key %q", k.Value)
			if s := yamlfile.Suggest(k.Value, allowed); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += fmt.Sprintf(" (allowed: %s)", strings.Join(sorted(allowed), ", "))
			}
			f.errorf(k, field, "%s", msg)
			continue
		}
		out[k.Value] = entry{k, v}
	}
	return out
}

// maxAliasedNodes bounds the nodes a document may reach through YAML
// aliases. Aliases are followed wherever rules are read, so without a bound
// a small file whose aliases double at each level takes exponential time
// (and an alias inside the node it names, forever).
const maxAliasedNodes = 10000

// aliasesBounded reports, and returns false, when a YAML alias in the
// document under root refers to a node that holds it, or when its aliases
// reach more than maxAliasedNodes nodes in all (reported at the alias that
// goes past the bound).
func (f *file) aliasesBounded(root *yaml.Node) bool {
	total := 0
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n.Kind == yaml.AliasNode {
			size, cycle := f.size(n)
			if cycle != nil {
				f.errorf(cycle, "", "the alias *%s refers to a node that holds it", cycle.Value)
				return false
			}
			if total += size; total > maxAliasedNodes {
				f.errorf(n, "", "with this alias, *%s, the YAML aliases of the document expand to more than %d nodes: write shared parts out, or share less", n.Value, maxAliasedNodes)
				return false
			}
			return true
		}
		for _, c := range n.Content {
			if !walk(c) {
				return false
			}
		}
		return true
	}
	return walk(root)
}

// size returns the number of nodes n expands to, following aliases, up to
// maxAliasedNodes+1, and the alias that closes a cycle, if any.
func (f *file) size(n *yaml.Node) (int, *yaml.Node) {
	if f.expanded == nil {
		f.expanded = map[*yaml.Node]int{}
	}
	if s, ok := f.expanded[n]; ok && s >= 0 {
		return s, nil
	}
	f.expanded[n] = -1
	total := 1
	if n.Kind == yaml.AliasNode {
		if n.Alias != nil {
			if f.expanded[n.Alias] == -1 {
				return 0, n
			}
			s, cycle := f.size(n.Alias)
			if cycle != nil {
				return 0, cycle
			}
			total = s
		}
	} else {
		for _, c := range n.Content {
			s, cycle := f.size(c)
			if cycle != nil {
				return 0, cycle
			}
			total = min(total+s, maxAliasedNodes+1)
		}
	}
	f.expanded[n] = total
	return total, nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// scalar returns the text of a scalar node, reporting anything else.
func (f *file) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		f.errorf(n, field, "want a single value, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (f *file) str(n *yaml.Node, field string) (string, bool) {
	s, ok := f.scalar(n, field)
	if ok && n.Tag == "!!null" {
		f.errorf(n, field, "must not be empty")
		return "", false
	}
	return s, ok
}

func (f *file) boolean(n *yaml.Node, field string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		f.errorf(n, field, "want true or false, got %s", kindName(n))
		return false, false
	}
	return n.Value == "true", true
}

func (f *file) duration(n *yaml.Node, field string) (int64, bool) {
	s, ok := f.str(n, field)
	if !ok {
		return 0, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		f.errorf(n, field, "%v", err)
		return 0, false
	}
	if d <= 0 {
		f.errorf(n, field, "must be positive")
		return 0, false
	}
	if d > MaxDuration {
		// An event time plus a larger window would overflow, and the rule
		// would silently never fire.
		f.errorf(n, field, "%s is too long: at most %s (100 years)", s, FormatDuration(MaxDuration))
		return 0, false
	}
	return d, true
}

// MaxDuration is the longest window, within or throttle, in ms: 100 years.
const MaxDuration = 36500 * 24 * 60 * 60 * 1000

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sorted(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}

// filePos is a position in a rules file: 1-based line and rune column.
type filePos struct{ line, col int }

// rawUnit is one character of a scalar as written in the file, decoded
// (a quoted scalar's escape is one unit, at its backslash), and where it is.
type rawUnit struct {
	r   rune
	at  filePos
	raw bool // written as is, not decoded from an escape
}

// rawScanner reads a scalar's text from the file, from its first character
// on, one unit at a time, following its style's quoting.
type rawScanner struct {
	lines []string
	style yaml.Style
	line  int    // 0-based index into lines
	text  []rune // lines[line] without a trailing \r
	col   int    // 0-based rune index into text
	done  bool
}

func newRawScanner(lines []string, n *yaml.Node) *rawScanner {
	s := &rawScanner{lines: lines, style: n.Style}
	if n.Line <= 0 || n.Line > len(lines) {
		s.done = true
		return s
	}
	s.setLine(n.Line - 1)
	s.col = min(max(n.Column-1, 0), len(s.text))
	// The node starts at its properties (&anchor, !tag), if any: skip them
	// and what follows them up to the scalar itself.
	for {
		c, ok := s.char()
		switch {
		case !ok:
			return s
		case isYAMLSpace(c):
			s.advance()
			continue
		case c == '#':
			for c != '\n' && ok {
				s.advance()
				c, ok = s.char()
			}
			continue
		case c == '&' || c == '!':
			for ok && !isYAMLSpace(c) {
				s.advance()
				c, ok = s.char()
			}
			continue
		}
		break
	}
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		// The content starts on the line after the header (| or >).
		if s.line+1 < len(lines) {
			s.setLine(s.line + 1)
		} else {
			s.done = true
		}
	case n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0:
		s.advance() // the opening quote
	}
	return s
}

func (s *rawScanner) setLine(l int) {
	s.line = l
	s.text = []rune(strings.TrimSuffix(s.lines[l], "\r"))
	s.col = 0
}

// at returns the position of the character under the scanner.
func (s *rawScanner) at() filePos { return filePos{s.line + 1, s.col + 1} }

// char returns the character under the scanner, '\n' at the end of a line.
func (s *rawScanner) char() (rune, bool) {
	if s.done {
		return 0, false
	}
	if s.col < len(s.text) {
		return s.text[s.col], true
	}
	if s.line+1 < len(s.lines) {
		return '\n', true
	}
	return 0, false
}

func (s *rawScanner) advance() {
	if s.col < len(s.text) {
		s.col++
	} else if s.line+1 < len(s.lines) {
		s.setLine(s.line + 1)
	} else {
		s.done = true
	}
}

// next returns the next unit of the scalar; ok is false at its end.
func (s *rawScanner) next() (u rawUnit, ok bool) {
	for {
		c, ok := s.char()
		if !ok {
			return rawUnit{}, false
		}
		u = rawUnit{r: c, at: s.at(), raw: true}
		s.advance()
		switch {
		case s.style&yaml.SingleQuotedStyle != 0 && c == '\'':
			if c2, _ := s.char(); c2 == '\'' {
				s.advance()
				u.raw = false
				return u, true
			}
			s.done = true
			return rawUnit{}, false
		case s.style&yaml.DoubleQuotedStyle != 0 && c == '"':
			s.done = true
			return rawUnit{}, false
		case s.style&yaml.DoubleQuotedStyle != 0 && c == '\\':
			e, ok := s.char()
			if !ok {
				return rawUnit{}, false
			}
			s.advance()
			if e == '\n' {
				continue // an escaped line break: nothing
			}
			u.r, u.raw = s.escape(e), false
			return u, true
		}
		return u, true
	}
}

var yamlEscapes = map[rune]rune{
	'0': 0, 'a': '\a', 'b': '\b', 't': '\t', '\t': '\t', 'n': '\n', 'v': '\v', 'f': '\f',
	'r': '\r', 'e': 0x1b, ' ': ' ', '"': '"', '/': '/', '\\': '\\', 'N': 0x85, '_': 0xa0,
	'L': 0x2028, 'P': 0x2029,
}

// escape decodes the escape \e of a double-quoted scalar; the scanner is
// past e.
func (s *rawScanner) escape(e rune) rune {
	digits := map[rune]int{'x': 2, 'u': 4, 'U': 8}[e]
	if digits == 0 {
		if r, ok := yamlEscapes[e]; ok {
			return r
		}
		return e
	}
	var v rune
	for range digits {
		c, ok := s.char()
		if !ok {
			break
		}
		d := strings.IndexRune("0123456789abcdef", unicode.ToLower(c))
		if d < 0 {
			break
		}
		v = v*16 + rune(d)
		s.advance()
	}
	return v
}

func isYAMLSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// valuePositions maps every rune of a scalar's value to where it is written
// in the file, whatever the scalar's style: quoted (escapes and folded line
// breaks), plain over several lines, literal or folded block. The file text
// and the value differ only in whitespace (indentation, folding) and
// escapes, so walking both together lines them up. A rune that has no
// character of its own (a line break folded into a space) gets the
// position of the next character.
func (f *file) valuePositions(n *yaml.Node) []filePos {
	v := []rune(n.Value)
	out := make([]filePos, len(v))
	s := newRawScanner(f.lines, n)
	last := filePos{max(n.Line, 1), max(n.Column, 1)}
	u, ok := s.next()
	for i := 0; i < len(v); {
		switch {
		case !ok:
			out[i] = last
			i++
			continue
		case v[i] == u.r:
			out[i] = u.at
			i++
		case u.raw && isYAMLSpace(u.r):
			// indentation or a line break the value does not hold
		case isYAMLSpace(v[i]):
			out[i] = u.at // a line break folded into a space
			i++
			continue
		default:
			out[i] = u.at // should not happen: keep in step
			i++
		}
		last = u.at
		u, ok = s.next()
	}
	return out
}
