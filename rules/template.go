package rules

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is a summary text with {{ expression }} parts.
type Template struct {
	Source string
	parts  []templatePart
}

type templatePart struct {
	text string
	expr *Expr
}

// compileTemplate splits a template into literal text and expressions.
func (c *exprCompiler) compileTemplate(n *yaml.Node, field string, sc scope) *Template {
	src := n.Value
	t := &Template{Source: src}
	ok := true
	for rest, off := src, 0; rest != ""; {
		open := strings.Index(rest, "{{")
		if open < 0 {
			t.parts = append(t.parts, templatePart{text: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{text: rest[:open]})
		}
		end := strings.Index(rest[open+2:], "}}")
		if end < 0 {
			c.exprError(n, off+open, src[off+open:], field, 0, "unclosed {{ in template")
			return nil
		}
		inner := rest[open+2 : open+2+end]
		start := off + open + 2
		x := c.compile(n, start, inner, field, sc, false)
		if x == nil {
			ok = false
		}
		t.parts = append(t.parts, templatePart{expr: x})
		off += open + 2 + end + 2
		rest = src[off:]
	}
	if !ok {
		return nil
	}
	return t
}
