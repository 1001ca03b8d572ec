package rules

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	exprfile "github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/patterns/window"
)

// Env is what an expression sees. Event fields are reached through Event:
// the compiler rewrites a bare name such as `amount` to `event.amount`, so
// one Env per worker is reused for every evaluation instead of building a
// map per event. The names event, key, lists, matched and prev are
// reserved; an event field with one of those names is reached as
// event.<name>. __now and __aggs are internal: rules cannot name them.
type Env struct {
	Event   map[string]any              `expr:"event"`
	Key     string                      `expr:"key"`
	Lists   map[string]map[any]struct{} `expr:"lists"`
	Matched map[string][]any            `expr:"matched"`
	Prev    map[string]any              `expr:"prev"`
	Now     time.Time                   `expr:"__now"`
	Aggs    []any                       `expr:"__aggs"`
}

// scope says where an expression is used, and so which names it may use.
type scope uint8

const (
	scopeKey       scope = iota // key expressions: event fields only
	scopeWhere                  // rule where: event fields, lists, now()
	scopeEvent                  // threshold where, aggregate arguments: + key
	scopeStage                  // pattern stage where/until: + matched, prev
	scopeCondition              // threshold condition: + aggregates
	scopeAlertSeq               // alert of a sequence rule: + matched, prev
	scopeAlertAgg               // alert of a threshold rule: + aggregates
)

func (s scope) allowsKey() bool     { return s >= scopeEvent }
func (s scope) allowsMatched() bool { return s == scopeStage || s == scopeAlertSeq }
func (s scope) allowsAggs() bool    { return s == scopeCondition || s == scopeAlertAgg }

// Expr is a compiled expression. Programs are immutable and shared; they
// run on a worker's Evaluator.
type Expr struct {
	Source string
	rule   string
	// field, file, line and col say where the expression is written, for
	// runtime errors.
	field     string
	file      string
	line, col int
	prog      *vm.Program
	fast      fastFn   // the same expression without the VM, when its shape allows
	matched   []string // stages named as matched.<stage>
	usesAll   bool     // `matched` used other than as matched.<stage>
	prev      bool     // uses prev
}

// aggregateNames are the aggregate functions of threshold conditions.
var aggregateNames = []string{"count", "sum", "avg", "min", "max", "distinct", "stddev", "first", "last"}

// aggSet collects the aggregates of one threshold rule, de-duplicated by
// their text, across its condition, summary and fields.
type aggSet struct {
	list []window.Aggregate
	args []*Expr // argument of each aggregate; nil for count()
}

func (a *aggSet) index(text string) int {
	for i, g := range a.list {
		if g.Text == text {
			return i
		}
	}
	return -1
}

// exprCompiler compiles the expressions of one rule.
type exprCompiler struct {
	f      *file
	lists  map[string]bool
	stages map[string]bool // leaf stages of a sequence rule
	// stageAt is where each stage of a sequence rule is written, and its
	// field name, for the matcher's errors.
	stageAt map[string]stageRef
	aggs    *aggSet
	// internal allows the names of internalNames (in the arguments of
	// aggregates, recompiled from their syntax tree).
	internal bool
}

type stageRef struct {
	node  *yaml.Node
	field string
}

// compileErr is an error found while rewriting an expression, at a rune
// offset of its source.
type compileErr struct {
	from int
	msg  string
}

