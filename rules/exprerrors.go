package rules

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	exprfile "github.com/expr-lang/expr/file"

	"github.com/vigilhq/vigil/event"
)

// MaxErrorSamples is how many failing events are kept per expression; past
// them only the count grows.
const MaxErrorSamples = 3

// ExprError is what went wrong in one expression of a rule at run time: a
// missing field compared with a number, a method called on nil… Each such
// failure makes the condition false for that event; this says which
// expression, where it is written, how often, and on which events.
type ExprError struct {
	Rule   string
	Field  string // the setting: where, pattern.probe.where, threshold.condition…
	Source string // the expression
	File   string
	Line   int // where the expression starts in the file; 0 when unknown
	Column int
	Count  uint64
	// Samples are the first failures, in order.
	Samples []ErrorSample
}

// ErrorSample is one failure of an expression.
type ErrorSample struct {
	EventID string
	Msg     string
	// Caret is the rune offset in Source of the part that failed, when the
	// expression engine says; -1 otherwise.
	Caret int
}

// String renders e for a person: where, how often, the expression with a
// caret under the part that failed and the first failing events.
func (e ExprError) String() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
		}
		b.WriteString(": ")
	}
	effect := "each made the condition false"
	switch {
	case strings.HasPrefix(e.Field, "alert."):
		effect = "each left the value out of the alert"
	case strings.HasPrefix(e.Field, "key") || strings.HasPrefix(e.Field, "defaults.key"):
		effect = "each kept the event from the rule"
	}
	fmt.Fprintf(&b, "rule %q: %s: %d expression error(s), %s", e.Rule, e.Field, e.Count, effect)
	// The expression once per place that failed, each with its events.
	src := strings.Join(strings.Fields(e.Source), " ")
	var carets []int
	for _, s := range e.Samples {
		if !slices.Contains(carets, s.Caret) {
			carets = append(carets, s.Caret)
		}
	}
	if len(carets) == 0 {
		carets = []int{-1}
	}
	for _, caret := range carets {
		b.WriteString("\n    " + src)
		if caret >= 0 && caret <= len([]rune(e.Source)) {
			// The source was re-spaced: place the caret by the words before it.
			before := strings.Join(strings.Fields(string([]rune(e.Source)[:caret])), " ")
			if caret > 0 && len(before) > 0 && isSpaceRune([]rune(e.Source)[caret-1]) {
				before += " "
			}
			b.WriteString("\n    " + strings.Repeat(" ", len([]rune(before))) + "^")
		}
		for _, s := range e.Samples {
			if s.Caret == caret {
				fmt.Fprintf(&b, "\n  event %s: %s", s.EventID, s.Msg)
			}
		}
	}
	if more := e.Count - uint64(len(e.Samples)); more > 0 {
		fmt.Fprintf(&b, "\n  … and %d more", more)
	}
	return b.String()
}

func isSpaceRune(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// recordError counts a failure of x on ev. For the first few it also
// keeps the event and the message, placed in the expression: the fast
// path's errors carry no position, so the expression runs again on the VM,
// which says where it failed.
func (e *Evaluator) recordError(x *Expr, ev *event.Event, err error) {
	eventID := ev.ID
	st := e.exprErrs[x]
	if st == nil {
		st = &ExprError{Rule: x.rule, Field: x.field, Source: x.Source, File: x.file, Line: x.line, Column: x.col}
		e.exprErrs[x] = st
	}
	st.Count++
	if len(st.Samples) < MaxErrorSamples {
		s := ErrorSample{EventID: eventID, Msg: err.Error(), Caret: -1}
		var fe *exprfile.Error
		if !errors.As(err, &fe) && x.fast != nil && x.prog != nil {
			e.env.Now = time.UnixMilli(ev.Time).UTC()
			if _, vmErr := e.vm.Run(x.prog, &e.env); vmErr != nil {
				err = vmErr
			}
		}
		if errors.As(err, &fe) {
			s.Msg = fe.Message
			if fe.From >= 0 && fe.From < len([]rune(x.Source)) {
				s.Caret = fe.From
			}
		}
		st.Samples = append(st.Samples, s)
		if e.OnError != nil {
			e.OnError(*st, s)
		}
	}
}

// ExprErrors returns the runtime errors of a rule's expressions so far, in
// the order they are written.
func (e *Evaluator) ExprErrors(rule string) []ExprError {
	var out []ExprError
	for _, st := range e.exprErrs {
		if st.Rule == rule {
			c := *st
			c.Samples = append([]ErrorSample(nil), st.Samples...)
			out = append(out, c)
		}
	}
	SortExprErrors(out)
	return out
}

// SortExprErrors orders errors by where their expressions are written.
func SortExprErrors(list []ExprError) {
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Field < b.Field
	})
}

// MergeExprErrors adds the errors of more into list (the same expression
// counted by several evaluators), keeping the first samples.
func MergeExprErrors(list, more []ExprError) []ExprError {
	for _, m := range more {
		found := false
		for i := range list {
			l := &list[i]
			if l.Rule == m.Rule && l.Field == m.Field && l.Source == m.Source && l.Line == m.Line && l.Column == m.Column {
				l.Count += m.Count
				for _, s := range m.Samples {
					if len(l.Samples) < MaxErrorSamples {
						l.Samples = append(l.Samples, s)
					}
				}
				found = true
				break
			}
		}
		if !found {
			m.Samples = append([]ErrorSample(nil), m.Samples...)
			list = append(list, m)
		}
	}
	SortExprErrors(list)
	return list
}
