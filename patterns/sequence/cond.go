package sequence

import "github.com/vigilhq/vigil/event"

// cexpr is a compiled edge condition: FlinkCEP composes its edge conditions
// from the user's conditions with RichAndCondition, RichNotCondition and
// BooleanConditions.trueFunction; cexpr is the same small algebra. A nil
// *cexpr is "no condition", which FlinkCEP's checkFilterCondition treats
// as true.
type cexpr struct {
	op   cop
	leaf Condition
	a, b *cexpr
}

type cop uint8

const (
	opTrue cop = iota
	opLeaf
	opNot
	opAnd
)

var trueExpr = &cexpr{op: opTrue}

func leafExpr(c Condition) *cexpr {
	if c == nil {
		return trueExpr
	}
	return &cexpr{op: opLeaf, leaf: c}
}

func notExpr(a *cexpr) *cexpr { return &cexpr{op: opNot, a: a} }

func andExpr(a, b *cexpr) *cexpr { return &cexpr{op: opAnd, a: a, b: b} }

func (e *cexpr) eval(ev *event.Event, ctx *condCtx) bool {
	for {
		if e == nil {
			return true
		}
		switch e.op {
		case opTrue:
			return true
		case opLeaf:
			return e.leaf(ev, ctx)
		case opNot:
			return !e.a.eval(ev, ctx)
		default: // opAnd: left to right, short-circuit like Java's &&
			if !e.a.eval(ev, ctx) {
				return false
			}
			e = e.b
		}
	}
}