// compile compiles src, the value of node n (or the part of it starting at
// byte offset off, for templates), and reports errors at their position.
func (c *exprCompiler) compile(n *yaml.Node, off int, src, field string, sc scope, wantBool bool) *Expr {
	x := &Expr{Source: src, rule: c.f.ruleName, field: field, file: c.f.name}
	if n.Line > 0 {
		if pos := c.f.valuePositions(n); off >= 0 && off <= len(n.Value) {
			if i := utf8.RuneCountInString(n.Value[:off]); i < len(pos) {
				x.line, x.col = pos[i].line, pos[i].col
			}
		}
	}
	pre := &preVisitor{c: c, x: x, scope: sc, src: src, callees: map[ast.Node]bool{}, lets: map[string]bool{}, lifted: map[ast.Node]string{}}
	rw := &rewriter{pre: pre}
	opts := []expr.Option{
		expr.Env(Env{}),
		expr.DisableBuiltin("now"),
		// Let names first: an aggregate's argument is lifted before the
		// walk reaches the declaration that encloses it.
		expr.Patch(visitFunc(func(node *ast.Node) {
			if d, ok := (*node).(*ast.VariableDeclaratorNode); ok {
				pre.lets[d.Name] = true
			}
		})),
		expr.Patch(pre),
		expr.Patch(rw),
	}
	if sc.allowsAggs() {
		for _, name := range aggregateNames {
			// Placeholders: declaring the names makes the parser read
			// count() as a call, which preVisitor replaces before checking.
			opts = append(opts, expr.Function(name, func(...any) (any, error) { return nil, nil }))
		}
	}
	if wantBool {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	if pre.err != nil {
		c.exprError(n, off, src, field, pre.err.from, pre.err.msg)
		return nil
	}
	if err != nil {
		from, msg := 0, err.Error()
		if fe, ok := err.(*exprfile.Error); ok {
			from, msg = fe.From, fe.Message
		}
		if name := aggregateCallAt(src, from); name != "" && !sc.allowsAggs() {
			// count() and sum() are expr-lang builtins too (over arrays):
			// their errors alone do not say what went wrong.
			msg += fmt.Sprintf("; %s() is an aggregate: aggregates work only in threshold conditions and in the summary and fields of threshold rules", name)
		}
		c.exprError(n, off, src, field, from, msg)
		return nil
	}
	x.prog = prog
	x.fast = compileFast(prog.Node())
	x.usesAll = pre.matchedRefs > pre.matchedNamed
	return x
}

// exprError reports an error at rune offset from of src, the expression
// that starts at byte offset off of node n's value (a template part, or the
// whole value). The position is the fault's place in the file, whatever the
// scalar's style; Source is the expression's text on that line of the file.
func (c *exprCompiler) exprError(n *yaml.Node, off int, src, field string, from int, msg string) {
	from = min(max(from, 0), utf8.RuneCountInString(src))
	if off < 0 || off > len(n.Value) {
		off = 0
	}
	value := []rune(n.Value)
	at := utf8.RuneCountInString(n.Value[:off]) + from
	at = min(at, len(value))
	// A fault in trailing blanks (unexpected end) is just past the text.
	end := len(value)
	for end > 0 && unicode.IsSpace(value[end-1]) {
		end--
	}
	at = min(at, end)
	pos := c.f.valuePositions(n)
	var fault filePos
	switch {
	case at < len(pos):
		fault = pos[at]
	case at > 0:
		fault = pos[at-1]
		fault.col++
	default:
		fault = filePos{max(n.Line, 1), max(n.Column, 1)}
	}
	// Source: the runes of the value around the fault written on its line.
	onLine := func(i int) bool { return value[i] != '\n' && pos[i].line == fault.line }
	lo, hi := at, at
	for lo > 0 && onLine(lo-1) {
		lo--
	}
	for hi < len(value) && onLine(hi) {
		hi++
	}
	for lo < at && unicode.IsSpace(value[lo]) {
		lo++
	}
	for hi > at && unicode.IsSpace(value[hi-1]) {
		hi--
	}
	source := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, string(value[lo:hi]))
	e := &Error{
		File: c.f.name, Line: fault.line, Column: fault.col, Rule: c.f.ruleName, Field: field,
		Msg: msg, Source: source, Caret: at - lo,
	}
	if n.Line <= 0 {
		e.Line, e.Column = 0, 0
	}
	*c.f.errs = append(*c.f.errs, e)
}

// preVisitor runs first: it notes let-bound names and callees, replaces
// now() by the event time, and lifts aggregates out of threshold
// expressions.
type preVisitor struct {
	src     string
	c       *exprCompiler
	x       *Expr
	scope   scope
	callees map[ast.Node]bool
	lets    map[string]bool
	lifted  map[ast.Node]string // aggregate reads put in place of calls, by name
	err     *compileErr
	// matchedRefs counts uses of `matched`, matchedNamed those of the form
	// matched.<stage>; any other use needs every stage's events.
	matchedRefs, matchedNamed int
}

func (p *preVisitor) fail(n ast.Node, format string, args ...any) {
	if p.err == nil {
		p.err = &compileErr{from: n.Location().From, msg: fmt.Sprintf(format, args...)}
	}
}

// internalNames are the Env fields that vigil sets for the expressions it
// rewrites; rule authors cannot name them.
var internalNames = []string{"__now", "__aggs"}

func (p *preVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if contains(internalNames, n.Value) && !p.c.internal {
			p.fail(n, "%s is a name internal to vigil (an event field of that name is event.%s)", n.Value, n.Value)
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		p.callees[id] = true
		switch {
		case id.Value == "now":
			if len(n.Arguments) != 0 {
				p.fail(n, "now() takes no arguments")
				return
			}
			ast.Patch(node, &ast.IdentifierNode{Value: "__now"})
		case p.scope.allowsAggs() && contains(aggregateNames, id.Value):
			p.liftAggregate(node, n, id.Value)
		}
	case *ast.BuiltinNode:
		// In a threshold rule, median(amount) reads as "the median of the
		// window's amounts", but it is expr's function over one event's
		// array and would fail on every event.
		if p.scope.allowsAggs() && contains(arrayBuiltins, n.Name) && len(n.Arguments) > 0 {
			if arg, ok := n.Arguments[0].(*ast.IdentifierNode); ok && p.isEventField(arg) {
				p.fail(n, "%s(%s): %s works on an array, and %s is a field of one event; over the window's events use an aggregate (%s); for an array field write %s(event.%s)",
					n.Name, arg.Value, n.Name, arg.Value, strings.Join(aggregateNames, ", "), n.Name, arg.Value)
			}
		}
	}
}

