package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/patterns/sequence"
)

// Evaluator runs compiled expressions. Programs are shared, but an
// Evaluator holds the VM and the environment it reuses, so it is not safe
// for concurrent use: each worker has its own.
//
// A runtime error (missing field, wrong type) makes a condition false and
// is counted per rule; it never stops the engine.
type Evaluator struct {
	vm  vm.VM
	env Env
	// Key is the key under evaluation, set by the engine before it feeds a
	// key's event to a matcher, so stage conditions see it.
	Key     string
	errors  map[string]uint64
	lastErr map[string]error
	bufs    map[string][]any // reused matched.<stage> lists for conditions
	// exprErrs explains the errors: per expression, a count and the first
	// failing events.
	exprErrs map[*Expr]*ExprError
	// OnError, when set, is called with each failure kept as a sample (the
	// first MaxErrorSamples per expression), e.g. to log it.
	OnError func(ExprError, ErrorSample)
}

// NewEvaluator returns an evaluator for the lists of rs.
func NewEvaluator(rs *Ruleset) *Evaluator {
	e := &Evaluator{errors: map[string]uint64{}, lastErr: map[string]error{}, bufs: map[string][]any{}, exprErrs: map[*Expr]*ExprError{}}
	e.env.Lists = rs.Lists
	e.env.Matched = map[string][]any{}
	return e
}

// SetLists replaces the lists expressions see (PUT /v1/lists).
func (e *Evaluator) SetLists(lists map[string]map[any]struct{}) { e.env.Lists = lists }

// Errors returns the runtime errors counted per rule so far.
func (e *Evaluator) Errors() map[string]uint64 { return e.errors }

// AddErrors adds n to a rule's error count: an engine moving a rule to a
// new evaluator keeps its total.
func (e *Evaluator) AddErrors(rule string, n uint64) {
	if n > 0 {
		e.errors[rule] += n
	}
}

// LastError returns the most recent runtime error of a rule, for logs.
func (e *Evaluator) LastError(rule string) error { return e.lastErr[rule] }

func (e *Evaluator) fail(x *Expr, ev *event.Event, err error) {
	e.errors[x.rule]++
	e.lastErr[x.rule] = err
	if e.exprErrs != nil {
		e.recordError(x, ev, err)
	}
}

func (e *Evaluator) run(x *Expr, ev *event.Event, key string) (any, error) {
	e.env.Event = ev.Fields
	e.env.Key = key
	var out any
	var err error
	if x.fast != nil {
		out, err = runFast(x.fast, &e.env)
	} else {
		e.env.Now = time.UnixMilli(ev.Time).UTC()
		out, err = e.vm.Run(x.prog, &e.env)
	}
	if err != nil {
		e.fail(x, ev, err)
	}
	return out, err
}

// Bool evaluates a condition; errors and non-boolean results are false.
func (e *Evaluator) Bool(x *Expr, ev *event.Event, key string) bool {
	if x == nil {
		return true
	}
	out, err := e.run(x, ev, key)
	if err != nil {
		return false
	}
	b, ok := out.(bool)
	if !ok {
		e.fail(x, ev, fmt.Errorf("the condition gave %s, not true or false", describe(out)))
	}
	return b
}

// Value evaluates an expression on an event.
func (e *Evaluator) Value(x *Expr, ev *event.Event, key string) (any, error) {
	return e.run(x, ev, key)
}

// KeyOf computes a rule's key for an event. ok is false when a key part is
// missing or fails: such an event is not matched by that rule.
func (e *Evaluator) KeyOf(r *Rule, ev *event.Event) (key string, ok bool) {
	if len(r.Key) == 0 {
		return "", true
	}
	if len(r.Key) == 1 {
		v, err := e.run(r.Key[0], ev, "")
		if err != nil || v == nil {
			return "", false
		}
		return keyString(v), true
	}
	var b strings.Builder
	for i, x := range r.Key {
		v, err := e.run(x, ev, "")
		if err != nil || v == nil {
			return "", false
		}
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(keyString(v))
	}
	return b.String(), true
}

func keyString(v any) string {
	switch k := v.(type) {
	case string:
		return k
	case float64:
		return strconv.FormatFloat(k, 'f', -1, 64)
	case int:
		return strconv.Itoa(k)
	case bool:
		return strconv.FormatBool(k)
	}
	return fmt.Sprint(v)
}

// SetAggregates makes aggregate values visible to threshold conditions,
// summaries and fields.
func (e *Evaluator) SetAggregates(values []any) { e.env.Aggs = values }

