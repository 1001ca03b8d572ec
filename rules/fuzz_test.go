package rules_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/rules"
)

// fuzzSeedRules are valid rules files that exercise most of the language.
var fuzzSeedRules = []string{
	`defaults:
  key: card_id
  severity: high
lists:
  risky: [NG, RU, 1, true]
rules:
  - name: card-testing
    description: Tiny declined auths then a large auth on the same card
    labels: { team: payments }
    mode: shadow
    where: type == "auth"
    pattern:
      - begin: probe
        where: amount < 2 && status == "declined"
        times: 3..
        greedy: true
        until: amount > 100
      - followed_by: big
        where: |
          amount > 500 &&
          amount > matched.probe[0].amount
        within: 5m
      - not_followed_by: refund
        where: prev.amount == amount
    within: 10m
    skip: { skip_to_last: probe }
    max_partial_matches: 100
    throttle: 1h
    alert:
      summary: 'card {{ key }}: {{ len(matched.probe) }} probes then {{ matched.big[0].amount }}'
      fields:
        probe_total: sum(map(matched.probe, .amount))
`,
	`rules:
  - name: retries
    key: [card_id, merchant.id]
    pattern:
      - begin: start
      - followed_by: retry
        group:
          - begin: fail
            where: status == "declined"
          - next: ok
            where: status == "approved"
        times: 2..
      - next: done
        consecutive: true
        times: 2..4
      - followed_by_any: any
        allow_combinations: true
        times: 1..
        optional: true
      - not_next: gap
    skip: no_skip
`,
	`rules:
  - name: velocity
    key: card_id
    threshold:
      where: status == "declined" && country in lists.risky
      window: { size: 1d, type: tumbling }
      condition: count() >= 5 && sum(amount) > 100 && count(status == "x") > 1 && distinct(merchant.id) > 2
    emit: every
    alert:
      summary: "{{ avg(amount) }} {{ stddev(amount) }} {{ first(id) }} {{ last(id) }}"
      fields:
        m: max(amount) - min(amount)
lists:
  risky: { file: lists/risky.txt }
`,
}

// FuzzLoad checks that Load never panics, and returns either a ruleset or
// an ErrorList of errors that each name a file and say what is wrong,
// always the same for the same input.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/check/*.yaml")
	more, _ := filepath.Glob("../testdata/check/*/*.yaml")
	examples, _ := filepath.Glob("../examples/rules/*.yaml")
	for _, p := range append(append(seeds, more...), examples...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range fuzzSeedRules {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// List files are read from disk: keep the fuzzer off devices
		// (/dev/zero would never end) and out of /proc and /sys.
		for _, dir := range []string{"dev/", "proc/", "sys/"} {
			if strings.Contains(string(data), dir) {
				t.Skip()
			}
		}
		src := []rules.Source{{Name: "fuzz.yaml", Data: data, Dir: "testdata/fuzz-lists"}}
		rs, err := rules.Load(src)
		if err == nil {
			if rs == nil {
				t.Fatal("nil ruleset and nil error")
			}
			for _, r := range rs.Rules {
				if r.Name == "" || r.Hash == "" || r.MatchHash == "" || (r.Sequence == nil) == (r.Threshold == nil) {
					t.Fatalf("incomplete rule %+v", r)
				}
			}
			return
		}
		if rs != nil {
			t.Fatalf("a ruleset and an error: %v", err)
		}
		var list rules.ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("error %T is not a rules.ErrorList: %v", err, err)
		}
		if len(list) == 0 {
			t.Fatal("empty ErrorList")
		}
		for _, e := range list {
			if e == nil || e.File == "" || e.Msg == "" {
				t.Fatalf("error without file or message: %#v", e)
			}
			if e.Source != "" && (e.Caret < 0 || e.Caret > len([]rune(e.Source))) {
				t.Fatalf("caret %d outside %q", e.Caret, e.Source)
			}
		}
		text := err.Error()
		_, again := rules.Load(src)
		if again == nil || again.Error() != text {
			t.Fatalf("a second load of the same input gives other errors:\n%s\n---\n%v", text, again)
		}
	})
}
