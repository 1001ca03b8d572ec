package rules_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/patterns/sequence"
	"github.com/vigilhq/vigil/rules"
)

// load compiles one rules file named "test.yaml".
func load(t testing.TB, src string) (*rules.Ruleset, error) {
	t.Helper()
	return rules.Load([]rules.Source{{Name: "test.yaml", Data: []byte(src)}})
}

// mustLoad compiles one rules file that must be valid.
func mustLoad(t testing.TB, src string) *rules.Ruleset {
	t.Helper()
	rs, err := load(t, src)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, src)
	}
	return rs
}

// loadErrors compiles one rules file that must be invalid and returns its
// errors.
func loadErrors(t testing.TB, src string) rules.ErrorList {
	t.Helper()
	rs, err := load(t, src)
	if err == nil {
		t.Fatalf("loaded %d rules, want an error\n%s", len(rs.Rules), src)
	}
	if rs != nil {
		t.Errorf("Load returned a ruleset with its error")
	}
	var list rules.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, want rules.ErrorList: %v", err, err)
	}
	return list
}

// threshold returns a threshold rule with the given extra settings; the
// rule's keys are indented by four spaces.
func thresholdRule(name, extra string) string {
	return "  - name: " + name + "\n" + extra +
		"    threshold:\n      window: 10m\n      condition: count() > 1\n"
}

// knownBug skips a test that shows a known bug in the package, so that the
// suite stays green until it is fixed; VIGIL_SHOW_BUGS=1 runs it anyway.
// Once the bug is fixed, delete the call.
func knownBug(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("VIGIL_SHOW_BUGS") == "" {
		t.Skip(msg)
	}
}

