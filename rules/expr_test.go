package rules_test

import (
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/patterns/window"
	"github.com/vigilhq/vigil/rules"
)

// position returns the 1-based line and rune column of the first
// occurrence of mark in src.
func position(t *testing.T, src, mark string) (line, col int) {
	t.Helper()
	i := strings.Index(src, mark)
	if i < 0 || strings.Count(src, mark) != 1 {
		t.Fatalf("mark %q must occur once in\n%s", mark, src)
	}
	before := strings.ReplaceAll(src[:i], "\r", "")
	line = strings.Count(before, "\n") + 1
	col = len([]rune(before[strings.LastIndex(before, "\n")+1:])) + 1
	return line, col
}

// TestExprErrorPosition checks that an expression error points at the
// fault in the file, whatever the YAML style of the expression, and that
// the caret under the quoted source line points at it too.
func TestExprErrorPosition(t *testing.T) {
	const seq = "rules:\n  - name: r\n    pattern:\n      - begin: a\n"
	const thr = "rules:\n  - name: r\n    threshold:\n      window: 10m\n"
	for _, tc := range []struct {
		name string
		src  string
		mark string // where the error must point: its only occurrence in src
	}{
		{name: "plain", src: seq + "        where: country in lists.nope\n", mark: "nope"},
		{name: "single-quoted", src: seq + "        where: 'country in lists.nope'\n", mark: "nope"},
		{name: "double-quoted", src: seq + "        where: \"country in lists.nope\"\n", mark: "nope"},
		{name: "flow mapping", src: seq + "      - { next: b, where: country in lists.nope }\n", mark: "nope"},
		{name: "literal first line", src: seq + "        where: |\n          country in lists.nope\n", mark: "nope"},
		{name: "literal third line", src: seq + "        where: |\n          amount > 1 &&\n            status == \"x\" &&\n          country in lists.nope\n", mark: "nope"},
		{name: "literal strip", src: seq + "        where: |-\n          amount > 1 &&\n          country in lists.nope\n", mark: "nope"},
		{name: "literal indented more", src: seq + "        where: |\n          amount > 1 &&\n              country in lists.nope\n", mark: "nope"},
		{name: "literal CRLF", src: strings.ReplaceAll(seq+"        where: |\n          amount > 1 &&\n          country in lists.nope\n", "\n", "\r\n"), mark: "nope"},
		{name: "plain CRLF", src: strings.ReplaceAll(seq+"        where: country in lists.nope\n", "\n", "\r\n"), mark: "nope"},
		{name: "non-ASCII before", src: seq + "        where: city == \"Zürich—Ost\" && lists.nope\n", mark: "nope"},
		{name: "folded first line", src: seq + "        where: >\n          country in lists.nope\n", mark: "nope"},
		{name: "syntax error", src: seq + "        where: amount > 1 &&& status == \"x\"\n", mark: "& status"},
		{name: "unknown stage", src: seq + "      - next: b\n        where: matched.zz[0].amount > 1\n", mark: "zz"},
		{name: "key in rule where", src: "rules:\n  - name: r\n    where: amount > 1 && key == \"x\"\n    pattern:\n      - begin: a\n", mark: "key =="},
		{name: "matched in condition", src: thr + "      condition: count() > 1 && len(matched.a) > 0\n", mark: "matched"},
		{name: "aggregate arity", src: thr + "      condition: count() > 1 && sum() > 1\n", mark: "sum"},
		{name: "aggregate argument", src: thr + "      condition: count() > 1 && avg(matched.a) > 1\n", mark: "avg"},
		{name: "template", src: seq + "    alert:\n      summary: 'card {{ key }}: {{ matched.zz }}'\n", mark: "zz"},
		{name: "template plain", src: seq + "    alert:\n      summary: card {{ key }} {{ lists.nope }}\n", mark: "nope"},
		{name: "template unclosed", src: seq + "    alert:\n      summary: 'card {{ key }} {{ amount'\n", mark: "{{ amount"},
		{name: "field", src: seq + "    alert:\n      fields:\n        x: lists.nope\n", mark: "nope"},
		{name: "until", src: "rules:\n  - name: r\n    pattern:\n      - begin: a\n        times: 1..\n        until: lists.nope\n", mark: "nope"},
		{name: "threshold where", src: thr + "      condition: count() > 1\n      where: lists.nope\n", mark: "nope"},

		{name: "folded second line", src: seq + "        where: >\n          amount > 1 &&\n          country in lists.nope\n", mark: "nope"},
		{name: "plain second line", src: seq + "        where: amount > 1 &&\n          country in lists.nope\n", mark: "nope"},
		{name: "double-quoted second line", src: seq + "        where: \"amount > 1 &&\n          country in lists.nope\"\n", mark: "nope"},
		{name: "double-quoted escapes", src: seq + "        where: \"status == \\\"x\\\" && lists.nope\"\n", mark: "nope"},
		{name: "single-quoted escapes", src: seq + "        where: 'status == ''x'' && lists.nope'\n", mark: "nope"},
		{name: "literal leading blank line", src: seq + "        where: |\n\n          amount > 1 &&\n          country in lists.nope\n", mark: "nope"},
		{name: "template literal second line", src: seq + "    alert:\n      summary: |\n        card {{ key }}\n        then {{ lists.nope }}\n", mark: "nope"},
		{name: "folded third line after blank", src: seq + "        where: >\n          amount > 1 &&\n\n          status == \"x\" &&\n          country in lists.nope\n", mark: "nope"},
		{name: "folded more indented", src: seq + "        where: >-\n          amount > 1 &&\n            status == \"x\" &&\n          country in lists.nope\n", mark: "nope"},
		{name: "folded CRLF", src: strings.ReplaceAll(seq+"        where: >\n          amount > 1 &&\n          country in lists.nope\n", "\n", "\r\n"), mark: "nope"},
		{name: "plain third line", src: seq + "        where: amount > 1 &&\n          status == \"x\" &&\n            country in lists.nope\n", mark: "nope"},
		{name: "plain with tab", src: seq + "        where: amount > 1 &&\tlists.nope\n", mark: "nope"},
		{name: "single-quoted second line", src: seq + "        where: 'status == ''x'' &&\n          country in lists.nope'\n", mark: "nope"},
		{name: "double-quoted unicode escape", src: seq + "        where: \"city == \\\"Z\\u00fcrich\\x21\\\" && lists.nope\"\n", mark: "nope"},
		{name: "double-quoted escaped line break", src: seq + "        where: \"amount > 1 && coun\\\n          try in lists.nope\"\n", mark: "nope"},
		{name: "anchored", src: seq + "        where: &w country in lists.nope\n", mark: "nope"},
		{name: "tagged quoted", src: seq + "        where: !!str 'country in lists.nope'\n", mark: "nope"},
		{name: "anchored literal on next line", src: seq + "        where: &w\n          |\n            amount > 1 &&\n            country in lists.nope\n", mark: "nope"},
		{name: "literal with comment on header", src: seq + "        where: | # a comment\n          amount > 1 &&\n          country in lists.nope\n", mark: "nope"},
		{name: "template folded second line", src: seq + "    alert:\n      summary: >\n        card {{ key }}\n        then {{ lists.nope }}\n", mark: "nope"},
		{name: "template double-quoted escapes", src: seq + "    alert:\n      summary: \"card \\\"{{ key }}\\\" {{ lists.nope }}\"\n", mark: "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := loadErrors(t, tc.src)
			if len(list) != 1 {
				t.Fatalf("want 1 error, got %d:\n%v", len(list), list)
			}
			e := list[0]
			line, col := position(t, tc.src, tc.mark)
			if e.Line != line || e.Column != col {
				t.Errorf("error at %d:%d, want %d:%d:\n%v", e.Line, e.Column, line, col, e)
			}
			if e.Source == "" || strings.ContainsAny(e.Source, "\r\n") {
				t.Fatalf("Source %q: want the one line of the expression holding the fault", e.Source)
			}
			src := []rune(e.Source)
			if e.Caret < 0 || e.Caret > len(src) || !strings.HasPrefix(string(src[e.Caret:]), strings.SplitN(tc.mark, "\n", 2)[0]) {
				t.Errorf("caret %d in %q does not point at %q", e.Caret, e.Source, tc.mark)
			}
		})
	}
}

