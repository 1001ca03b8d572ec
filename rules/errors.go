package rules

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a rules file, positioned so an editor can jump to
// it. For expressions, Source holds the offending line of the expression and
// Caret the 0-based rune column of the fault inside it.
type Error struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int // 1-based; 0 when unknown
	Rule   string
	Field  string // the setting at fault, e.g. "pattern[1].where"
	Msg    string
	Source string
	Caret  int
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
	if e.Rule != "" {
		fmt.Fprintf(&b, "rule %q: ", e.Rule)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Source != "" {
		b.WriteString("\n    ")
		b.WriteString(e.Source)
		b.WriteString("\n    ")
		b.WriteString(strings.Repeat(" ", e.Caret))
		b.WriteString("^")
	}
	return b.String()
}

// ErrorList is every problem found while loading a ruleset, in file order.
// A ruleset with any error is never returned, so it is never partly applied.
type ErrorList []*Error

func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

func (l ErrorList) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].File != l[j].File {
			return l[i].File < l[j].File
		}
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Column < l[j].Column
	})
}

// err returns l as an error, or nil when it is empty.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	l.sort()
	// A setting reached through several YAML aliases is read once per
	// alias: report each of its errors once, under the first field that
	// reached it.
	seen := map[Error]bool{}
	out := l[:0]
	for _, e := range l {
		k := *e
		k.Field = ""
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}
