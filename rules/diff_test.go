package rules

import (
	"strings"
	"testing"
)

func load(t *testing.T, text string, lists map[string]map[any]struct{}) *Ruleset {
	t.Helper()
	rs, err := LoadWith([]Source{{Name: "r.yaml", Data: []byte(text)}}, LoadOptions{Lists: lists})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

const diffBase = `rules:
  - name: a
    key: card
    severity: low
    threshold:
      window: 10m
      condition: count() >= 3
  - name: b
    key: card
    pattern:
      - begin: x
        where: amount < 5
      - followed_by: y
        where: amount > 500
    within: 10m
`

func TestCompare(t *testing.T) {
	cases := []struct {
		name, edit string
		want       string // added|removed|matching|presentation|unchanged
	}{
		{"nothing", diffBase, "||||2"},
		{"severity", strings.Replace(diffBase, "severity: low", "severity: high", 1), "|||a|1"},
		{"summary adding no aggregate", strings.Replace(diffBase, "    within: 10m\n", "    within: 10m\n    alert: { summary: 'hi {{ key }}' }\n", 1), "|||b|1"},
		{"summary adding an aggregate", strings.Replace(diffBase, "      condition: count() >= 3\n", "      condition: count() >= 3\n    alert: { summary: '{{ sum(amount) }}' }\n", 1), "||a||1"},
		{"within", strings.Replace(diffBase, "within: 10m", "within: 5m", 1), "||b||1"},
		{"reordered", reordered(diffBase), "||||2"},
		{"removed and added", strings.Replace(diffBase, "name: a", "name: c", 1), "c|a|||1"},
	}
	old := load(t, diffBase, nil)
	for _, tc := range cases {
		d := Compare(old, load(t, tc.edit, nil))
		got := strings.Join([]string{strings.Join(d.Added, ","), strings.Join(d.Removed, ","), strings.Join(d.ChangedMatching, ","),
			strings.Join(d.ChangedPresentation, ","), string(rune('0' + d.Unchanged))}, "|")
		if got != tc.want {
			t.Errorf("%s: %s; want %s", tc.name, got, tc.want)
		}
	}
	if d := Compare(nil, old); strings.Join(d.Added, ",") != "a,b" || d.Empty() {
		t.Errorf("from nothing: %+v", d)
	}
}

func TestRuleText(t *testing.T) {
	rs := load(t, "# header\n"+diffBase+"# trailing comment\n", nil)
	if got := rs.Rule("a").Text; got != "name: a\nkey: card\nseverity: low\nthreshold:\n  window: 10m\n  condition: count() >= 3\n" {
		t.Errorf("text of a = %q", got)
	}
	if got := rs.Rule("b").Text; !strings.HasPrefix(got, "name: b\nkey: card\npattern:\n  - begin: x\n") || !strings.HasSuffix(got, "within: 10m\n") {
		t.Errorf("text of b = %q", got)
	}
}

func TestLoadWithExternalLists(t *testing.T) {
	uses := "rules:\n  - name: a\n    key: card\n    where: card in lists.blocked\n    threshold: { window: 1m, condition: count() >= 1 }\n"
	if _, err := LoadWith([]Source{{Name: "r.yaml", Data: []byte(uses)}}, LoadOptions{}); err == nil {
		t.Error("a rule naming an unknown list loaded")
	}
	rs := load(t, uses, map[string]map[any]struct{}{"blocked": {"c1": {}}})
	if _, ok := rs.Lists["blocked"]["c1"]; !ok {
		t.Errorf("external list missing: %v", rs.Lists)
	}
	clash := "lists:\n  blocked: [x]\n" + uses
	_, err := LoadWith([]Source{{Name: "r.yaml", Data: []byte(clash)}}, LoadOptions{Lists: map[string]map[any]struct{}{"blocked": {}}})
	if err == nil || !strings.Contains(err.Error(), "r.yaml:2:3") || !strings.Contains(err.Error(), "kept through the API") {
		t.Errorf("a file defining an API list: %v", err)
	}
}

// reordered puts the second rule of diffBase first.
func reordered(text string) string {
	body := strings.TrimPrefix(text, "rules:\n")
	i := strings.Index(body, "  - name: b")
	return "rules:\n" + body[i:] + body[:i]
}

func TestRulesFilesMustBeUTF8(t *testing.T) {
	utf16 := []byte{0xff, 0xfe, 'r', 0, 'u', 0, 'l', 0}
	_, err := Load([]Source{{Name: "u16.yaml", Data: utf16}})
	if err == nil || !strings.Contains(err.Error(), "u16.yaml:1: the file is not UTF-8") {
		t.Errorf("UTF-16 file: %v", err)
	}
	_, err = Load([]Source{{Name: "bin.yaml", Data: []byte("rules: []\n# \xc3\x28\n")}})
	if err == nil || !strings.Contains(err.Error(), "bin.yaml:2:") {
		t.Errorf("bad byte on line 2: %v", err)
	}
}