func TestExprErrorMessages(t *testing.T) {
	const seq = "rules:\n  - name: r\n    pattern:\n      - begin: a\n"
	const thr = "rules:\n  - name: r\n    threshold:\n      window: 10m\n"
	for _, tc := range []struct {
		src, field, msg string
	}{
		{seq + "        where: now(1) > 0\n", "pattern.a.where", "now() takes no arguments"},
		{seq + "        where: lists[name]\n", "pattern.a.where", "name a list as lists.<name>"},
		{seq + "        where: lists[\"x\"]\n", "pattern.a.where", `unknown list "x"`},
		{seq + "        where: prev.amount > 1\n      - next: b\n        where: key == prev.x\n    alert:\n      summary: '{{ prev }}'\n    where: prev.x\n", "where", "prev is only available in pattern stages"},
		{"rules:\n  - name: r\n    key: matched.a\n    pattern:\n      - begin: a\n", "key", "matched is only available"},
		{thr + "      condition: count() > 1\n    alert:\n      summary: '{{ matched.a }}'\n", "alert.summary", "matched is only available"},
		{thr + "      condition: count() > 1\n    alert:\n      fields:\n        p: prev.amount\n", "alert.fields.p", "prev is only available"},
		{thr + "      condition: count(a, b) > 1\n", "threshold.condition", "count takes no argument or one condition"},
		{thr + "      condition: max(a, b) > 1\n", "threshold.condition", "max takes exactly one argument"},
		{thr + "      condition: distinct() > 1\n", "threshold.condition", "distinct takes exactly one argument"},
		{thr + "      condition: sum(matched.a) > 1\n", "threshold.condition", "sum(matched.a): matched is only available"},
		{thr + "      condition: count() > 1\n      where: count() > 1\n", "threshold.where", ""},
		{"rules:\n  - name: r\n    where: count() > 1\n    threshold:\n      window: 10m\n      condition: count() > 1\n", "where", ""},
		{seq + "        where: '\"just a string\"'\n", "pattern.a.where", "expected bool"},
	} {
		list := loadErrors(t, tc.src)
		if len(list) != 1 || list[0].Field != tc.field || !strings.Contains(list[0].Msg, tc.msg) {
			t.Errorf("want one error on %s containing %q, got:\n%v\n--- in:\n%s", tc.field, tc.msg, list, tc.src)
		}
	}
}