// arrayBuiltins are expr's functions whose first argument is an array.
var arrayBuiltins = []string{
	"all", "none", "any", "one", "filter", "map", "find", "findIndex", "findLast", "findLastIndex",
	"groupBy", "sortBy", "reduce", "mean", "median", "take", "reverse", "uniq", "flatten", "sort",
}

// isEventField reports whether id, as written, names a field of the event
// (a bare name that is not reserved, a let variable or a predicate's #).
func (p *preVisitor) isEventField(id *ast.IdentifierNode) bool {
	switch id.Value {
	case "event", "key", "lists", "matched", "prev", "__now", "__aggs":
		return false
	}
	return !p.lets[id.Value] && !strings.HasPrefix(id.Value, "$") && !strings.HasPrefix(id.Value, "#")
}

// liftAggregate replaces an aggregate call by a read of its value from
// Env.Aggs and compiles its argument as a per-event expression.
func (p *preVisitor) liftAggregate(node *ast.Node, n *ast.CallNode, name string) {
	fn, _ := window.ParseFunc(name)
	var arg ast.Node
	switch {
	case name == "count" && len(n.Arguments) == 0:
	case len(n.Arguments) == 1:
		arg = n.Arguments[0]
		if name == "count" {
			fn = window.CountIf
		}
	default:
		if name == "count" {
			p.fail(n, "count takes no argument or one condition")
		} else {
			p.fail(n, "%s takes exactly one argument", name)
		}
		return
	}
	text := name + "()"
	if arg != nil {
		// The walk visits children first: an aggregate inside the
		// argument has been lifted already, to one of p.lifted.
		var nested string
		var letUse *ast.IdentifierNode
		inner := map[string]bool{} // let names declared inside the argument
		ast.Walk(&arg, visitFunc(func(m *ast.Node) {
			switch x := (*m).(type) {
			case *ast.CallNode:
				if id, ok := x.Callee.(*ast.IdentifierNode); ok && contains(aggregateNames, id.Value) && nested == "" {
					nested = id.Value
				}
			case *ast.VariableDeclaratorNode:
				inner[x.Name] = true
			case *ast.IdentifierNode:
				if p.lets[x.Value] && !p.callees[x] && letUse == nil {
					letUse = x
				}
			}
			if agg, ok := p.lifted[*m]; ok && nested == "" {
				nested = agg
			}
		}))
		if nested != "" {
			p.fail(n, "aggregates cannot be nested: %s inside %s", nested, name)
			return
		}
		if letUse != nil && !inner[letUse.Value] {
			p.fail(letUse, "%s is declared with let outside %s(): an aggregate's argument is computed for each event as it enters the window, "+
				"apart from the rest of the expression, so it cannot use let variables declared outside it", letUse.Value, name)
			return
		}
		text = name + "(" + arg.String() + ")"
	}
	if written, ok := callText(p.src, n.Location().From); ok {
		text = written // the values key is the aggregate as the author wrote it
	}
	aggs := p.c.aggs
	i := aggs.index(text)
	if i < 0 {
		var argExpr *Expr
		if arg != nil {
			// The argument parsed already; compiling its text again only
			// fails on type errors, reported at the aggregate.
			before := len(*p.c.f.errs)
			argExpr = p.c.compileArg(arg.String(), fn == window.CountIf)
			if argExpr != nil {
				argExpr.field = p.x.field + ": argument of " + text
				argExpr.line, argExpr.col = p.x.line, p.x.col
			}
			if argExpr == nil {
				msg := "invalid argument"
				if len(*p.c.f.errs) > before {
					msg = (*p.c.f.errs)[len(*p.c.f.errs)-1].Msg
					*p.c.f.errs = (*p.c.f.errs)[:before]
				}
				p.fail(n, "%s: %s", text, msg)
				return
			}
		}
		aggs.list = append(aggs.list, window.Aggregate{Func: fn, Text: text})
		aggs.args = append(aggs.args, argExpr)
		i = len(aggs.list) - 1
	}
	read := &ast.MemberNode{
		Node:     &ast.IdentifierNode{Value: "__aggs"},
		Property: &ast.IntegerNode{Value: i},
	}
	ast.Patch(node, read)
	p.lifted[read] = name
}

