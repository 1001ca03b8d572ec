package ruletest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
)

// compare matches the alerts raised against the expectations and
// describes every difference: expected alerts that did not come (with the
// closest alert that did, field by field), alerts that were not expected,
// and alerts of silent rules.
func compare(c Case, got []cep.Alert, rejected []string, idField string) []string {
	checked := map[string]bool{}
	for _, x := range c.Expect {
		checked[x.Rule] = true
	}
	silent := map[string]bool{}
	for _, s := range c.Silent {
		silent[s] = true
	}
	var pool []cep.Alert
	var failures []string
	for _, a := range got {
		switch {
		case silent[a.Rule]:
			failures = append(failures, "rule "+a.Rule+" must stay silent but raised:\n"+describe(a))
		case checked[a.Rule]:
			pool = append(pool, a)
		}
	}
	used := make([]bool, len(pool))
	var missing []Expected
	for _, x := range c.Expect {
		found := false
		for i, a := range pool {
			if !used[i] && len(diff(x, a, idField)) == 0 {
				used[i], found = true, true
				break
			}
		}
		if !found {
			missing = append(missing, x)
		}
	}
	for _, x := range missing {
		msg := "missing alert:\n" + describeExpected(x)
		best, bestDiff := -1, []string(nil)
		for i, a := range pool {
			if used[i] || a.Rule != x.Rule {
				continue
			}
			if d := diff(x, a, idField); best < 0 || len(d) < len(bestDiff) {
				best, bestDiff = i, d
			}
		}
		if best >= 0 {
			used[best] = true // explained here, not again as unexpected
			msg += "\n  closest alert raised differs:\n" + strings.Join(bestDiff, "\n")
		} else {
			msg += "\n  rule " + x.Rule + " raised no other alert"
		}
		failures = append(failures, msg)
	}
	for i, a := range pool {
		if !used[i] {
			failures = append(failures, "unexpected alert:\n"+describe(a))
		}
	}
	if len(failures) > 0 && len(rejected) > 0 {
		failures = append(failures, "rejected input (may explain the above):\n    "+strings.Join(rejected, "\n    "))
	}
	return failures
}

// diff lists, as "- want / + got" lines, the fields where a differs from x.
// Matched events are named by their id field.
func diff(x Expected, a cep.Alert, idField string) []string {
	var out []string
	add := func(field string, want, got any) {
		out = append(out, fmt.Sprintf("    %s:\n      - want %s\n      + got  %s", field, show(want), show(got)))
	}
	if x.Rule != a.Rule {
		add("rule", x.Rule, a.Rule)
	}
	if x.Key != nil && *x.Key != a.Key {
		add("key", *x.Key, a.Key)
	}
	if x.Time != "" && x.time != a.Time.UnixMilli() {
		add("time", event.FormatTime(x.time), event.FormatTime(a.Time.UnixMilli()))
	}
	if x.Events != nil && !reflect.DeepEqual(x.Events, a.EventIDs) {
		add("events", x.Events, a.EventIDs)
	}
	if x.Matched != nil {
		gotIDs := map[string][]string{}
		for stage, evs := range a.Matched {
			for _, ev := range evs {
				gotIDs[stage] = append(gotIDs[stage], fmt.Sprint(ev[idField]))
			}
		}
		if !reflect.DeepEqual(x.Matched, gotIDs) {
			add("matched", x.Matched, gotIDs)
		}
	}
	for _, m := range []struct {
		name      string
		want, got map[string]any
	}{{"fields", x.Fields, a.Fields}, {"values", x.Values, a.Values}} {
		names := make([]string, 0, len(m.want))
		for k := range m.want {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			got, ok := m.got[k]
			if !ok || !sameValue(m.want[k], got) {
				if !ok {
					got = "(absent)"
				}
				add(m.name+"."+k, m.want[k], got)
			}
		}
	}
	if x.Summary != nil && *x.Summary != a.Summary {
		add("summary", *x.Summary, a.Summary)
	}
	if x.Suppressed != nil && *x.Suppressed != a.Suppressed {
		add("suppressed", *x.Suppressed, a.Suppressed)
	}
	if x.Shadow != nil && *x.Shadow != a.Shadow {
		add("shadow", *x.Shadow, a.Shadow)
	}
	return out
}

// sameValue compares a YAML-decoded expectation with a computed value as
// JSON would see them, so 3 equals 3.0.
func sameValue(want, got any) bool {
	w, err1 := json.Marshal(normalize(want))
	g, err2 := json.Marshal(got)
	if err1 != nil || err2 != nil {
		return reflect.DeepEqual(want, got)
	}
	var wv, gv any
	_ = json.Unmarshal(w, &wv)
	_ = json.Unmarshal(g, &gv)
	return reflect.DeepEqual(wv, gv)
}

func show(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []string:
		return "[" + strings.Join(x, " ") + "]"
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

func describe(a cep.Alert) string {
	s := fmt.Sprintf("    rule %s  key %q  time %s  events [%s]", a.Rule, a.Key,
		event.FormatTime(a.Time.UnixMilli()), strings.Join(a.EventIDs, " "))
	if a.Suppressed {
		s += "  (suppressed)"
	}
	return s
}

func describeExpected(x Expected) string {
	s := "    rule " + x.Rule
	if x.Key != nil {
		s += fmt.Sprintf("  key %q", *x.Key)
	}
	if x.Time != "" {
		s += "  time " + event.FormatTime(x.time)
	}
	if x.Events != nil {
		s += "  events [" + strings.Join(x.Events, " ") + "]"
	}
	return s
}
