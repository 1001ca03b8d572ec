package rules

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// file is the loading state of one rules file: its text (for carets) and
// the errors found so far.
type file struct {
	name     string
	lines    []string
	errs     *ErrorList
	ruleName string // the rule being read, for error context
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
			if s := suggest(k.Value, allowed); s != "" {
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
		f.errorf(n, field, "want true or false")
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
	return d, true
}

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

// suggest returns the allowed key closest to a misspelt one, if it is close.
func suggest(got string, allowed []string) string {
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

// exprStart returns the file position (line, column, both 1-based) of the
// first character of a scalar's value, looking through quotes and block
// scalar headers, so expression errors point at the right character.
func (f *file) exprStart(n *yaml.Node) (line, col int) {
	switch n.Style {
	case yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle:
		return n.Line, n.Column + 1
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// The content starts on the first non-blank line after the header.
		for l := n.Line; l < len(f.lines); l++ { // f.lines is 0-based: index l is line l+1
			text := f.lines[l]
			if strings.TrimSpace(text) == "" {
				continue
			}
			return l + 1, len(text) - len(strings.TrimLeft(text, " ")) + 1
		}
	}
	return n.Line, n.Column
}