// compileArg compiles an aggregate's argument in the per-event scope.
func (c *exprCompiler) compileArg(src string, wantBool bool) *Expr {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: src}
	// The argument's text comes from the syntax tree, where now() reads
	// __now already; the author's own use of internal names was checked.
	inner := &exprCompiler{f: c.f, lists: c.lists, internal: true}
	return inner.compile(n, 0, src, "", scopeEvent, wantBool)
}

type visitFunc func(*ast.Node)

func (v visitFunc) Visit(n *ast.Node) { v(n) }

// rewriter runs second: bare names become event fields, and reserved names
// are checked against the scope.
type rewriter struct {
	pre *preVisitor
}

func (r *rewriter) Visit(node *ast.Node) {
	p := r.pre
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if p.callees[n] || p.lets[n.Value] || strings.HasPrefix(n.Value, "$") {
			return
		}
		switch n.Value {
		case "event", "lists", "__now", "__aggs":
		case "key":
			if !p.scope.allowsKey() {
				p.fail(n, "key is not available here: it is computed after key and rule where")
			}
		case "matched", "prev":
			if !p.scope.allowsMatched() {
				p.fail(n, "%s is only available in pattern stages and the alerts of sequence rules", n.Value)
			}
			if n.Value == "prev" {
				p.x.prev = true
			} else {
				p.matchedRefs++
			}
		default:
			ast.Patch(node, &ast.MemberNode{
				Node:     &ast.IdentifierNode{Value: "event"},
				Property: &ast.StringNode{Value: n.Value},
			})
		}
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok {
			return
		}
		prop, isName := n.Property.(*ast.StringNode)
		switch id.Value {
		case "lists":
			if !isName {
				p.fail(n, "name a list as lists.<name>")
			} else if !p.c.lists[prop.Value] {
				p.fail(n.Property, "unknown list %q", prop.Value)
			}
		case "matched":
			if !isName {
				return
			}
			p.matchedNamed++
			if p.c.stages != nil && !p.c.stages[prop.Value] {
				p.fail(n.Property, "unknown stage %q", prop.Value)
			} else if !contains(p.x.matched, prop.Value) {
				p.x.matched = append(p.x.matched, prop.Value)
			}
		}
	}
}

// callText returns the source text of the call whose name starts at rune
// offset from: the name through its closing parenthesis, skipping
// parentheses inside string literals.
func callText(src string, from int) (string, bool) {
	runes := []rune(src)
	if from < 0 || from >= len(runes) {
		return "", false
	}
	depth := 0
	var quote rune
	for i := from; i < len(runes); i++ {
		r := runes[i]
		switch {
		case quote != 0:
			if r == '\\' {
				i++
			} else if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'' || r == '`':
			quote = r
		case r == '(':
			depth++
		case r == ')':
			depth--
			if depth == 0 {
				return string(runes[from : i+1]), true
			}
		}
	}
	return "", false
}

// aggregateCallAt returns the name of the aggregate function whose call in
// src (outside string literals) spans rune offset at, if any: the
// innermost one.
func aggregateCallAt(src string, at int) string {
	runes := []rune(src)
	isIdent := func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
	type call struct {
		name       string
		start, end int // rune offsets of its name and closing parenthesis
		depth      int // parentheses open inside it
	}
	var open []*call // calls whose parenthesis is open, innermost last
	var calls []*call
	var pending *call // an aggregate name, if its parenthesis may follow
	depth := 0
	var quote rune
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case quote != 0:
			if r == '\\' {
				i++
			} else if r == quote {
				quote = 0
			}
			continue
		case unicode.IsSpace(r):
			continue
		case r == '(':
			depth++
			if pending != nil {
				pending.depth = depth
				open = append(open, pending)
			}
		case r == ')':
			if n := len(open); n > 0 && open[n-1].depth == depth {
				open[n-1].end = i
				open = open[:n-1]
			}
			depth--
		}
		pending = nil
		switch {
		case r == '"' || r == '\'' || r == '`':
			quote = r
		case isIdent(r) && (i == 0 || runes[i-1] != '.' && runes[i-1] != '$'):
			j := i
			for j < len(runes) && isIdent(runes[j]) {
				j++
			}
			if name := string(runes[i:j]); contains(aggregateNames, name) {
				pending = &call{name: name, start: i, end: len(runes)}
				calls = append(calls, pending)
			}
			i = j - 1
		}
	}
	name, best := "", -1
	for _, c := range calls {
		if c.depth > 0 && c.start <= at && at <= c.end && c.start > best {
			name, best = c.name, c.start
		}
	}
	return name
}
