package main

import (
	"strings"
	"testing"
)

const failingRules = `rules:
  - name: big-foreign
    key: card_id
    where: merchant.country != "FR" && amount > 100
    threshold: { window: 1h, condition: count() >= 1 }
`

// TestExpressionErrorsAreExplained: replay and test name each failing
// expression, where it is written, with a caret, the first failing events
// and a count of the rest.
func TestExpressionErrorsAreExplained(t *testing.T) {
	dir := t.TempDir()
	rulesPath := write(t, dir, "r.yaml", failingRules)
	var lines []string
	for i, ev := range []string{
		`"amount":200`, `"amount":"lots","merchant":{"country":"DE"}`, `"amount":200`, `"amount":200`, `"amount":200`,
	} {
		lines = append(lines, `{"id":"e`+string(rune('1'+i))+`","ts":"2026-11-20T10:0`+string(rune('0'+i))+`:00Z","card_id":"c1",`+ev+`}`)
	}
	events := write(t, dir, "e.ndjson", strings.Join(lines, "\n")+"\n")
	want := rulesPath + `:4:12: rule "big-foreign": where: 5 expression error(s), each made the condition false
    merchant.country != "FR" && amount > 100
             ^
  event e1: cannot fetch country from <nil>
  event e3: cannot fetch country from <nil>
    merchant.country != "FR" && amount > 100
                                       ^
  event e2: invalid operation: string > int
  … and 2 more
`
	_, _, errs := vigil(t, "replay", "-r", rulesPath, "-e", events)
	if !strings.Contains(errs, want) {
		t.Errorf("replay stderr:\n%s\nwant:\n%s", errs, want)
	}
	tests := write(t, dir, "r_test.yaml", "rules: [r.yaml]\ntests:\n  - name: quiet\n    events_file: e.ndjson\n    silent: [big-foreign]\n")
	code, out, _ := vigil(t, "test", tests)
	if code != 0 || !strings.Contains(out, "ok   "+tests+":3 quiet (0 alerts)\n  "+strings.ReplaceAll(strings.TrimSuffix(want, "\n"), "\n", "\n  ")) {
		t.Errorf("test output (exit %d):\n%s", code, out)
	}
}

// TestExamplesRunWithoutExpressionErrors: the stock rules raise no
// expression error on the stock events and tests.
func TestExamplesRunWithoutExpressionErrors(t *testing.T) {
	for _, events := range []string{"../../examples/events/payments.ndjson", "../../examples/events/sequences.ndjson"} {
		if _, _, errs := vigil(t, "replay", "-r", "../../examples/rules", "-e", events); strings.Contains(errs, "expression error") {
			t.Errorf("replay %s:\n%s", events, errs)
		}
	}
	if _, out, _ := vigil(t, "test", "../../examples/tests"); strings.Contains(out, "expression error") {
		t.Errorf("vigil test examples/tests:\n%s", out)
	}
}