// TestScopes checks which names each kind of expression may use.
func TestScopes(t *testing.T) {
	rs := mustLoad(t, `lists:
  risky: [NG]
rules:
  - name: seq
    key: event.key
    where: country in lists.risky && type == "auth"
    pattern:
      - begin: a
        where: key == "k1" && event.key == "k1" && prev == nil
      - next: b
        where: amount > matched.a[0].amount && prev.amount == matched.a[0].amount && len(matched) >= 0
        times: 1..
        until: key != "k1"
    alert:
      summary: '{{ key }} {{ len(matched.b) }} {{ prev.amount }}'
  - name: thr
    key: card_id
    where: now() >= date("2020-01-01T00:00:00Z")
    threshold:
      where: key != "" && merchant.country in lists.risky
      window: 10m
      condition: count() > 1 && key != ""
    alert:
      summary: '{{ key }} {{ count() }}'
      fields:
        k: key
`)
	if rs.Rule("seq") == nil || rs.Rule("thr") == nil {
		t.Fatal("rules missing")
	}
}

func TestEvaluateScopes(t *testing.T) {
	rs := mustLoad(t, `rules:
  - name: r
    where: |
      let big = amount > 100;
      big && merchant.country == "FR" && event.key == "k" && items[1].sku == "b" && len(tags) == 2 && "x" in tags
    threshold:
      window: 10m
      condition: count() > 1
`)
	e := rules.NewEvaluator(rs)
	where := rs.Rules[0].Where
	fields := map[string]any{
		"amount":   150.0,
		"merchant": map[string]any{"country": "FR"},
		"key":      "k",
		"items":    []any{map[string]any{"sku": "a"}, map[string]any{"sku": "b"}},
		"tags":     []any{"x", "y"},
	}
	if !e.Bool(where, ev(1, fields), "other-key") {
		t.Fatalf("where is false: %v", e.LastError("r"))
	}
	fields["amount"] = 50.0
	if e.Bool(where, ev(1, fields), "") {
		t.Errorf("where is true with a small amount")
	}
	if n := e.Errors()["r"]; n != 0 {
		t.Errorf("%d errors: %v", n, e.LastError("r"))
	}
}

