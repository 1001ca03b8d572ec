package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vigil runs the command line in-process, as a user would from a shell.
func vigil(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckExamplesAndABrokenFile(t *testing.T) {
	if code, out, errs := vigil(t, "check", "../../examples/rules"); code != 0 || !strings.HasPrefix(out, "ok: 2 file(s), 10 rule(s)") {
		t.Errorf("check examples: exit %d, %q %q", code, out, errs)
	}
	dir := t.TempDir()
	broken := write(t, dir, "broken.yaml", `rules:
  - name: velocity
    key: card_id
    threshold:
      window: 10m
      condition: count() >= 5 &&& sum(amount) > 100
`)
	code, _, errs := vigil(t, "check", broken)
	want := broken + `:6:33: rule "velocity": threshold.condition: unexpected token Operator("&")
    count() >= 5 &&& sum(amount) > 100
                   ^
1 error(s)
`
	if code != 1 || errs != want {
		t.Errorf("check broken: exit %d, stderr:\n%s\nwant:\n%s", code, errs, want)
	}
}

func TestReplayWritesAlertsAndDeadLetters(t *testing.T) {
	dir := t.TempDir()
	events := write(t, dir, "events.ndjson", strings.Join([]string{
		`{"id":"p1","ts":"2026-11-20T10:00:00Z","type":"auth","card_id":"c7","status":"declined","amount":1}`,
		`{"id":"p2","ts":"2026-11-20T10:00:30Z","type":"auth","card_id":"c7","status":"declined","amount":0.5}`,
		`this is not json`,
		`{"id":"p3","ts":"2026-11-20T10:01:00Z","type":"auth","card_id":"c7","status":"declined","amount":1.5}`,
		`{"id":"late","ts":"2026-11-20T09:00:00Z","type":"auth","card_id":"c7","status":"declined","amount":1}`,
		`{"id":"p4","ts":"2026-11-20T10:03:00Z","type":"auth","card_id":"c7","status":"approved","amount":900}`,
	}, "\n")+"\n")
	dead := filepath.Join(dir, "dead.ndjson")
	alerts := filepath.Join(dir, "alerts.ndjson")
	code, _, errs := vigil(t, "replay", "-r", "../../examples/rules/sequences.yaml", "-e", events, "-o", alerts, "--dead-letter", dead)
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errs)
	}
	for _, want := range []string{"events.ndjson:3: malformed:", "events.ndjson:5: late:", "2 rejected (1 late, 1 malformed)"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	data, _ := os.ReadFile(alerts)
	var a struct {
		Rule     string   `json:"rule"`
		Key      string   `json:"key"`
		EventIDs []string `json:"event_ids"`
		Matched  map[string][]map[string]any
	}
	if err := json.Unmarshal(bytes.SplitN(data, []byte("\n"), 2)[0], &a); err != nil {
		t.Fatalf("alerts file %q: %v", data, err)
	}
	if a.Rule != "card-testing" || a.Key != "c7" || strings.Join(a.EventIDs, ",") != "p1,p2,p3,p4" || len(a.Matched["probe"]) != 3 {
		t.Errorf("alert = %+v", a)
	}
	deadData, _ := os.ReadFile(dead)
	if lines := strings.Split(strings.TrimSpace(string(deadData)), "\n"); len(lines) != 2 ||
		!strings.Contains(lines[0], `"line":3`) || !strings.Contains(lines[1], `"reason":"late"`) {
		t.Errorf("dead letters:\n%s", deadData)
	}
}

func TestReplayUntilKeepsLaterWindowsOpen(t *testing.T) {
	dir := t.TempDir()
	events := write(t, dir, "e.ndjson", `{"id":"x1","ts":"2026-11-20T10:02:00Z","type":"auth","card_id":"c8","auth_ref":"r4","status":"approved","amount":20}`+"\n")
	_, out, _ := vigil(t, "replay", "-q", "-r", "../../examples/rules/sequences.yaml", "-e", events, "--until", "2026-11-21T00:00:00Z")
	if out != "" {
		t.Errorf("with --until before the deadline, the absence must not be confirmed: %s", out)
	}
	_, out, _ = vigil(t, "replay", "-q", "-r", "../../examples/rules/sequences.yaml", "-e", events)
	if !strings.Contains(out, `"rule":"auth-not-captured"`) || !strings.Contains(out, `"time":"2026-11-22T10:02:00.000Z"`) {
		t.Errorf("at the end of time the absence is confirmed at its deadline: %s", out)
	}
}

func TestRuleTestFailureExplainsItself(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "rules.yaml", `rules:
  - name: velocity
    key: card
    threshold: {window: 10m, condition: count() >= 2}
`)
	tests := write(t, dir, "rules_test.yaml", `rules: [rules.yaml]
tests:
  - name: right
    events:
      - {id: e1, ts: 2026-11-20T10:00:00Z, card: c1}
      - {id: e2, ts: 2026-11-20T10:01:00Z, card: c1}
    expect:
      - {rule: velocity, key: c1, time: 2026-11-20T10:01:00Z, events: [e1, e2]}
  - name: wrong time
    events:
      - {id: e1, ts: 2026-11-20T10:00:00Z, card: c1}
      - {id: e2, ts: 2026-11-20T10:01:00Z, card: c1}
    expect:
      - {rule: velocity, key: c1, time: 2026-11-20T10:02:00Z, events: [e1, e2]}
`)
	code, out, _ := vigil(t, "test", tests)
	for _, want := range []string{
		"FAIL " + tests + ":9 wrong time",
		"missing alert:",
		"closest alert raised differs:",
		`- want "2026-11-20T10:02:00.000Z"`,
		`+ got  "2026-11-20T10:01:00.000Z"`,
		"1 passed, 1 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("exit %d; want 1", code)
	}
	if code, out, _ := vigil(t, "test", "../../examples/tests"); code != 0 || !strings.Contains(out, "19 passed, 0 failed") {
		t.Errorf("example tests: exit %d\n%s", code, out)
	}
}

func TestUnknownCommandAndUsage(t *testing.T) {
	if code, _, errs := vigil(t, "frobnicate"); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errs)
	}
	if code, out, _ := vigil(t, "help"); code != 0 || !strings.Contains(out, "vigil replay") {
		t.Errorf("help: exit %d, %q", code, out)
	}
}
