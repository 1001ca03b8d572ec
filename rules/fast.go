package rules

import (
	"fmt"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

// fastFn evaluates an expression of a common shape directly on the Env,
// without the VM. It panics where the VM would fail; runFast recovers.
type fastFn func(env *Env) any

// compileFast returns a fastFn for expressions built only from event field
// paths, key, aggregate reads, literals, comparisons, !, && and ||, and
// `in` — most conditions and keys in practice — or nil for anything else,
// which then runs on the VM. It uses expr's own runtime helpers (Equal,
// Less, In…), so results and failures are the VM's.
func compileFast(n ast.Node) fastFn {
	switch n := n.(type) {
	case *ast.StringNode:
		v := any(n.Value)
		return func(*Env) any { return v }
	case *ast.IntegerNode:
		v := any(n.Value)
		return func(*Env) any { return v }
	case *ast.FloatNode:
		v := any(n.Value)
		return func(*Env) any { return v }
	case *ast.BoolNode:
		v := any(n.Value)
		return func(*Env) any { return v }
	case *ast.NilNode:
		return func(*Env) any { return nil }
	case *ast.IdentifierNode:
		if n.Value == "key" {
			return func(env *Env) any { return env.Key }
		}
	case *ast.MemberNode:
		return compileMember(n)
	case *ast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" {
			return nil
		}
		x := compileFast(n.Node)
		if x == nil {
			return nil
		}
		return func(env *Env) any { return !mustBool(x(env)) }
	case *ast.BinaryNode:
		return compileBinary(n)
	}
	return nil
}

func compileBinary(n *ast.BinaryNode) fastFn {
	if n.Operator == "in" {
		if lists := listName(n.Right); lists != "" {
			x := compileFast(n.Left)
			if x == nil {
				return nil
			}
			return func(env *Env) any {
				set := env.Lists[lists]
				_, ok := set[x(env)] // an unhashable needle panics, as in the VM
				return ok
			}
		}
	}
	l, r := compileFast(n.Left), compileFast(n.Right)
	if l == nil || r == nil {
		return nil
	}
	switch n.Operator {
	case "==":
		return func(env *Env) any { return runtime.Equal(l(env), r(env)) }
	case "!=":
		return func(env *Env) any { return !runtime.Equal(l(env), r(env)) }
	case "<":
		return func(env *Env) any { return runtime.Less(l(env), r(env)) }
	case ">":
		return func(env *Env) any { return runtime.More(l(env), r(env)) }
	case "<=":
		return func(env *Env) any { return runtime.LessOrEqual(l(env), r(env)) }
	case ">=":
		return func(env *Env) any { return runtime.MoreOrEqual(l(env), r(env)) }
	case "&&", "and":
		return func(env *Env) any { return mustBool(l(env)) && mustBool(r(env)) }
	case "||", "or":
		return func(env *Env) any { return mustBool(l(env)) || mustBool(r(env)) }
	case "in":
		return func(env *Env) any { return runtime.In(l(env), r(env)) }
	}
	return nil
}

// compileMember handles event.a.b… and __aggs[i].
func compileMember(n *ast.MemberNode) fastFn {
	if n.Optional {
		return nil
	}
	if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "__aggs" {
		i, ok := n.Property.(*ast.IntegerNode)
		if !ok {
			return nil
		}
		idx := i.Value
		return func(env *Env) any { return env.Aggs[idx] }
	}
	var path []string
	var node ast.Node = n
	for {
		m, ok := node.(*ast.MemberNode)
		if !ok {
			break
		}
		prop, ok := m.Property.(*ast.StringNode)
		if !ok || m.Optional {
			return nil
		}
		path = append([]string{prop.Value}, path...)
		node = m.Node
	}
	if id, ok := node.(*ast.IdentifierNode); !ok || id.Value != "event" {
		return nil
	}
	if len(path) == 1 {
		name := path[0]
		return func(env *Env) any { return env.Event[name] }
	}
	return func(env *Env) any {
		var v any = env.Event
		for _, name := range path {
			m, ok := v.(map[string]any)
			if !ok {
				panic(fmt.Sprintf("cannot fetch %v from %T", name, v))
			}
			v = m[name]
		}
		return v
	}
}

func listName(n ast.Node) string {
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return ""
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	prop, isName := m.Property.(*ast.StringNode)
	if !ok || id.Value != "lists" || !isName {
		return ""
	}
	return prop.Value
}

func mustBool(v any) bool {
	b, ok := v.(bool)
	if !ok {
		panic(fmt.Sprintf("invalid operation: want bool, got %T", v))
	}
	return b
}

// runFast runs a fast expression, turning a panic into an error as the
// VM does.
func runFast(f fastFn, env *Env) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return f(env), nil
}