func TestTimeHelpers(t *testing.T) {
	rs := mustLoad(t, `rules:
  - name: r
    where: now() == date("2026-01-02T03:04:05.123Z") && now() - duration("1h") > date(ts) && now().Year() == 2026
    threshold:
      window: 10m
      condition: count() > 1
`)
	e := rules.NewEvaluator(rs)
	at := time.Date(2026, 1, 2, 3, 4, 5, 123e6, time.UTC).UnixMilli()
	fields := map[string]any{"ts": "2026-01-02T01:00:00Z"}
	if !e.Bool(rs.Rules[0].Where, ev(at, fields), "") {
		t.Errorf("time helpers false at the event time: %v", e.LastError("r"))
	}
	// now() is the event's time, never the wall clock.
	if e.Bool(rs.Rules[0].Where, ev(at+1, fields), "") {
		t.Errorf("now() is not the event time")
	}
	x := mustLoad(t, "rules:\n  - name: v\n    threshold:\n      window: 1m\n      condition: count() > 1\n    alert:\n      fields:\n        t: now()\n").Rules[0].Fields[0].Expr
	v, err := rules.NewEvaluator(rs).Value(x, ev(at, nil), "")
	if err != nil || !v.(time.Time).Equal(time.UnixMilli(at)) {
		t.Errorf("now() = %v, %v", v, err)
	}
}

func TestRuntimeErrors(t *testing.T) {
	rs := mustLoad(t, `rules:
  - name: a
    where: amount > 500
    threshold:
      window: 10m
      condition: count() > 1
  - name: b
    where: merchant.country == "FR"
    threshold:
      window: 10m
      condition: count() > 1
  - name: c
    where: amount + 1
    threshold:
      window: 10m
      condition: count() > 1
`)
	e := rules.NewEvaluator(rs)
	empty := ev(1, map[string]any{})
	for i := 0; i < 3; i++ {
		if e.Bool(rs.Rule("a").Where, empty, "") {
			t.Errorf("missing amount: true")
		}
	}
	if e.Bool(rs.Rule("b").Where, empty, "") {
		t.Errorf("missing merchant: true")
	}
	// A where whose result is not a boolean is false and counted.
	if e.Bool(rs.Rule("c").Where, ev(1, map[string]any{"amount": 1.0}), "") {
		t.Errorf("non-boolean where: true")
	}
	if got := e.Errors(); !reflect.DeepEqual(got, map[string]uint64{"a": 3, "b": 1, "c": 1}) {
		t.Errorf("Errors() = %v", got)
	}
	if err := e.LastError("b"); err == nil || !strings.Contains(err.Error(), "country") {
		t.Errorf("LastError(b) = %v", err)
	}
	if e.LastError("none") != nil {
		t.Errorf("LastError of a rule without errors is not nil")
	}
	// A nil condition accepts everything.
	if !e.Bool(nil, empty, "") {
		t.Errorf("nil condition is false")
	}
	// Successful evaluations are not counted.
	if !e.Bool(rs.Rule("a").Where, ev(1, map[string]any{"amount": 501.0}), "") || e.Errors()["a"] != 3 {
		t.Errorf("a good evaluation changed the count: %v", e.Errors())
	}
}