// Pattern binds a sequence rule's conditions to this evaluator, giving the
// pure matcher of patterns/sequence plain Go conditions.
func (e *Evaluator) Pattern(s *Sequence, maxPartial int) sequence.Pattern {
	p := sequence.Pattern{
		Stages:            e.bindStages(s.Stages, s.StageNames),
		Within:            s.Within,
		Skip:              s.Skip,
		MaxPartialMatches: s.MaxPartialMatches,
	}
	if p.MaxPartialMatches == 0 {
		p.MaxPartialMatches = maxPartial
	}
	return p
}

func (e *Evaluator) bindStages(stages []Stage, names []string) []sequence.Stage {
	out := make([]sequence.Stage, len(stages))
	for i, st := range stages {
		out[i] = sequence.Stage{
			Name: st.Name, Kind: st.Kind,
			Where: e.condition(st.Where, names), Until: e.condition(st.Until, names),
			Min: st.Min, Max: st.Max, Optional: st.Optional, Greedy: st.Greedy,
			Inner: st.Inner, Within: st.Within,
		}
		if st.Group != nil {
			out[i].Group = e.bindStages(st.Group, names)
		}
	}
	return out
}

// condition turns a stage expression into a matcher condition. The
// matched lists are filled only when the expression names them, into
// buffers reused across evaluations (a condition's result is a bool, so
// nothing keeps them).
func (e *Evaluator) condition(x *Expr, names []string) sequence.Condition {
	if x == nil {
		return nil
	}
	stages := x.matched
	if x.usesAll {
		stages = names
	}
	return func(ev *event.Event, ctx sequence.Context) bool {
		clear(e.env.Matched)
		for _, s := range stages {
			buf := e.bufs[s][:0]
			for _, m := range ctx.Matched(s) {
				buf = append(buf, m.Fields)
			}
			e.bufs[s] = buf
			e.env.Matched[s] = buf
		}
		e.env.Prev = nil
		if x.prev {
			if p := ctx.Prev(); p != nil {
				e.env.Prev = p.Fields
			}
		}
		return e.Bool(x, ev, e.Key)
	}
}

// AlertInput is what an alert's summary and fields are computed from.
type AlertInput struct {
	Key  string
	Last *event.Event // the last matched event
	Time int64        // alert time: now() in alert expressions
	// Matched holds each stage's events (sequence rules).
	Matched map[string][]*event.Event
	// Values holds the aggregate values (threshold rules), as from
	// SetAggregates.
	Values []any
}

// Render computes a rule's summary and fields for an alert. A field whose
// expression fails is left out, and the error counted; so is a field
// whose value JSON cannot carry (NaN, an infinity — a division by zero —
// anywhere in it): an alert must always be writable.
func (e *Evaluator) Render(r *Rule, in AlertInput) (summary string, fields map[string]any) {
	if r.Summary == nil && len(r.Fields) == 0 {
		return "", nil
	}
	matched := make(map[string][]any, len(in.Matched))
	for stage, evs := range in.Matched {
		list := make([]any, len(evs))
		for i, ev := range evs {
			list[i] = ev.Fields
		}
		matched[stage] = list
	}
	saved := e.env.Matched
	e.env.Matched = matched
	e.env.Prev = nil
	if in.Last != nil {
		e.env.Prev = in.Last.Fields
	}
	e.env.Aggs = in.Values
	at := &event.Event{Time: in.Time}
	if in.Last != nil {
		at.Fields, at.ID = in.Last.Fields, in.Last.ID
	}
	defer func() { e.env.Matched = saved }()

	if r.Summary != nil {
		var b strings.Builder
		for _, p := range r.Summary.parts {
			if p.expr == nil {
				b.WriteString(p.text)
				continue
			}
			v, err := e.run(p.expr, at, in.Key)
			if err != nil {
				b.WriteString("?")
				continue
			}
			b.WriteString(formatValue(v))
		}
		summary = b.String()
	}
	if len(r.Fields) > 0 {
		fields = make(map[string]any, len(r.Fields))
		for _, f := range r.Fields {
			v, err := e.run(f.Expr, at, in.Key)
			if err == nil && !encodable(v) {
				err = fmt.Errorf("field %s: %v is not a finite number", f.Name, v)
				e.fail(f.Expr, at, err)
			}
			if err == nil {
				fields[f.Name] = v
			}
		}
	}
	return summary, fields
}

func describe(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%v (%T)", v, v)
}

// encodable reports whether JSON can carry v: no NaN or infinity in it.
// The common values are checked directly; anything else by encoding it.
func encodable(v any) bool {
	switch x := v.(type) {
	case nil, string, bool, int, int64:
		return true
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case float32:
		return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0)
	}
	_, err := json.Marshal(v)
	return err == nil
}

// formatValue renders a value in a summary: integral floats without a
// fraction, times in vigil's format.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return event.FormatTime(x.UnixMilli())
	case time.Duration:
		return FormatDuration(x.Milliseconds())
	}
	return fmt.Sprint(v)
}