// ev makes an event at time ms with the given fields.
func ev(ms int64, fields map[string]any) *event.Event {
	return &event.Event{ID: "e", Time: ms, Fields: fields}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "1h30m", want: 90 * 60 * 1000},
		{in: "1d", want: 24 * 60 * 60 * 1000},
		{in: "500ms", want: 500},
		{in: "90s", want: 90 * 1000},
		{in: "1s500ms", want: 1500},
		{in: "2d3h4m5s6ms", want: ((2*24+3)*60*60+4*60+5)*1000 + 6},
		{in: " 10m ", want: 10 * 60 * 1000},
		{in: "0s", want: 0},
		{in: "1h1h", want: 2 * 60 * 60 * 1000},
		{in: "", wantErr: "empty duration"},
		{in: "   ", wantErr: "empty duration"},
		{in: "10x", wantErr: `unknown unit "x"`},
		{in: "10", wantErr: `missing unit after 10`},
		{in: "1h30", wantErr: `missing unit after 30`},
		{in: "-5m", wantErr: "want a number followed by"},
		{in: "m", wantErr: "want a number followed by"},
		{in: "1.5h", wantErr: `unknown unit "."`},
		{in: "5 m", wantErr: `unknown unit " m"`},
		{in: "1H", wantErr: `unknown unit "H"`},
		{in: "1w", wantErr: `unknown unit "w"`},
		{in: "99999999999999999999s", wantErr: "duration too large"},
	} {
		got, err := rules.ParseDuration(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseDuration(%q) = %d, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
			}
		case err != nil || got != tc.want:
			t.Errorf("ParseDuration(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseDurationOverflow(t *testing.T) {
	for _, in := range []string{"213503982335d", "106751991168d", "9223372036854775807d", "9223372036854775807ms1ms"} {
		if got, err := rules.ParseDuration(in); err == nil || !strings.Contains(err.Error(), "duration too large") {
			t.Errorf("ParseDuration(%q) = %d, %v; want a \"duration too large\" error", in, got, err)
		}
	}
	// The largest durations that fit are fine.
	if got, err := rules.ParseDuration("106751991167d"); err != nil || got != 106751991167*86400000 {
		t.Errorf("ParseDuration(106751991167d) = %d, %v", got, err)
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want string
	}{
		{0, "0s"},
		{1, "1ms"},
		{500, "500ms"},
		{1000, "1s"},
		{1500, "1s500ms"},
		{90 * 1000, "1m30s"},
		{90 * 60 * 1000, "1h30m"},
		{24 * 60 * 60 * 1000, "1d"},
		{25 * 60 * 60 * 1000, "1d1h"},
		{-60 * 1000, "-1m"},
	} {
		if got := rules.FormatDuration(tc.ms); got != tc.want {
			t.Errorf("FormatDuration(%d) = %q, want %q", tc.ms, got, tc.want)
		}
		if tc.ms > 0 {
			back, err := rules.ParseDuration(tc.want)
			if err != nil || back != tc.ms {
				t.Errorf("ParseDuration(FormatDuration(%d)) = %d, %v", tc.ms, back, err)
			}
		}
	}
}

func TestDurationSettings(t *testing.T) {
	rs := mustLoad(t, `rules:
  - name: seq
    throttle: 1h
    pattern:
      - begin: a
      - followed_by: b
        within: 90s
    within: 1h30m
  - name: thr
    threshold:
      window: { size: 1d, type: tumbling }
      condition: count() > 1
  - name: sliding
    threshold:
      window: { size: 500ms, type: sliding }
      condition: count() > 1
`)
	seq := rs.Rule("seq")
	if seq.Throttle != 3600000 || seq.Sequence.Within != 5400000 || seq.Sequence.Stages[1].Within != 90000 {
		t.Errorf("throttle %d, within %d, stage within %d", seq.Throttle, seq.Sequence.Within, seq.Sequence.Stages[1].Within)
	}
	if thr := rs.Rule("thr").Threshold; thr.Window != 86400000 || !thr.Tumbling {
		t.Errorf("tumbling window: %+v", thr)
	}
	if thr := rs.Rule("sliding").Threshold; thr.Window != 500 || thr.Tumbling {
		t.Errorf("sliding window: %+v", thr)
	}
}

func TestTimes(t *testing.T) {
	for _, tc := range []struct {
		times    string // empty: no times setting
		min, max int
	}{
		{"", 1, 1},
		{"1", 1, 1},
		{"3", 3, 3},
		{`"3"`, 3, 3},
		{"3..", 3, sequence.Unbounded},
		{"1..", 1, sequence.Unbounded},
		{"2..4", 2, 4},
		{"2..2", 2, 2},
		{"'2..4'", 2, 4},
	} {
		src := "rules:\n  - name: r\n    pattern:\n      - begin: a\n"
		if tc.times != "" {
			src += "        times: " + tc.times + "\n"
		}
		rs := mustLoad(t, src)
		st := rs.Rules[0].Sequence.Stages[0]
		if st.Min != tc.min || st.Max != tc.max {
			t.Errorf("times: %s gives Min %d Max %d, want %d %d", tc.times, st.Min, st.Max, tc.min, tc.max)
		}
	}
	for _, bad := range []string{"0", "-1", "3..1", "a", "2..x", "..3", "1.5", "{a: 1}"} {
		list := loadErrors(t, "rules:\n  - name: r\n    pattern:\n      - begin: a\n        times: "+bad+"\n")
		if len(list) != 1 || list[0].Field != "pattern.a.times" || list[0].Line != 5 {
			t.Errorf("times: %s: got %v, want one error on line 5 about pattern.a.times", bad, list)
		}
	}
}

func TestStageOptions(t *testing.T) {
	rs := mustLoad(t, `rules:
  - name: r
    pattern:
      - begin: a
        times: 2..
        greedy: true
        consecutive: true
        until: amount > 100
      - next: b
      - followed_by_any: c
        times: 2..3
        allow_combinations: true
      - not_next: d
      - followed_by: e
        optional: true
      - followed_by: g
        group:
          - begin: x
          - next: y
        times: 2..
      - not_followed_by: z
    within: 1h
    skip: { skip_to_first: a }
    max_partial_matches: 100
`)
	s := rs.Rules[0].Sequence
	want := []struct {
		name string
		kind sequence.Kind
	}{{"a", sequence.Begin}, {"b", sequence.Next}, {"c", sequence.FollowedByAny}, {"d", sequence.NotNext}, {"e", sequence.FollowedBy}, {"g", sequence.FollowedBy}, {"z", sequence.NotFollowedBy}}
	if len(s.Stages) != len(want) {
		t.Fatalf("%d stages, want %d", len(s.Stages), len(want))
	}
	for i, w := range want {
		if s.Stages[i].Name != w.name || s.Stages[i].Kind != w.kind {
			t.Errorf("stage %d = %s/%v, want %s/%v", i, s.Stages[i].Name, s.Stages[i].Kind, w.name, w.kind)
		}
	}
	a, b, c, e, g := s.Stages[0], s.Stages[1], s.Stages[2], s.Stages[4], s.Stages[5]
	if !a.Greedy || a.Inner != sequence.Strict || a.Until == nil || a.Where != nil {
		t.Errorf("stage a: %+v", a)
	}
	if b.Optional || b.Min != 1 || b.Max != 1 {
		t.Errorf("stage b: %+v", b)
	}
	if c.Inner != sequence.NonDeterministic || c.Min != 2 || c.Max != 3 || c.Optional || !e.Optional {
		t.Errorf("stage c: %+v", c)
	}
	if len(g.Group) != 2 || g.Group[0].Name != "x" || g.Group[1].Kind != sequence.Next || g.Max != sequence.Unbounded {
		t.Errorf("group g: %+v", g)
	}
	if !reflect.DeepEqual(s.StageNames, []string{"a", "b", "c", "d", "e", "x", "y", "z"}) {
		t.Errorf("StageNames = %v", s.StageNames)
	}
	if s.Within != 3600000 || s.Skip != (sequence.Skip{Kind: sequence.SkipToFirst, Stage: "a"}) || s.MaxPartialMatches != 100 {
		t.Errorf("within %d skip %+v max %d", s.Within, s.Skip, s.MaxPartialMatches)
	}
}

func TestSkip(t *testing.T) {
	for _, tc := range []struct {
		skip string
		want sequence.Skip
	}{
		{"", sequence.Skip{Kind: sequence.SkipPastLastEvent}},
		{"skip_past_last_event", sequence.Skip{Kind: sequence.SkipPastLastEvent}},
		{"no_skip", sequence.Skip{Kind: sequence.NoSkip}},
		{"skip_to_next", sequence.Skip{Kind: sequence.SkipToNext}},
		{"{skip_to_first: b}", sequence.Skip{Kind: sequence.SkipToFirst, Stage: "b"}},
		{"{skip_to_last: a}", sequence.Skip{Kind: sequence.SkipToLast, Stage: "a"}},
	} {
		src := "rules:\n  - name: r\n    pattern:\n      - begin: a\n      - next: b\n"
		if tc.skip != "" {
			src += "    skip: " + tc.skip + "\n"
		}
		if got := mustLoad(t, src).Rules[0].Sequence.Skip; got != tc.want {
			t.Errorf("skip: %s = %+v, want %+v", tc.skip, got, tc.want)
		}
	}
}

func TestInlineLists(t *testing.T) {
	rs := mustLoad(t, `lists:
  countries: [NG, RU, "KP"]
  mixed: [1, 2.5, -3, true, false, "007", 1_000, 'true']
  empty: []
rules:
`+thresholdRule("r", ""))
	want := map[string]map[any]struct{}{
		"countries": {"NG": {}, "RU": {}, "KP": {}},
		// Numbers become float64 as in decoded events; quoted values stay strings.
		"mixed": {float64(1): {}, 2.5: {}, float64(-3): {}, true: {}, false: {}, "007": {}, float64(1000): {}, "true": {}},
		"empty": {},
	}
	if !reflect.DeepEqual(rs.Lists, want) {
		t.Errorf("lists = %#v\nwant %#v", rs.Lists, want)
	}
}

func TestListFromFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "lists"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := "# blocked cards\n\nc1\n  c2  \n\n# c3 is not blocked\n123\r\nlast-no-newline"
	if err := os.WriteFile(filepath.Join(dir, "lists", "blocked.txt"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `lists:
  blocked: { file: lists/blocked.txt }
rules:
  - name: r
    where: card_id in lists.blocked
    threshold:
      window: 10m
      condition: count() > 1
`
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// LoadFiles resolves list files relative to the rules file.
	rs, err := rules.LoadFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	// File values are strings, trimmed; comments and blank lines skipped.
	want := map[any]struct{}{"c1": {}, "c2": {}, "123": {}, "last-no-newline": {}}
	if !reflect.DeepEqual(rs.Lists["blocked"], want) {
		t.Errorf("blocked = %#v, want %#v", rs.Lists["blocked"], want)
	}
	// Load resolves them against Source.Dir.
	rs, err = rules.Load([]rules.Source{{Name: "inline.yaml", Data: []byte(src), Dir: dir}})
	if err != nil || len(rs.Lists["blocked"]) != 4 {
		t.Fatalf("Load with Dir: %v", err)
	}
	e := rules.NewEvaluator(rs)
	where := rs.Rules[0].Where
	for card, in := range map[any]bool{"c1": true, "c2": true, "c3": false, "123": true, 123.0: false} {
		if got := e.Bool(where, ev(1, map[string]any{"card_id": card}), ""); got != in {
			t.Errorf("%#v in lists.blocked = %v, want %v", card, got, in)
		}
	}
}

func TestListMembership(t *testing.T) {
	rs := mustLoad(t, `lists:
  risky: [NG, RU]
  amounts: [1, 2.5]
  flags: [true]
rules:
  - name: r
    where: country in lists.risky || amount in lists.amounts || flag in lists.flags
    threshold:
      window: 10m
      condition: count() > 1
  - name: not-in
    where: not (country in lists.risky) && country not in lists.risky
    threshold:
      window: 10m
      condition: count() > 1
`)
	e := rules.NewEvaluator(rs)
	for _, tc := range []struct {
		fields map[string]any
		in     bool
	}{
		{map[string]any{"country": "NG"}, true},
		{map[string]any{"country": "RU"}, true},
		{map[string]any{"country": "ng"}, false},
		{map[string]any{"country": "FR"}, false},
		{map[string]any{"amount": 1.0}, true}, // JSON numbers are float64
		{map[string]any{"amount": 2.5}, true},
		{map[string]any{"amount": 2.0}, false},
		{map[string]any{"amount": "1"}, false},
		{map[string]any{"flag": true}, true},
		{map[string]any{"flag": false}, false},
		{map[string]any{}, false},
	} {
		if got := e.Bool(rs.Rule("r").Where, ev(1, tc.fields), ""); got != tc.in {
			t.Errorf("r.where on %v = %v, want %v", tc.fields, got, tc.in)
		}
		if _, ok := tc.fields["country"]; ok {
			if got := e.Bool(rs.Rule("not-in").Where, ev(1, tc.fields), ""); got == tc.in {
				t.Errorf("not-in.where on %v = %v, want %v", tc.fields, got, !tc.in)
			}
		}
	}
	if n := e.Errors()["r"]; n != 0 {
		t.Errorf("%d runtime errors: %v", n, e.LastError("r"))
	}
	// SetLists replaces the lists without recompiling.
	e.SetLists(map[string]map[any]struct{}{"risky": {"FR": {}}, "amounts": {}, "flags": {}})
	if !e.Bool(rs.Rule("r").Where, ev(1, map[string]any{"country": "FR"}), "") {
		t.Errorf("after SetLists, FR is not in lists.risky")
	}
}

func TestListsShared(t *testing.T) {
	// Any rule of a ruleset may use a list of any file, in any order.
	rs, err := rules.Load([]rules.Source{
		{Name: "a.yaml", Data: []byte("rules:\n  - name: a\n    where: x in lists.from_b\n    threshold:\n      window: 1m\n      condition: count() > 1\n")},
		{Name: "b.yaml", Data: []byte("lists:\n  from_b: [x]\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 1 || !reflect.DeepEqual(rs.Files, []string{"a.yaml", "b.yaml"}) {
		t.Errorf("rules %d, files %v", len(rs.Rules), rs.Files)
	}
	_, err = rules.Load([]rules.Source{
		{Name: "a.yaml", Data: []byte("lists:\n  l: [x]\n")},
		{Name: "b.yaml", Data: []byte("lists:\n  l: [y]\n")},
	})
	if err == nil || !strings.Contains(err.Error(), `b.yaml:2:3: lists: list "l" is already defined in a.yaml:2`) {
		t.Errorf("duplicate list across files: %v", err)
	}
}

func TestCompositeKey(t *testing.T) {
	rs := mustLoad(t, `rules:
`+thresholdRule("composite", "    key: [card_id, merchant.id]\n")+
		thresholdRule("single", "    key: card_id\n")+
		thresholdRule("computed", "    key: lower(email) + \"/\" + string(shop)\n")+
		thresholdRule("field-named-key", "    key: event.key\n")+
		thresholdRule("whole-stream", ""))
	e := rules.NewEvaluator(rs)
	for _, tc := range []struct {
		rule   string
		fields map[string]any
		key    string
		ok     bool
	}{
		{"composite", map[string]any{"card_id": "c1", "merchant": map[string]any{"id": "m1"}}, "c1|m1", true},
		{"composite", map[string]any{"card_id": 42.0, "merchant": map[string]any{"id": 1.5}}, "42|1.5", true},
		{"composite", map[string]any{"card_id": true, "merchant": map[string]any{"id": "m|1"}}, "true|m|1", true},
		{"composite", map[string]any{"card_id": "c1"}, "", false},
		{"composite", map[string]any{"card_id": "c1", "merchant": map[string]any{}}, "", false},
		{"composite", map[string]any{"merchant": map[string]any{"id": "m1"}}, "", false},
		{"single", map[string]any{"card_id": "c1"}, "c1", true},
		{"single", map[string]any{"card_id": 1e21}, "1000000000000000000000", true},
		{"single", map[string]any{"card_id": nil}, "", false},
		{"single", map[string]any{}, "", false},
		{"computed", map[string]any{"email": "A@X.com", "shop": 7.0}, "a@x.com/7", true},
		{"computed", map[string]any{"shop": 7.0}, "", false}, // lower(nil) fails
		{"field-named-key", map[string]any{"key": "k9"}, "k9", true},
		{"whole-stream", map[string]any{"card_id": "c1"}, "", true},
	} {
		key, ok := e.KeyOf(rs.Rule(tc.rule), ev(1, tc.fields))
		if key != tc.key || ok != tc.ok {
			t.Errorf("%s: KeyOf(%v) = %q, %v; want %q, %v", tc.rule, tc.fields, key, ok, tc.key, tc.ok)
		}
	}
	if n := len(rs.Rule("composite").Key); n != 2 {
		t.Errorf("composite key has %d parts", n)
	}
	if rs.Rule("whole-stream").Key != nil {
		t.Errorf("a rule without key has key expressions")
	}
	list := loadErrors(t, "rules:\n"+thresholdRule("r", "    key: []\n"))
	if len(list) != 1 || !strings.Contains(list[0].Msg, "at least one expression") {
		t.Errorf("key: [] gives %v", list)
	}
	list = loadErrors(t, "rules:\n"+thresholdRule("r", "    key: [card_id, amount >]\n"))
	if len(list) != 1 || list[0].Field != "key[1]" || list[0].Line != 3 || list[0].Column != 27 {
		t.Errorf("bad key part gives %v (want line 3, column 27, key[1])", list)
	}
}

func TestDefaults(t *testing.T) {
	src := `defaults:
  key: card_id
  severity: high
  labels: { team: payments, tier: "1" }
  mode: shadow
  throttle: 1h
rules:
` + thresholdRule("inherits", "") +
		thresholdRule("overrides", `    key: [merchant_id]
    severity: low
    labels: { team: risk }
    mode: live
    throttle: 5m
`)
	rs := mustLoad(t, src)
	in, ov := rs.Rule("inherits"), rs.Rule("overrides")
	e := rules.NewEvaluator(rs)
	event := ev(1, map[string]any{"card_id": "c1", "merchant_id": "m1"})
	if k, _ := e.KeyOf(in, event); k != "c1" || in.Severity != "high" || !in.Shadow || in.Throttle != 3600000 ||
		!reflect.DeepEqual(in.Labels, map[string]string{"team": "payments", "tier": "1"}) {
		t.Errorf("inherits: key %q severity %s shadow %v throttle %d labels %v", k, in.Severity, in.Shadow, in.Throttle, in.Labels)
	}
	// A rule's labels replace the default labels as a whole.
	if k, _ := e.KeyOf(ov, event); k != "m1" || ov.Severity != "low" || ov.Shadow || ov.Throttle != 300000 ||
		!reflect.DeepEqual(ov.Labels, map[string]string{"team": "risk"}) {
		t.Errorf("overrides: key %q severity %s shadow %v throttle %d labels %v", k, ov.Severity, ov.Shadow, ov.Throttle, ov.Labels)
	}

	// Without defaults: medium, live, no throttle, no labels, whole stream.
	plain := mustLoad(t, "rules:\n"+thresholdRule("plain", "")).Rules[0]
	if plain.Severity != rules.DefaultSeverity || plain.Shadow || plain.Throttle != 0 || plain.Labels != nil || plain.Key != nil {
		t.Errorf("plain: %+v", plain)
	}

	// Defaults are per file.
	rs, err := rules.Load([]rules.Source{
		{Name: "a.yaml", Data: []byte("defaults:\n  severity: critical\nrules:\n" + thresholdRule("a", ""))},
		{Name: "b.yaml", Data: []byte("rules:\n" + thresholdRule("b", ""))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rs.Rule("a").Severity != "critical" || rs.Rule("b").Severity != "medium" {
		t.Errorf("severities %s %s: defaults leak across files", rs.Rule("a").Severity, rs.Rule("b").Severity)
	}
	if r := rs.Rule("b"); r.File != "b.yaml" || r.Line != 2 {
		t.Errorf("rule b at %s:%d, want b.yaml:2", r.File, r.Line)
	}
	if rs.Rule("nope") != nil {
		t.Errorf("Rule(nope) is not nil")
	}
}

func TestDefaultsOnlyAllowed(t *testing.T) {
	list := loadErrors(t, "defaults:\n  where: amount > 1\n  sevrity: high\nrules:\n"+thresholdRule("r", ""))
	if len(list) != 2 || !strings.Contains(list[0].Msg, `unknown key "where"`) ||
		!strings.Contains(list[1].Msg, `did you mean "severity"?`) || list[1].Field != "defaults" {
		t.Errorf("got %v", list)
	}
}

func TestRuleFields(t *testing.T) {
	rs := mustLoad(t, `rules:
  - name: card-testing
    description: Tiny declined auths then a large auth
    key: card_id
    where: type == "auth"
    pattern:
      - begin: probe
        where: amount < 2
        times: 3..
      - followed_by: big
        where: amount > 500
    within: 10m
    alert:
      summary: 'card {{ key }}'
      fields:
        zeta: len(matched.probe)
        alpha: matched.big[0].amount
        mid: key
`)
	r := rs.Rules[0]
	if r.Description != "Tiny declined auths then a large auth" || r.Where == nil || r.Where.Source != `type == "auth"` ||
		r.Sequence == nil || r.Threshold != nil || r.Summary == nil || r.Summary.Source != "card {{ key }}" {
		t.Errorf("rule: %+v", r)
	}
	// Fields keep the file's order.
	var names []string
	for _, f := range r.Fields {
		names = append(names, f.Name)
	}
	if !reflect.DeepEqual(names, []string{"zeta", "alpha", "mid"}) {
		t.Errorf("fields in order %v", names)
	}
	if r.Hash == "" || r.MatchHash == "" || r.Hash == r.MatchHash {
		t.Errorf("hashes %q %q", r.Hash, r.MatchHash)
	}
}

func TestEmptyFiles(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "rules: []\n", "lists:\n  a: [x]\n"} {
		rs, err := load(t, src)
		if err != nil || len(rs.Rules) != 0 {
			t.Errorf("%q: %v", src, err)
		}
	}
	rs, err := rules.Load(nil)
	if err != nil || len(rs.Rules) != 0 || rs.Lists == nil {
		t.Errorf("Load(nil) = %+v, %v", rs, err)
	}
}

func TestMultipleDocuments(t *testing.T) {
	src := "rules:\n" + thresholdRule("a", "") + "---\nrules:\n" + thresholdRule("b", "")
	rs, err := load(t, src)
	if err != nil || len(rs.Rules) != 2 || rs.Rules[0].Name != "a" || rs.Rules[1].Name != "b" {
		t.Fatalf("got %v, %v; want rules a and b", rs, err)
	}
	if b := rs.Rule("b"); b.Line != 8 {
		t.Errorf("rule b at line %d, want 8", b.Line)
	}

	// Each document has its own defaults and lists; lists are shared.
	rs = mustLoad(t, "defaults:\n  severity: high\nlists:\n  l: [x]\nrules:\n"+thresholdRule("a", "")+
		"---\nrules:\n"+thresholdRule("b", "    where: y in lists.l\n")+"---\n---\n# only a comment\n")
	if rs.Rule("a").Severity != "high" || rs.Rule("b").Severity != rules.DefaultSeverity {
		t.Errorf("severities %s, %s: defaults apply to their own document only", rs.Rule("a").Severity, rs.Rule("b").Severity)
	}

	// Documents without content load like empty files.
	for _, src := range []string{"---\n", "---", "---\n...\n", "---\n---\n", "--- # nothing\n"} {
		if rs, err := load(t, src); err != nil || len(rs.Rules) != 0 {
			t.Errorf("%q: %v", src, err)
		}
	}

	// Errors in any document are reported, at their line in the file.
	list := loadErrors(t, "rules:\n"+thresholdRule("a", "")+"---\nrules:\n"+thresholdRule("a", "")+"---\nrules: [\n")
	if len(list) != 2 || list[0].Line != 8 || !strings.Contains(list[0].Msg, "already defined") ||
		list[1].Line != 13 || !strings.Contains(list[1].Msg, "invalid YAML") {
		t.Errorf("got %v", list)
	}
}

func TestDefaultsCheckedOnce(t *testing.T) {
	// Bad defaults are reported once, at the defaults, whether rules use
	// them or not.
	for _, tc := range []struct {
		defaults, field string
	}{
		{"severity: hgh", "defaults.severity"},
		{"mode: quiet", "defaults.mode"},
		{"throttle: 10", "defaults.throttle"},
		{"labels: [a]", "defaults.labels"},
		{"key: card_id +", "defaults.key"},
		{"key: x in lists.nope", "defaults.key"},
	} {
		for _, rulesPart := range []string{"", "rules:\n" + thresholdRule("one", "") + thresholdRule("two", "")} {
			list := loadErrors(t, "defaults:\n  "+tc.defaults+"\n"+rulesPart)
			if len(list) != 1 || list[0].Field != tc.field || list[0].Rule != "" || list[0].Line != 2 {
				t.Errorf("%s with %q: got %v", tc.defaults, rulesPart, list)
			}
		}
	}
	// A rule that sets what a bad default would give adds no error.
	list := loadErrors(t, "defaults:\n  severity: hgh\nrules:\n"+thresholdRule("one", "    severity: low\n")+thresholdRule("two", "    severity: nope\n"))
	if len(list) != 2 || list[0].Field != "defaults.severity" || list[1].Rule != "two" {
		t.Errorf("got %v", list)
	}
}

func TestRuleNotMapping(t *testing.T) {
	list := loadErrors(t, "rules:\n"+thresholdRule("a", "")+"  - [b]\n  - c\n")
	if len(list) != 2 || list[0].Field != "rules[1]" || list[1].Field != "rules[2]" || !strings.Contains(list[1].Msg, `got "c"`) {
		t.Errorf("got %v", list)
	}
}

func TestErrorsAcrossFilesSorted(t *testing.T) {
	_, err := rules.Load([]rules.Source{
		{Name: "b.yaml", Data: []byte("rules:\n  - name: x\n    severity: nope\n" + "    threshold:\n      window: 1m\n      condition: count() > 1\n")},
		{Name: "a.yaml", Data: []byte("rules:\n  - name: y\n    mode: nope\n    severity: nope\n" + "    threshold:\n      window: 1m\n      condition: count() > 1\n")},
	})
	var list rules.ErrorList
	if !errors.As(err, &list) || len(list) != 3 {
		t.Fatalf("got %v", err)
	}
	var at []string
	for _, e := range list {
		at = append(at, e.File+":"+e.Field)
	}
	if !reflect.DeepEqual(at, []string{"a.yaml:mode", "a.yaml:severity", "b.yaml:severity"}) {
		t.Errorf("order %v", at)
	}
	if err.Error() != list[0].Error()+"\n"+list[1].Error()+"\n"+list[2].Error() {
		t.Errorf("ErrorList.Error() is not its errors one a line:\n%s", err)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    rules.Error
		want string
	}{
		{rules.Error{File: "f.yaml", Msg: "m"}, "f.yaml: m"},
		{rules.Error{File: "f.yaml", Line: 3, Msg: "m"}, "f.yaml:3: m"},
		{rules.Error{File: "f.yaml", Line: 3, Column: 7, Rule: "r", Field: "where", Msg: "m"}, `f.yaml:3:7: rule "r": where: m`},
		{rules.Error{File: "f.yaml", Column: 7, Msg: "m"}, "f.yaml: m"},
		{rules.Error{File: "f.yaml", Line: 1, Column: 1, Msg: "m", Source: "a + b", Caret: 4}, "f.yaml:1:1: m\n    a + b\n        ^"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestExpandPaths(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.yaml", "a.yml", "c_test.yaml", "d_test.yml", "notes.txt", "sub/e.yaml"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := rules.ExpandPaths([]string{dir, filepath.Join(dir, "c_test.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "sub/e.yaml"), filepath.Join(dir, "c_test.yaml")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ExpandPaths = %v\nwant %v", got, want)
	}
	if _, err := rules.ExpandPaths([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Errorf("a missing path is not an error")
	}
	if _, err := rules.LoadFiles(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Errorf("LoadFiles of a missing file is not an error")
	}
}

// ruleHashes loads one rules file and returns its single rule's hashes.
func ruleHashes(t *testing.T, src string) (full, match string) {
	t.Helper()
	rs := mustLoad(t, src)
	if len(rs.Rules) != 1 {
		t.Fatalf("%d rules", len(rs.Rules))
	}
	return rs.Rules[0].Hash, rs.Rules[0].MatchHash
}

func TestHash(t *testing.T) {
	const base = `defaults:
  key: card_id
rules:
  - name: velocity
    description: many declines
    severity: high
    labels: { team: payments }
    where: type == "auth"
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 5
    emit: first
    throttle: 1h
    alert:
      summary: 'card {{ key }}'
      fields:
        n: count()
`
	baseFull, baseMatch := ruleHashes(t, base)
	for _, tc := range []struct {
		name        string
		old, new    string // replaced in base
		full, match bool   // whether each hash changes
	}{
		{"summary", "'card {{ key }}'", "'card {{ key }}!'", true, false},
		{"fields", "        n: count()", "        n: count() + 0", true, false},
		{"severity", "severity: high", "severity: low", true, false},
		{"labels", "team: payments", "team: risk", true, false},
		{"mode", "emit: first", "emit: first\n    mode: shadow", true, false},
		{"description", "many declines", "lots of declines", true, false},
		{"throttle", "throttle: 1h", "throttle: 2h", true, true},
		{"field adds an aggregate", "        n: count()", "        n: count()\n        total: sum(amount)", true, true},
		{"summary adds an aggregate", "'card {{ key }}'", "'card {{ key }}: {{ max(amount) }}'", true, true},
		{"comments", "    severity: high\n", "    # a comment\n    severity: high # loud\n", false, false},
		{"key order", "    description: many declines\n    severity: high\n", "    severity: high\n    description: many declines\n", false, false},
		{"flow layout", "    labels: { team: payments }\n", "    labels:\n      team: payments\n", false, false},
		{"quoting", "window: 10m", `window: "10m"`, false, false},
		{"block scalar", `    where: type == "auth"` + "\n", "    where: >-\n      type == \"auth\"\n", false, false},
		{"threshold key order", "      where: status == \"declined\"\n      window: 10m\n", "      window: 10m\n      where: status == \"declined\"\n", false, false},
		{"default key written out", "    where: type", "    key: card_id\n    where: type", false, false},
		{"where", `type == "auth"`, `type == "capture"`, true, true},
		{"threshold where", `status == "declined"`, `status != "declined"`, true, true},
		{"window", "window: 10m", "window: 20m", true, true},
		{"condition", "count() >= 5", "count() >= 6", true, true},
		{"emit", "emit: first", "emit: every", true, true},
		{"key", "    where: type", "    key: merchant_id\n    where: type", true, true},
		{"default key", "  key: card_id", "  key: account_id", true, true},
	} {
		src := strings.Replace(base, tc.old, tc.new, 1)
		if src == base {
			t.Fatalf("%s: %q not in base", tc.name, tc.old)
		}
		full, match := ruleHashes(t, src)
		if (full != baseFull) != tc.full {
			t.Errorf("%s: Hash changed = %v, want %v", tc.name, full != baseFull, tc.full)
		}
		if (match != baseMatch) != tc.match {
			t.Errorf("%s: MatchHash changed = %v, want %v", tc.name, match != baseMatch, tc.match)
		}
	}

	// The hashes do not depend on the file or the rule's place in it.
	rs, err := rules.Load([]rules.Source{
		{Name: "other.yaml", Data: []byte("# first\n\n" + strings.Replace(base, "rules:\n", "rules:\n"+thresholdRule("before", ""), 1))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := rs.Rule("velocity"); r.Hash != baseFull || r.MatchHash != baseMatch {
		t.Errorf("moving the rule changed its hashes")
	}
}

func TestSequenceMatchHash(t *testing.T) {
	const base = `rules:
  - name: seq
    key: card_id
    pattern:
      - begin: a
        where: amount < 2
        times: 3..
      - followed_by: b
        where: amount > 500
    within: 10m
    skip: skip_past_last_event
    alert:
      summary: hi
`
	baseFull, baseMatch := ruleHashes(t, base)
	for _, tc := range []struct {
		old, new string
		match    bool
	}{
		{"amount < 2", "amount < 3", true},
		{"times: 3..", "times: 4..", true},
		{"followed_by: b", "next: b", true},
		{"within: 10m", "within: 11m", true},
		{"skip: skip_past_last_event", "skip: no_skip", true},
		{"skip: skip_past_last_event", "skip: skip_past_last_event\n    max_partial_matches: 10", true},
		{"summary: hi", "summary: hello", false},
	} {
		full, match := ruleHashes(t, strings.Replace(base, tc.old, tc.new, 1))
		if full == baseFull {
			t.Errorf("%q → %q: Hash unchanged", tc.old, tc.new)
		}
		if (match != baseMatch) != tc.match {
			t.Errorf("%q → %q: MatchHash changed = %v, want %v", tc.old, tc.new, match != baseMatch, tc.match)
		}
	}
}

func TestHashUnencodableValues(t *testing.T) {
	for _, extra := range []string{"    labels: {1: a}\n", "    description: .nan\n", "    labels: {x: .inf}\n"} {
		a, _ := ruleHashes(t, "rules:\n"+thresholdRule("r", extra+"    where: amount > 1\n"))
		b, _ := ruleHashes(t, "rules:\n"+thresholdRule("r", extra+"    where: amount > 2\n"))
		if a == b {
			t.Errorf("%q: Hash does not change with where (%s)", extra, a)
		}
		if again, _ := ruleHashes(t, "rules:\n"+thresholdRule("r", extra+"    where: amount > 1\n")); again != a {
			t.Errorf("%q: Hash differs between loads", extra)
		}
	}
	// Values JSON cannot tell apart, the canonical encoding does.
	for _, pair := range [][2]string{
		{"    labels: {1: a}\n", "    labels: {\"1\": a}\n"},
		{"    description: .nan\n", "    description: NaN\n"},
		{"    description: .inf\n", "    description: -.inf\n"},
	} {
		a, _ := ruleHashes(t, "rules:\n"+thresholdRule("r", pair[0]))
		b, _ := ruleHashes(t, "rules:\n"+thresholdRule("r", pair[1]))
		if a == b {
			t.Errorf("%q and %q hash alike", pair[0], pair[1])
		}
	}
}

func TestNoPartialRuleset(t *testing.T) {
	// One bad rule among good ones: no ruleset at all.
	src := "rules:\n" + thresholdRule("good", "") + thresholdRule("bad", "    severity: nope\n") + thresholdRule("also-good", "")
	list := loadErrors(t, src)
	if len(list) != 1 || list[0].Rule != "bad" {
		t.Errorf("got %v", list)
	}
	// One bad file among good ones.
	_, err := rules.Load([]rules.Source{
		{Name: "good.yaml", Data: []byte("rules:\n" + thresholdRule("good", ""))},
		{Name: "bad.yaml", Data: []byte("rules: [\n")},
	})
	if err == nil {
		t.Errorf("a broken file among good ones loads")
	}
}

func TestNumbersInLists(t *testing.T) {
	rs, err := load(t, "lists:\n  hex: [0x1F]\n  oct: [0o17]\n  big: [1e3]\nrules:\n"+thresholdRule("r", ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rs.Lists["oct"][float64(15)]; !ok {
		t.Errorf("oct list = %v", rs.Lists["oct"])
	}
	if _, ok := rs.Lists["hex"][float64(31)]; !ok {
		t.Errorf("hex list = %v", rs.Lists["hex"])
	}
	if _, ok := rs.Lists["big"][float64(1000)]; !ok {
		t.Errorf("big list = %v", rs.Lists["big"])
	}
}

// aliasBomb is a small rules file whose pattern doubles in size at each of
// n levels of YAML aliases.
func aliasBomb(n int) string {
	var b strings.Builder
	b.WriteString("rules:\n  - name: r\n    pattern:\n      - begin: s\n")
	b.WriteString("      - next: l0\n        group: &l0\n          - begin: x0\n            where: amount > 1\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "      - next: l%d\n        group: &l%d\n          - begin: a%d\n            group: *l%d\n          - next: b%d\n            group: *l%d\n",
			i, i, i, i-1, i, i-1)
	}
	return b.String()
}

func TestAliasExpansionBounded(t *testing.T) {
	src := aliasBomb(24)
	done := make(chan error, 1)
	go func() {
		_, err := rules.Load([]rules.Source{{Name: "bomb.yaml", Data: []byte(src)}})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "expand to more than") {
			t.Errorf("got %v, want an error about the aliases", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("Load of a %d-byte file did not end within 3s", len(src))
	}
	// Below the bound, the stages repeated by the aliases are duplicates,
	// found while collecting stage names.
	list := loadErrors(t, aliasBomb(2))
	if len(list) == 0 || !strings.Contains(list[0].Msg, `duplicate stage name "x0" (repeated through the alias *l0)`) {
		t.Errorf("got %v", list)
	}
	// An alias inside the node it names is an error, not endless recursion.
	list = loadErrors(t, "rules:\n  - name: r\n    pattern: &p\n      - begin: a\n        group: *p\n")
	if len(list) != 1 || !strings.Contains(list[0].Msg, "refers to a node that holds it") || list[0].Line != 5 {
		t.Errorf("got %v", list)
	}
}

func TestAliases(t *testing.T) {
	// Anchors and aliases may share settings between rules.
	rs := mustLoad(t, `rules:
  - name: a
    where: &auth type == "auth"
    labels: &labels { team: payments }
    threshold: &velocity
      window: 10m
      condition: count() > 5
  - name: b
    where: *auth
    labels: *labels
    threshold: *velocity
`)
	a, b := rs.Rule("a"), rs.Rule("b")
	if b.Where == nil || b.Where.Source != a.Where.Source || b.Labels["team"] != "payments" || b.Threshold.Window != 600000 {
		t.Errorf("aliases not followed: %+v", b)
	}
	if a.MatchHash != b.MatchHash {
		t.Errorf("an alias changes the match hash")
	}

	// Groups, stages, keys and list values may be shared too.
	rs = mustLoad(t, `lists:
  risky: [&ng NG, RU]
  more: [*ng, KP]
rules:
  - name: a
    key: [&card card_id]
    pattern:
      - begin: s
      - followed_by: retry
        group: &retry
          - begin: fail
            where: status == "declined"
          - &ok
            next: ok
            where: status == "approved"
  - name: b
    key: [*card, merchant]
    pattern:
      - begin: s
      - followed_by: retry
        group: *retry
  - name: c
    pattern:
      - begin: x
      - *ok
`)
	if got := rs.Rule("b").Sequence.StageNames; !reflect.DeepEqual(got, []string{"s", "fail", "ok"}) {
		t.Errorf("stage names of b: %v", got)
	}
	if got := rs.Rule("c").Sequence.StageNames; !reflect.DeepEqual(got, []string{"x", "ok"}) {
		t.Errorf("stage names of c: %v", got)
	}
	if len(rs.Rule("b").Key) != 2 || len(rs.Lists["more"]) != 2 {
		t.Errorf("key %v, lists %v", rs.Rule("b").Key, rs.Lists)
	}

	// A stage repeated through an alias is a duplicate, reported where the
	// alias is used; an error inside the shared part is reported once.
	list := loadErrors(t, `rules:
  - name: r
    pattern:
      - begin: s
      - followed_by: g
        group: &g
          - begin: a
          - next: b
            where: lists.nope
      - followed_by: h
        group: *g
`)
	var msgs []string
	for _, e := range list {
		msgs = append(msgs, fmt.Sprintf("%d:%d %s", e.Line, e.Column, e.Msg))
	}
	want := []string{
		`9:26 unknown list "nope"`,
		`11:16 duplicate stage name "a" (repeated through the alias *g)`,
		`11:16 duplicate stage name "b" (repeated through the alias *g)`,
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("got %q, want %q", msgs, want)
	}
}

// Reordering the aggregates only alert fields use keeps the matching
// definition: the windows keep the same set, whatever their order.
func TestMatchHashIgnoresAggregateOrder(t *testing.T) {
	const src = `rules:
  - name: r
    key: card_id
    threshold:
      window: 10m
      condition: count() >= 5
    alert:
      fields:
        FIRST
        SECOND
`
	a := strings.NewReplacer("FIRST", "total: sum(amount)", "SECOND", "top: max(amount)").Replace(src)
	b := strings.NewReplacer("FIRST", "top: max(amount)", "SECOND", "total: sum(amount)").Replace(src)
	ra, rb := mustLoad(t, a).Rules[0], mustLoad(t, b).Rules[0]
	if ra.Threshold.Aggregates[1] == rb.Threshold.Aggregates[1] {
		t.Fatalf("aggregates in the same order: %v", ra.Threshold.Aggregates)
	}
	if matchA, matchB := ra.MatchHash, rb.MatchHash; matchA != matchB {
		t.Errorf("MatchHash changed by reordering aggregates: %s vs %s", matchA, matchB)
	}
}