func TestThresholdAggregates(t *testing.T) {
	rs := mustLoad(t, `rules:
  - name: r
    key: card_id
    threshold:
      where: type == "auth"
      window: 10m
      condition: count() >= 5 && sum(amount) > 100 && count(status == "declined") > 2 && sum(amount) < 1e9
    alert:
      summary: 'card {{ key }}: {{ count() }} auths, {{ sum(amount) }} in total, avg {{ avg(amount) }}'
      fields:
        total: sum(amount)
        countries: distinct(merchant.country)
        spread: stddev(amount) + max(amount) - min(amount)
        firstlast: string(first(id)) + last(id)
`)
	th := rs.Rules[0].Threshold
	want := []window.Aggregate{
		{Func: window.Count, Text: "count()"},
		{Func: window.Sum, Text: "sum(amount)"},
		{Func: window.CountIf, Text: `count(status == "declined")`},
		{Func: window.Avg, Text: "avg(amount)"},
		{Func: window.Distinct, Text: "distinct(merchant.country)"},
		{Func: window.Stddev, Text: "stddev(amount)"},
		{Func: window.Max, Text: "max(amount)"},
		{Func: window.Min, Text: "min(amount)"},
		{Func: window.First, Text: "first(id)"},
		{Func: window.Last, Text: "last(id)"},
	}
	if !reflect.DeepEqual(th.Aggregates, want) {
		t.Fatalf("Aggregates =\n%v\nwant\n%v", th.Aggregates, want)
	}
	if len(th.Args) != len(want) || th.Args[0] != nil {
		t.Fatalf("Args: %v", th.Args)
	}
	e := rules.NewEvaluator(rs)
	event := ev(1, map[string]any{"amount": 7.5, "status": "declined", "merchant": map[string]any{"country": "FR"}, "id": "e1"})
	for i, a := range th.Args[1:] {
		if a == nil {
			t.Fatalf("aggregate %s has no argument", want[i+1].Text)
		}
	}
	// The arguments are per-event expressions.
	if v, err := e.Value(th.Args[1], event, "c1"); err != nil || v != 7.5 {
		t.Errorf("sum's argument = %v, %v", v, err)
	}
	if v, err := e.Value(th.Args[2], event, "c1"); err != nil || v != true {
		t.Errorf("count's condition = %v, %v", v, err)
	}
	if v, err := e.Value(th.Args[4], event, "c1"); err != nil || v != "FR" {
		t.Errorf("distinct's argument = %v, %v", v, err)
	}
	if th.Where == nil || !e.Bool(th.Where, ev(1, map[string]any{"type": "auth"}), "c1") {
		t.Errorf("threshold where")
	}

	// The condition reads the values the engine sets.
	values := []any{5, 150.0, 3, 30.0, 2, 1.5, 100.0, 1.0, "e1", "e9"}
	e.SetAggregates(values)
	if !e.Bool(th.Condition, event, "c1") {
		t.Errorf("condition false with %v: %v", values, e.LastError("r"))
	}
	e.SetAggregates([]any{5, 150.0, 2, 30.0, 2, 1.5, 100.0, 1.0, "e1", "e9"})
	if e.Bool(th.Condition, event, "c1") {
		t.Errorf("condition true with only 2 declines")
	}
	summary, fields := e.Render(rs.Rules[0], rules.AlertInput{Key: "c1", Last: event, Time: 1, Values: values})
	if summary != "card c1: 5 auths, 150 in total, avg 30" {
		t.Errorf("summary %q", summary)
	}
	if !reflect.DeepEqual(fields, map[string]any{"total": 150.0, "countries": 2, "spread": 100.5, "firstlast": "e1e9"}) {
		t.Errorf("fields %#v", fields)
	}
}

func TestAggregateTextAsWritten(t *testing.T) {
	// An aggregate's values key is its text as written: calls written
	// alike share one aggregate, calls written differently do not.
	rs := mustLoad(t, `rules:
  - name: r
    threshold:
      window: 1m
      condition: sum( amount ) > 1 && sum(amount) > 2 && sum(amount) < 3 && count(status == "it's (x)") > 0
    alert:
      summary: '{{ sum(amount) }}'
`)
	var texts []string
	for _, a := range rs.Rules[0].Threshold.Aggregates {
		texts = append(texts, a.Text)
	}
	if want := []string{"sum( amount )", "sum(amount)", `count(status == "it's (x)")`}; !reflect.DeepEqual(texts, want) {
		t.Errorf("aggregates %q, want %q", texts, want)
	}
}

