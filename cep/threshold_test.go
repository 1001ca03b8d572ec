package cep

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// rule renders a one-rule ruleset keyed by card.
func rule(body string) string {
	return "defaults:\n  key: card\nrules:\n  - name: r\n" + indent(body, "    ")
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestThresholdSemantics(t *testing.T) {
	sliding := func(condition string, extra ...string) string {
		return rule("threshold:\n  window: 10m\n  condition: '" + condition + "'\n" + strings.Join(extra, "\n"))
	}
	tumbling := func(condition string, extra ...string) string {
		return rule("threshold:\n  window: {size: 1h, type: tumbling}\n  condition: '" + condition + "'\n" + strings.Join(extra, "\n"))
	}
	cases := []engineCase{
		{
			name:   "count reaches the threshold",
			rules:  sliding("count() >= 3"),
			events: []string{"e1 10:00 c1", "e2 10:05 c1", "e3 10:09 c1"},
			want:   []string{"r c1 10:09:00.000 e1,e2,e3"},
		},
		{
			name:   "an event exactly one window earlier has left it",
			rules:  sliding("count() >= 3"),
			events: []string{"e1 10:00 c1", "e2 10:05 c1", "e3 10:10 c1"},
		},
		{
			name:   "one millisecond inside the window still counts",
			rules:  sliding("count() >= 3"),
			events: []string{"e1 10:00 c1", "e2 10:05 c1", "e3 10:09:59.999 c1"},
			want:   []string{"r c1 10:09:59.999 e1,e2,e3"},
		},
		{
			name:   "emit first re-arms only after a false evaluation",
			rules:  sliding("count() >= 2"),
			events: []string{"e1 10:00 c1", "e2 10:01 c1", "e3 10:02 c1", "e4 10:30 c1", "e5 10:31 c1"},
			want:   []string{"r c1 10:01:00.000 e1,e2", "r c1 10:31:00.000 e4,e5"},
		},
		{
			name:   "emit first keeps a true result while the window is empty",
			rules:  sliding("count() >= 1"),
			events: []string{"e1 10:00 c1", "e2 11:00 c1"},
			want:   []string{"r c1 10:00:00.000 e1"},
		},
		{
			name:   "emit every alerts at each true evaluation",
			rules:  sliding("count() >= 2", "emit: every"),
			events: []string{"e1 10:00 c1", "e2 10:01 c1", "e3 10:02 c1"},
			want:   []string{"r c1 10:01:00.000 e1,e2", "r c1 10:02:00.000 e1,e2,e3"},
		},
		{
			name:   "count(expr) counts events where expr holds",
			rules:  sliding(`count(status == "declined") >= 2`),
			events: []string{"e1 10:00 c1 status=declined", "e2 10:01 c1 status=approved", "e3 10:02 c1 status=declined"},
			want:   []string{"r c1 10:02:00.000 e1,e2,e3"},
		},
		{
			name: "rule where hides events; threshold where keeps them out of the window",
			rules: rule(`where: type == "auth"
threshold:
  where: status == "declined"
  window: 10m
  condition: count() >= 2`),
			events: []string{
				"e1 10:00 c1 type=auth status=declined",
				"e2 10:01 c1 type=refund status=declined",
				"e3 10:02 c1 type=auth status=approved",
				"e4 10:03 c1 type=auth status=declined",
			},
			want: []string{"r c1 10:03:00.000 e1,e4"},
		},
		{
			name:   "sum and max over the window",
			rules:  sliding("sum(amount) > 100 && max(amount) >= 60"),
			events: []string{"e1 10:00 c1 amount=50", "e2 10:01 c1 amount=60"},
			want:   []string{"r c1 10:01:00.000 e1,e2"},
		},
		{
			name:   "avg and min",
			rules:  sliding("avg(amount) < 20 && min(amount) < 5"),
			events: []string{"e1 10:00 c1 amount=30", "e2 10:01 c1 amount=20", "e3 10:02 c1 amount=5", "e4 10:03 c1 amount=1"},
			want:   []string{"r c1 10:03:00.000 e1,e2,e3,e4"},
		},
		{
			name:  "distinct counts values once and forgets evicted ones",
			rules: sliding("distinct(country) >= 3"),
			events: []string{"e1 10:00 c1 country=FR", "e2 10:02 c1 country=FR", "e3 10:04 c1 country=DE",
				"e4 10:11 c1 country=NG"},
			want: []string{"r c1 10:11:00.000 e2,e3,e4"},
		},
		{
			name:   "distinct does not count a value that left the window",
			rules:  sliding("distinct(country) >= 3"),
			events: []string{"e1 10:00 c1 country=FR", "e2 10:04 c1 country=DE", "e3 10:10 c1 country=DE", "e4 10:11 c1 country=NG"},
		},
		{
			name:   "stddev is the population standard deviation",
			rules:  sliding("stddev(amount) >= 5"),
			events: []string{"e1 10:00 c1 amount=10", "e2 10:01 c1 amount=20"},
			want:   []string{"r c1 10:01:00.000 e1,e2"},
		},
		{
			name:   "first and last",
			rules:  sliding("last(amount) > 3 * first(amount)"),
			events: []string{"e1 10:00 c1 amount=10", "e2 10:01 c1 amount=20", "e3 10:02 c1 amount=31"},
			want:   []string{"r c1 10:02:00.000 e1,e2,e3"},
		},
		{
			name:   "an event without the field counts but adds nothing to sum",
			rules:  sliding("sum(amount) > 100 && count() == 3"),
			events: []string{"e1 10:00 c1 amount=90", "e2 10:01 c1", "e3 10:02 c1 amount=20"},
			want:   []string{"r c1 10:02:00.000 e1,e2,e3"},
		},
		{
			name: "composite keys join their parts with |",
			rules: `rules:
  - name: r
    key: [card, merchant]
    threshold: {window: 10m, condition: count() >= 2}
`,
			events: []string{"e1 10:00 c1 merchant=m1", "e2 10:01 c1 merchant=m2", "e3 10:02 c1 merchant=m1"},
			want:   []string{"r c1|m1 10:02:00.000 e1,e3"},
		},
		{
			name: "a rule without key treats the stream as one key",
			rules: `rules:
  - name: r
    threshold: {window: 10m, condition: count() >= 3}
`,
			events: []string{"e1 10:00 c1", "e2 10:01 c2", "e3 10:02 c3"},
			want:   []string{"r  10:02:00.000 e1,e2,e3"},
		},
		{
			name:   "an event without the key is not matched",
			rules:  sliding("count() >= 2"),
			events: []string{"e1 10:00 -", "e2 10:01 c1", "e3 10:02 c1"},
			want:   []string{"r c1 10:02:00.000 e2,e3"},
		},
		{
			name:   "keys are independent",
			rules:  sliding("count() >= 2"),
			events: []string{"e1 10:00 c1", "e2 10:01 c2", "e3 10:02 c1", "e4 10:20 c2"},
			want:   []string{"r c1 10:02:00.000 e1,e3"},
		},
		{
			name:   "equal timestamps keep arrival order",
			rules:  sliding("count() >= 3 && first(n) == 1 && last(n) == 3"),
			events: []string{"e1 10:00 c1 n=1", "e2 10:00 c1 n=2", "e3 10:00 c1 n=3"},
			want:   []string{"r c1 10:00:00.000 e1,e2,e3"},
		},
		{
			name:   "tumbling windows close at their end, alert at end - 1ms",
			rules:  tumbling("count() >= 3"),
			events: []string{"e1 10:05 c1", "e2 10:20 c1", "e3 10:59:59.999 c1", "e4 11:00 c1"},
			want:   []string{"r c1 10:59:59.999 e1,e2,e3"},
		},
		{
			name:   "tumbling: a window the final watermark does not reach stays open",
			rules:  tumbling("count() >= 3"),
			events: []string{"e1 10:05 c1", "e2 10:20 c1", "e3 10:59:59.999 c1"},
			until:  "10:59:59.999",
		},
		{
			name:   "tumbling: the final watermark at the window's end closes it",
			rules:  tumbling("count() >= 3"),
			events: []string{"e1 10:05 c1", "e2 10:20 c1", "e3 10:59:59.999 c1"},
			until:  "11:00",
			want:   []string{"r c1 10:59:59.999 e1,e2,e3"},
		},
		{
			name:   "tumbling emit first: a true result is kept across windows",
			rules:  tumbling("count() >= 1"),
			events: []string{"e1 10:10 c1", "e2 11:10 c1", "e3 13:10 c1"},
			want:   []string{"r c1 10:59:59.999 e1"},
		},
		{
			name:   "tumbling emit first re-arms after a false window",
			rules:  tumbling("count() >= 2"),
			events: []string{"e1 10:10 c1", "e2 10:20 c1", "e3 11:10 c1", "e4 12:10 c1", "e5 12:20 c1"},
			want:   []string{"r c1 10:59:59.999 e1,e2", "r c1 12:59:59.999 e4,e5"},
		},
		{
			name:   "tumbling emit every",
			rules:  tumbling("count() >= 1", "emit: every"),
			events: []string{"e1 10:10 c1", "e2 11:10 c1", "e3 11:20 c2"},
			want:   []string{"r c1 10:59:59.999 e1", "r c1 11:59:59.999 e2", "r c2 11:59:59.999 e3"},
		},
		{
			name:    "a late event is rejected and never counted",
			rules:   sliding("count() >= 2"),
			events:  []string{"e1 10:05 c1", "e2 10:00 c1", "e3 10:06 c1"},
			want:    []string{"r c1 10:06:00.000 e1,e3"},
			rejects: map[string]string{"e2": "late"},
		},
		{
			name:    "out-of-orderness reorders events within the allowed delay",
			rules:   sliding("count() >= 3"),
			ooo:     5 * time.Minute,
			events:  []string{"e1 10:03 c1", "e2 10:01 c1", "e3 10:02 c1", "e4 09:57 c1"},
			want:    []string{"r c1 10:03:00.000 e2,e3,e1"},
			rejects: map[string]string{"e4": "late"},
		},
		{
			name:  "throttle suppresses, keeps, and does not restart on suppressed alerts",
			rules: rule("threshold: {window: 1m, condition: count() >= 1}\nemit: every\nthrottle: 10m"),
			events: []string{"e1 10:00 c1", "e2 10:05 c1", "e3 10:09 c1", "e4 10:10 c1", "e5 10:15 c1",
				"e6 10:21 c1", "x1 10:22 c2"},
			want: []string{"r c1 10:00:00.000 e1", "r c1 10:05:00.000 e2 suppressed", "r c1 10:09:00.000 e3 suppressed",
				"r c1 10:10:00.000 e4", "r c1 10:15:00.000 e5 suppressed", "r c1 10:21:00.000 e6", "r c2 10:22:00.000 x1"},
		},
		{
			name:   "shadow rules alert marked shadow",
			rules:  rule("mode: shadow\nthreshold: {window: 10m, condition: count() >= 1}"),
			events: []string{"e1 10:00 c1"},
			want:   []string{"r c1 10:00:00.000 e1 shadow"},
		},
		{
			name: "rules run in file order on each event",
			rules: `defaults: {key: card}
rules:
  - name: b
    threshold: {window: 10m, condition: count() >= 1}
  - name: a
    threshold: {window: 10m, condition: count() >= 1}
`,
			events: []string{"e1 10:00 c1"},
			want:   []string{"b c1 10:00:00.000 e1", "a c1 10:00:00.000 e1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.check)
	}
}

func TestThresholdValuesFieldsSummary(t *testing.T) {
	rs := mustLoad(t, rule(`threshold:
  where: status == "declined"
  window: 10m
  condition: count() >= 3 && sum(amount) > 50
alert:
  summary: '{{ key }}: {{ count() }} declines, {{ sum(amount) }} in total, avg {{ avg(amount) }}'
  fields:
    biggest: max(amount)
    smallest: min(amount)
    countries: distinct(country)
    spread: stddev(amount)
    declined: count(status == "declined")
    first_country: first(country)
    last_country: last(country)`))
	res := runEvents(t, rs, []string{
		"e1 10:00 c1 status=declined amount=10 country=FR",
		"e2 10:01 c1 status=declined amount=20 country=DE",
		"e3 10:02 c1 status=declined amount=30.5 country=DE",
	}, "")
	if len(res.alerts) != 1 {
		t.Fatalf("got %d alerts; want 1", len(res.alerts))
	}
	a := res.alerts[0]
	wantValues := map[string]any{
		"count()": 3, "sum(amount)": 60.5, "avg(amount)": 60.5 / 3, "max(amount)": 30.5, "min(amount)": 10.0,
		"distinct(country)": 2, "stddev(amount)": a.Values["stddev(amount)"], `count(status == "declined")`: 3,
		"first(country)": "FR", "last(country)": "DE",
	}
	if !reflect.DeepEqual(a.Values, wantValues) {
		t.Errorf("values:\n got  %v\n want %v", a.Values, wantValues)
	}
	mean := 60.5 / 3
	var ss float64
	for _, v := range []float64{10, 20, 30.5} {
		ss += (v - mean) * (v - mean)
	}
	if sd, _ := a.Values["stddev(amount)"].(float64); fmt.Sprintf("%.9f", sd) != fmt.Sprintf("%.9f", sqrt(ss/3)) {
		t.Errorf("stddev = %v; want %v", sd, sqrt(ss/3))
	}
	wantFields := map[string]any{"biggest": 30.5, "smallest": 10.0, "countries": 2, "spread": a.Values["stddev(amount)"],
		"declined": 3, "first_country": "FR", "last_country": "DE"}
	if !reflect.DeepEqual(a.Fields, wantFields) {
		t.Errorf("fields:\n got  %v\n want %v", a.Fields, wantFields)
	}
	if want := "c1: 3 declines, 60.5 in total, avg 20.166666666666668"; a.Summary != want {
		t.Errorf("summary = %q; want %q", a.Summary, want)
	}
	if a.Severity != "medium" || a.RuleVersion != 1 || a.RuleHash == "" || a.Rule != "r" {
		t.Errorf("rule identity = %q v%d %q %q", a.Severity, a.RuleVersion, a.RuleHash, a.Rule)
	}
}

func sqrt(x float64) float64 {
	z := x / 2
	for i := 0; i < 100; i++ {
		z -= (z*z - x) / (2 * z)
	}
	return z
}

func TestAlertIDsAreDeterministic(t *testing.T) {
	events := []string{"e1 10:00 c1", "e2 10:01 c1", "e3 10:02 c2", "e4 10:03 c2"}
	src := rule("threshold: {window: 10m, condition: count() >= 2}")
	first := runEvents(t, mustLoad(t, src), events, "").alerts
	second := runEvents(t, mustLoad(t, src), events, "").alerts
	if len(first) != 2 || len(second) != 2 {
		t.Fatalf("got %d and %d alerts; want 2 each", len(first), len(second))
	}
	for i := range first {
		if first[i].ID != second[i].ID || first[i].ID == "" {
			t.Errorf("alert %d: ids %q and %q differ between identical runs", i, first[i].ID, second[i].ID)
		}
	}
	if first[0].ID == first[1].ID {
		t.Errorf("alerts of different keys share id %q", first[0].ID)
	}
	changed := runEvents(t, mustLoad(t, rule("threshold: {window: 11m, condition: count() >= 2}")), events, "").alerts
	if changed[0].ID == first[0].ID {
		t.Errorf("a changed rule kept alert id %q", first[0].ID)
	}
}

func TestRuntimeErrorsAreFalseAndCounted(t *testing.T) {
	for _, workers := range []int{1, 3} {
		rs := mustLoad(t, rule("where: 'kind != \"x\" || missing > 1'\nthreshold: {window: 10m, condition: 'count() >= 1 && amount > 5'}"))
		res := runEvents(t, rs, []string{"e1 10:00 c1 amount=x", "e2 10:01 c2", "e3 10:02 c3 amount=9",
			"e4 10:03 - amount=9", "e5 10:04 c4 kind=x"}, "", WithWorkers(workers))
		if got := alertLines(res.alerts); !sameLines(got, []string{"r c3 10:02:00.000 e3"}) {
			t.Errorf("%d workers: alerts = %q", workers, got)
		}
		// Condition errors on e1 and e2, a where error on e5: each counted
		// once, however many workers evaluated the where.
		st := res.eng.Stats().Rules["r"]
		if st.Errors != 3 || st.KeyFailures != 1 {
			t.Errorf("%d workers: errors = %d, key failures = %d; want 3 and 1", workers, st.Errors, st.KeyFailures)
		}
	}
}

func TestIdleKeysReleaseTheirState(t *testing.T) {
	rs := mustLoad(t, `defaults: {key: card}
rules:
  - name: sliding
    threshold: {window: 10m, condition: count() >= 100}
  - name: tumbling
    threshold: {window: {size: 1h, type: tumbling}, condition: count() >= 100}
  - name: stays-true
    threshold: {window: 10m, condition: count() >= 1}
  - name: every
    threshold: {window: 10m, condition: count() >= 1}
    emit: every
`)
	ctx := context.Background()
	eng, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		ev := map[string]any{"ts": at("10:00") + int64(i), "card": fmt.Sprintf("c%d", i)}
		if err := eng.Process(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if got := eng.Stats().Rules["sliding"].Keys; got != 1000 {
		t.Fatalf("keys held while windows are open = %d; want 1000", got)
	}
	if err := eng.AdvanceWatermark(ctx, time.UnixMilli(at("12:00"))); err != nil {
		t.Fatal(err)
	}
	st := eng.Stats()
	if st.Rules["sliding"].Keys != 0 || st.Rules["tumbling"].Keys != 0 || st.Rules["every"].Keys != 0 {
		t.Errorf("keys held after the windows passed: sliding %d, tumbling %d, emit every %d; want 0",
			st.Rules["sliding"].Keys, st.Rules["tumbling"].Keys, st.Rules["every"].Keys)
	}
	// A key whose last result was true keeps only that flag (emit first).
	if st.Rules["stays-true"].Keys != 1000 {
		t.Errorf("stays-true keys = %d; want 1000", st.Rules["stays-true"].Keys)
	}
}
