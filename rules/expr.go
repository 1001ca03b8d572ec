package rules

import (
	"fmt"
	"strings"
	"time"

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
// event.<name>.
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
	Source  string
	rule    string
	prog    *vm.Program
	fast    fastFn   // the same expression without the VM, when its shape allows
	matched []string // stages named as matched.<stage>
	usesAll bool     // `matched` used other than as matched.<stage>
	prev    bool     // uses prev
}

// aggregateNames are the functions of SPEC §4.
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
	aggs   *aggSet
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
	x := &Expr{Source: src, rule: c.f.ruleName}
	pre := &preVisitor{c: c, x: x, scope: sc, src: src, callees: map[ast.Node]bool{}, lets: map[string]bool{}}
	rw := &rewriter{pre: pre}
	opts := []expr.Option{
		expr.Env(Env{}),
		expr.DisableBuiltin("now"),
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
		if fe, ok := err.(*exprfile.Error); ok {
			c.exprError(n, off, src, field, fe.From, fe.Message)
		} else {
			c.exprError(n, off, src, field, 0, err.Error())
		}
		return nil
	}
	x.prog = prog
	x.fast = compileFast(prog.Node())
	x.usesAll = pre.matchedRefs > pre.matchedNamed
	return x
}

// exprError reports an error at rune offset from of an expression.
func (c *exprCompiler) exprError(n *yaml.Node, off int, src, field string, from int, msg string) {
	runes := []rune(src)
	if from > len(runes) {
		from = len(runes)
	}
	if from < 0 {
		from = 0
	}
	exprLine, lineStart := 0, 0
	for i := 0; i < from; i++ {
		if runes[i] == '\n' {
			exprLine++
			lineStart = i + 1
		}
	}
	lineEnd := lineStart
	for lineEnd < len(runes) && runes[lineEnd] != '\n' {
		lineEnd++
	}
	caret := from - lineStart
	line, col := c.f.exprStart(n)
	if exprLine == 0 {
		col += len([]rune(n.Value[:off])) + caret
	} else if n.Style == yaml.LiteralStyle {
		line += exprLine
		col += caret
	}
	source := string(runes[lineStart:lineEnd])
	if off > 0 {
		// A template: show the whole template line, caret under the fault.
		source = n.Value
		caret += len([]rune(n.Value[:off]))
	}
	*c.f.errs = append(*c.f.errs, &Error{
		File: c.f.name, Line: line, Column: col, Rule: c.f.ruleName, Field: field,
		Msg: msg, Source: strings.ReplaceAll(source, "\t", " "), Caret: caret,
	})
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

func (p *preVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.VariableDeclaratorNode:
		p.lets[n.Name] = true
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
	}
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
		var nested string
		ast.Walk(&arg, visitFunc(func(m *ast.Node) {
			if call, ok := (*m).(*ast.CallNode); ok {
				if id, ok := call.Callee.(*ast.IdentifierNode); ok && contains(aggregateNames, id.Value) {
					nested = id.Value
				}
			}
		}))
		if nested != "" {
			p.fail(n, "aggregates cannot be nested: %s inside %s", nested, name)
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
	ast.Patch(node, &ast.MemberNode{
		Node:     &ast.IdentifierNode{Value: "__aggs"},
		Property: &ast.IntegerNode{Value: i},
	})
}

// compileArg compiles an aggregate's argument in the per-event scope.
func (c *exprCompiler) compileArg(src string, wantBool bool) *Expr {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: src}
	inner := &exprCompiler{f: c.f, lists: c.lists}
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