func TestCountIfNeedsBool(t *testing.T) {
	// count(x) counts the events where x is true: x must be a condition.
	list := loadErrors(t, "rules:\n  - name: r\n    threshold:\n      window: 1m\n      condition: count(\"x\") > 1\n")
	if len(list) != 1 || !strings.Contains(list[0].Msg, `count("x")`) {
		t.Errorf("got %v", list)
	}
}

func TestAggregateLetVariable(t *testing.T) {
	// Either a clear compile error or the right value; never a rule that
	// fails at run time on every event.
	// vigil's choice: a compile error at the variable, since the argument
	// is computed per event, apart from the condition.
	const thr = "rules:\n  - name: r\n    threshold:\n      window: 1m\n"
	for _, cond := range []string{
		"let k = 2; sum(amount * k) > 10",
		"let k = 2; count() > 1 && count(status == k) > 1",
		"let k = amount; let j = 1; j > 0 && max(k) > 1",
	} {
		list := loadErrors(t, thr+"      condition: "+cond+"\n")
		if len(list) != 1 || !strings.Contains(list[0].Msg, "declared with let outside") || list[0].Column != 18+strings.Index(cond, "k)") {
			t.Errorf("%s: got %v", cond, list)
		}
	}
	// let is fine outside aggregates' arguments.
	rs := mustLoad(t, thr+"      condition: let k = 2; let s = sum(amount); s * k > 10 && count() > k\n")
	if got := rs.Rules[0].Threshold.Aggregates; len(got) != 2 {
		t.Errorf("aggregates %v", got)
	}
	e := rules.NewEvaluator(rs)
	e.SetAggregates([]any{6.0, 3})
	if !e.Bool(rs.Rules[0].Threshold.Condition, ev(1, nil), "") {
		t.Errorf("condition false: %v", e.LastError("r"))
	}
}

func TestTemplates(t *testing.T) {
	rs := mustLoad(t, `rules:
  - name: r
    key: card_id
    pattern:
      - begin: probe
        times: 1..
      - followed_by: big
    alert:
      summary: 'card {{ key }}: {{len(matched.probe)}} probes then {{ matched.big[0].amount }} ({{ amount / 4 }}, {{ 0.1 + 0.2 }}, {{ 1e21 }}) {{ missing }}|{{ missing.x }}|{{ amount + missing }}|{{ true }} {{ now() }} {{ duration("90m") }} {{ "}" }}'
      fields:
        probe_total: sum(map(matched.probe, .amount))
        bad: missing.x
  - name: literal
    pattern:
      - begin: a
    alert:
      summary: no expressions at all
  - name: edges
    pattern:
      - begin: a
    alert:
      summary: '{{ 1 }}{{ 2 }} {{ 3 }}'
  - name: none
    pattern:
      - begin: a
`)
	e := rules.NewEvaluator(rs)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()
	p1 := ev(at-2000, map[string]any{"amount": 1.0})
	p2 := ev(at-1000, map[string]any{"amount": 1.5})
	big := ev(at, map[string]any{"card_id": "c1", "amount": 500.0})
	in := rules.AlertInput{Key: "c1", Last: big, Time: at, Matched: map[string][]*event.Event{"probe": {p1, p2}, "big": {big}}}
	summary, fields := e.Render(rs.Rule("r"), in)
	// Numbers have no trailing zeros; a missing field renders empty, an
	// error as "?"; times in vigil's format, durations in rule syntax.
	want := `card c1: 2 probes then 500 (125, 0.30000000000000004, 1000000000000000000000) |?|?|true 2026-01-02T03:04:05.000Z 1h30m }`
	if summary != want {
		t.Errorf("summary\n got %q\nwant %q", summary, want)
	}
	// A field whose expression fails is left out.
	if !reflect.DeepEqual(fields, map[string]any{"probe_total": 2.5}) {
		t.Errorf("fields %#v", fields)
	}
	if s, _ := e.Render(rs.Rule("literal"), in); s != "no expressions at all" {
		t.Errorf("literal summary %q", s)
	}
	if s, _ := e.Render(rs.Rule("edges"), in); s != "12 3" {
		t.Errorf("edges summary %q", s)
	}
	if s, f := e.Render(rs.Rule("none"), in); s != "" || f != nil {
		t.Errorf("no alert section: %q %v", s, f)
	}
	if rs.Rule("none").Summary != nil {
		t.Errorf("a rule without summary has a template")
	}
}

