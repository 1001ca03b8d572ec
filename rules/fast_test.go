package rules

import (
	"fmt"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/event"
)

// TestFastPathMatchesVM checks that every expression the fast path takes
// gives the VM's value, or fails where the VM fails, on events with
// missing fields, wrong types and nested objects.
func TestFastPathMatchesVM(t *testing.T) {
	exprs := []string{
		`amount > 5`, `amount >= 5.5`, `amount < 10`, `amount <= 10`, `amount == 7`, `amount != 7`,
		`type == "auth"`, `type != "auth"`, `merchant.country == "FR"`, `merchant.address.city`,
		`!flag`, `not flag`, `flag && amount > 1`, `flag || amount > 1`, `flag and type == "auth"`,
		`merchant.country in lists.hr`, `amount in lists.nums`, `type in ["auth", "refund"]`,
		`amount == nil`, `missing == nil`, `amount < "x"`, `key == "k1"`, `true`, `1 < 2`, `card`,
	}
	events := []map[string]any{
		{},
		{"amount": 7.0, "type": "auth", "flag": true, "card": "c1", "merchant": map[string]any{"country": "FR", "address": map[string]any{"city": "Paris"}}},
		{"amount": "seven", "type": 3.0, "flag": "yes", "merchant": "FR"},
		{"amount": 3.0, "type": "refund", "flag": false, "merchant": map[string]any{"country": "NG"}},
		{"amount": nil, "merchant": nil},
		{"amount": []any{1.0}, "merchant": map[string]any{"country": []any{"x"}}},
	}
	lists := map[string]map[any]struct{}{"hr": {"NG": {}, "RU": {}}, "nums": {7.0: {}}}
	c := &exprCompiler{f: &file{name: "t", errs: &ErrorList{}}, lists: map[string]bool{"hr": true, "nums": true}}
	fastCount := 0
	for _, src := range exprs {
		x := c.compile(scalarNode(src), 0, src, "where", scopeEvent, false)
		if x == nil {
			t.Fatalf("compile %q: %v", src, *c.f.errs)
		}
		if x.fast == nil {
			continue
		}
		fastCount++
		slow := *x
		slow.fast = nil
		for i, fields := range events {
			ev := &event.Event{Time: 1, Fields: fields}
			ef := &Evaluator{errors: map[string]uint64{}, lastErr: map[string]error{}}
			ef.env.Lists = lists
			es := &Evaluator{errors: map[string]uint64{}, lastErr: map[string]error{}}
			es.env.Lists = lists
			gotFast, errFast := ef.Value(x, ev, "k1")
			gotVM, errVM := es.Value(&slow, ev, "k1")
			if (errFast != nil) != (errVM != nil) || (errVM == nil && !reflect.DeepEqual(gotFast, gotVM)) {
				t.Errorf("%s on event %d: fast = %v, %v; VM = %v, %v", src, i, gotFast, errFast, gotVM, errVM)
			}
		}
	}
	if fastCount < len(exprs)-2 {
		t.Errorf("only %d of %d expressions took the fast path", fastCount, len(exprs))
	}
}

func scalarNode(src string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: src} }

func ExampleEvaluator_Bool() {
	rs, err := Load([]Source{{Name: "r.yaml", Data: []byte(`
rules:
  - name: big
    where: amount > 500 && merchant.country in lists.risky
    threshold: {window: 1m, condition: count() >= 1}
lists:
  risky: [NG, RU]
`)}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ev := NewEvaluator(rs)
	where := rs.Rules[0].Where
	for _, fields := range []map[string]any{
		{"amount": 900.0, "merchant": map[string]any{"country": "NG"}},
		{"amount": 900.0, "merchant": map[string]any{"country": "FR"}},
		{"merchant": map[string]any{"country": "NG"}},
	} {
		fmt.Println(ev.Bool(where, &event.Event{Fields: fields}, ""))
	}
	fmt.Println("errors:", ev.Errors()["big"])
	// Output:
	// true
	// false
	// false
	// errors: 1
}