// fakeContext is a partial match as the sequence matcher shows it to a
// condition.
type fakeContext struct {
	matched map[string][]*event.Event
	prev    *event.Event
}

func (c fakeContext) Matched(stage string) []*event.Event { return c.matched[stage] }
func (c fakeContext) Prev() *event.Event                  { return c.prev }

func TestStageConditions(t *testing.T) {
	rs := mustLoad(t, `rules:
  - name: r
    key: card_id
    pattern:
      - begin: probe
        where: amount < 2 && key == "c1"
        times: 1..
        until: amount > 1000
      - followed_by: retry
        group:
          - begin: fail
            where: status == "declined"
          - next: ok
            where: prev.status == "declined" && len(matched.fail) > 0
      - followed_by: big
        where: amount > 100 * len(matched.probe) && amount > matched.probe[0].amount
    max_partial_matches: 7
`)
	e := rules.NewEvaluator(rs)
	e.Key = "c1"
	p := e.Pattern(rs.Rules[0].Sequence, 99)
	if p.MaxPartialMatches != 7 || len(p.Stages) != 3 || len(p.Stages[1].Group) != 2 {
		t.Fatalf("pattern %+v", p)
	}
	if d := e.Pattern(&rules.Sequence{}, 99); d.MaxPartialMatches != 99 {
		t.Errorf("default max partial matches %d", d.MaxPartialMatches)
	}
	probe, until, ok, big := p.Stages[0].Where, p.Stages[0].Until, p.Stages[1].Group[1].Where, p.Stages[2].Where
	if p.Stages[1].Where != nil {
		t.Errorf("a group has a condition")
	}
	small := ev(1, map[string]any{"amount": 1.0})
	none := fakeContext{}
	if !probe(small, none) || until(small, none) || !until(ev(1, map[string]any{"amount": 2000.0}), none) {
		t.Errorf("probe/until")
	}
	e.Key = "c2"
	if probe(small, none) {
		t.Errorf("stage condition does not see Evaluator.Key")
	}
	declined := ev(1, map[string]any{"status": "declined"})
	approved := ev(2, map[string]any{"status": "approved"})
	if !ok(approved, fakeContext{matched: map[string][]*event.Event{"fail": {declined}}, prev: declined}) {
		t.Errorf("ok after a decline: false (%v)", e.LastError("r"))
	}
	if ok(approved, fakeContext{}) {
		t.Errorf("ok without a decline: true")
	}
	probes := fakeContext{matched: map[string][]*event.Event{"probe": {small, ev(2, map[string]any{"amount": 1.5})}}}
	if !big(ev(3, map[string]any{"amount": 250.0}), probes) || big(ev(3, map[string]any{"amount": 150.0}), probes) {
		t.Errorf("big: matched.probe not seen")
	}
	// The buffers are reused: a later call with fewer events sees only them.
	one := fakeContext{matched: map[string][]*event.Event{"probe": {small}}}
	if !big(ev(3, map[string]any{"amount": 150.0}), one) {
		t.Errorf("big with one probe: false")
	}
	if !big(ev(3, map[string]any{"amount": 150.0}), one) || big(ev(3, map[string]any{"amount": 150.0}), probes) {
		t.Errorf("results depend on earlier calls")
	}
}

// TestEvaluatorsConcurrent runs one evaluator per goroutine on one compiled
// ruleset, as the engine's workers do (run with -race).
func TestEvaluatorsConcurrent(t *testing.T) {
	rs := mustLoad(t, `lists:
  risky: [NG]
rules:
  - name: r
    key: [card_id, merchant]
    where: country in lists.risky && amount > 10
    threshold:
      window: 10m
      condition: sum(amount) > 100
    alert:
      summary: '{{ key }} {{ sum(amount) }}'
`)
	r := rs.Rules[0]
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := rules.NewEvaluator(rs)
			for i := 0; i < 200; i++ {
				event := ev(int64(i), map[string]any{"card_id": "c", "merchant": float64(w), "country": "NG", "amount": float64(i)})
				key, ok := e.KeyOf(r, event)
				if !ok || e.Bool(r.Where, event, key) != (i > 10) {
					t.Errorf("worker %d event %d", w, i)
					return
				}
				e.SetAggregates([]any{float64(i)})
				s, _ := e.Render(r, rules.AlertInput{Key: key, Last: event, Time: event.Time, Values: []any{float64(i)}})
				if want := key + " " + strconv.Itoa(i); s != want {
					t.Errorf("summary %q, want %q", s, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestNestedAggregate(t *testing.T) {
	for _, cond := range []string{"sum(sum(amount)) > 1", "max(amount + count()) > 1", "count(count() > 1) > 1"} {
		rs, err := load(t, "rules:\n  - name: r\n    threshold:\n      window: 1m\n      condition: "+cond+"\n")
		if err == nil {
			t.Errorf("%s loads, with aggregates %v", cond, rs.Rules[0].Threshold.Aggregates)
		} else if !strings.Contains(err.Error(), "nested") {
			t.Errorf("%s: %v", cond, err)
		}
	}
}

func TestInternalNamesHidden(t *testing.T) {
	for _, where := range []string{"__aggs[0] > 1", "__now != nil", "__now() != nil", "len(__aggs) > 0"} {
		if _, err := load(t, "rules:\n  - name: r\n    where: "+where+"\n    threshold:\n      window: 1m\n      condition: count() > 1\n"); err == nil {
			t.Errorf("%s loads", where)
		}
	}
	if _, err := load(t, "rules:\n  - name: r\n    threshold:\n      window: 1m\n      condition: count() > 1 && __aggs[0] > 1\n"); err == nil {
		t.Errorf("__aggs loads in a condition")
	}
	// Fields of those names are reached through event; now() inside an
	// aggregate's argument still works.
	rs := mustLoad(t, "rules:\n  - name: r\n    where: event.__now == 1\n    threshold:\n      window: 1m\n      condition: count(now() > date(ts)) > 1\n")
	e := rules.NewEvaluator(rs)
	if !e.Bool(rs.Rules[0].Where, ev(1, map[string]any{"__now": 1.0}), "") {
		t.Errorf("event.__now: %v", e.LastError("r"))
	}
	if v, err := e.Value(rs.Rules[0].Threshold.Args[0], ev(2000, map[string]any{"ts": "1970-01-01T00:00:01Z"}), ""); err != nil || v != true {
		t.Errorf("count's argument = %v, %v", v, err)
	}
}

func TestAggregateOutsideThreshold(t *testing.T) {
	const seq = "rules:\n  - name: r\n    pattern:\n      - begin: a\n"
	for _, tc := range []struct {
		src  string
		hint bool
	}{
		{seq + "        where: count() > 3\n", true},
		{seq + "        where: avg(amount) > 3\n", true},
		{seq + "        where: amount > 1 && distinct(x) > 3\n", true},
		{seq + "    alert:\n      summary: '{{ sum() }}'\n", true},
		{"rules:\n  - name: r\n    where: count(status == \"x\") > 1\n    threshold:\n      window: 1m\n      condition: count() > 1\n", true},
		// Not about an aggregate: no hint.
		{seq + "        where: amount > 1 &&& count(x, .a) > 1\n", false},
		{seq + "        where: x == \"count(\" &&& 1\n", false},
	} {
		list := loadErrors(t, tc.src)
		if len(list) != 1 || strings.Contains(list[0].Msg, "is an aggregate") != tc.hint {
			t.Errorf("want one error, with hint %v, got %v\n--- in:\n%s", tc.hint, list, tc.src)
		}
	}
	// count, sum, max… are expr-lang builtins over arrays too.
	mustLoad(t, seq+"        where: 'count(tags, # == \"x\") > 1 && sum(map(tags, 1)) > 0 && max(1, 2) > 1'\n")
}
