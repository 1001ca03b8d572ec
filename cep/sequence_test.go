package cep

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The matcher's own tables (patterns/sequence) pin FlinkCEP's semantics;
// these check what the engine adds around it: keys, the rule where, event
// time and the watermark, alert times and contents, throttle, eviction.
func TestSequenceThroughTheEngine(t *testing.T) {
	seq := func(body string) string { return rule(body) }
	cases := []engineCase{
		{
			name: "a followed by b within the window",
			rules: seq(`pattern:
  - begin: a
    where: t == "a"
  - followed_by: b
    where: t == "b"
within: 10m`),
			events: []string{"a1 10:00 c1 t=a", "x1 10:01 c1 t=x", "b1 10:05 c1 t=b"},
			want:   []string{"r c1 10:05:00.000 a1,b1"},
		},
		{
			name: "a match spans strictly less than within",
			rules: seq(`pattern:
  - begin: a
    where: t == "a"
  - followed_by: b
    where: t == "b"
within: 10m`),
			events: []string{"a1 10:00 c1 t=a", "b1 10:10 c1 t=b", "a2 10:11 c1 t=a", "b2 10:20:59.999 c1 t=b"},
			want:   []string{"r c1 10:20:59.999 a2,b2"},
		},
		{
			name: "keys never meet in one match",
			rules: seq(`pattern:
  - begin: a
    where: t == "a"
  - next: b
    where: t == "b"`),
			events: []string{"a1 10:00 c1 t=a", "a2 10:01 c2 t=a", "b1 10:02 c1 t=b", "b2 10:03 c2 t=b"},
			want:   []string{"r c1 10:02:00.000 a1,b1", "r c2 10:03:00.000 a2,b2"},
		},
		{
			name: "events hidden by the rule where do not break strict contiguity",
			rules: seq(`where: kind == "pay"
pattern:
  - begin: a
    where: t == "a"
  - next: b
    where: t == "b"`),
			events: []string{"a1 10:00 c1 t=a kind=pay", "n1 10:01 c1 t=x kind=login", "b1 10:02 c1 t=b kind=pay"},
			want:   []string{"r c1 10:02:00.000 a1,b1"},
		},
		{
			name: "a non-matching event of the key does break strict contiguity",
			rules: seq(`pattern:
  - begin: a
    where: t == "a"
  - next: b
    where: t == "b"`),
			events: []string{"a1 10:00 c1 t=a", "n1 10:01 c1 t=x", "b1 10:02 c1 t=b"},
		},
		{
			name: "absence at the end alerts at the deadline",
			rules: seq(`pattern:
  - begin: auth
    where: t == "auth"
  - not_followed_by: capture
    where: t == "capture"
within: 1h`),
			events: []string{"a1 10:00 c1 t=auth", "a2 10:10 c2 t=auth", "k2 10:30 c2 t=capture"},
			want:   []string{"r c1 11:00:00.000 a1"},
		},
		{
			name: "absence: an event exactly at the deadline does not cancel it",
			rules: seq(`pattern:
  - begin: auth
    where: t == "auth"
  - not_followed_by: capture
    where: t == "capture"
within: 1h`),
			events: []string{"a1 10:00 c1 t=auth", "k1 11:00 c1 t=capture"},
			want:   []string{"r c1 11:00:00.000 a1"},
		},
		{
			name: "absence: the final watermark must reach the deadline",
			rules: seq(`pattern:
  - begin: auth
    where: t == "auth"
  - not_followed_by: capture
    where: t == "capture"
within: 1h`),
			events: []string{"a1 10:00 c1 t=auth", "a2 10:30 c2 t=auth"},
			until:  "11:15",
			want:   []string{"r c1 11:00:00.000 a1"},
		},
		{
			name: "absence deadlines fire in time order across keys, before later events",
			rules: seq(`pattern:
  - begin: auth
    where: t == "auth"
  - not_followed_by: capture
    where: t == "capture"
within: 10m`),
			events: []string{"a1 10:00 c1 t=auth", "a2 10:05 c2 t=auth", "z1 10:20 c3 t=other"},
			until:  "10:20",
			want:   []string{"r c1 10:10:00.000 a1", "r c2 10:15:00.000 a2"},
		},
		{
			name: "a late event is not matched",
			rules: seq(`pattern:
  - begin: a
    where: t == "a"
  - followed_by: b
    where: t == "b"`),
			events:  []string{"a1 10:05 c1 t=a", "b0 10:00 c1 t=b", "b1 10:06 c1 t=b"},
			want:    []string{"r c1 10:06:00.000 a1,b1"},
			rejects: map[string]string{"b0": "late"},
		},
		{
			name: "out-of-orderness puts events back in time order before matching",
			rules: seq(`pattern:
  - begin: a
    where: t == "a"
  - next: b
    where: t == "b"`),
			ooo:    time.Minute,
			events: []string{"b1 10:00:30 c1 t=b", "a1 10:00 c1 t=a"},
			want:   []string{"r c1 10:00:30.000 a1,b1"},
		},
		{
			name: "equal timestamps match in arrival order",
			rules: seq(`pattern:
  - begin: a
    where: t == "a"
  - next: b
    where: t == "b"`),
			events: []string{"b1 10:00 c1 t=b", "a1 10:00 c1 t=a", "b2 10:00 c1 t=b"},
			want:   []string{"r c1 10:00:00.000 a1,b2"},
		},
		{
			name: "iterative condition over matched events",
			rules: seq(`pattern:
  - begin: probe
    where: amount < 2
    times: 2..
  - followed_by: big
    where: amount > 100 * sum(map(matched.probe, .amount))
within: 10m`),
			events: []string{"p1 10:00 c1 amount=1", "p2 10:01 c1 amount=1", "m1 10:02 c1 amount=150", "b1 10:03 c1 amount=500"},
			want:   []string{"r c1 10:03:00.000 p1,p2,b1"},
		},
		{
			name: "prev is the last event the partial match took",
			rules: seq(`pattern:
  - begin: a
    where: amount > 0
  - followed_by: up
    where: amount > 2 * prev.amount`),
			events: []string{"a1 10:00 c1 amount=10", "x1 10:01 c1 amount=15", "u1 10:02 c1 amount=25"},
			want:   []string{"r c1 10:02:00.000 a1,u1"},
		},
		{
			name: "times 0..2 is FlinkCEP's times(0, 2): an optional stage",
			rules: seq(`pattern:
  - begin: a
    where: t == "a"
  - followed_by: b
    where: t == "b"
    times: 0..2
  - followed_by: c
    where: t == "c"`),
			events: []string{"a1 10:00 c1 t=a", "c1 10:01 c1 t=c", "a2 10:02 c2 t=a", "b1 10:03 c2 t=b", "c2 10:04 c2 t=c"},
			want:   []string{"r c1 10:01:00.000 a1,c1", "r c2 10:04:00.000 a2,b1,c2"},
		},
		{
			name: "throttle applies to sequence alerts per key",
			rules: seq(`pattern:
  - begin: a
    where: t == "a"
  - followed_by: b
    where: t == "b"
throttle: 1h`),
			events: []string{"a1 10:00 c1 t=a", "b1 10:01 c1 t=b", "a2 10:02 c1 t=a", "b2 10:03 c1 t=b", "a3 10:04 c2 t=a", "b3 10:05 c2 t=b"},
			want:   []string{"r c1 10:01:00.000 a1,b1", "r c1 10:03:00.000 a2,b2 suppressed", "r c2 10:05:00.000 a3,b3"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.check)
	}
}

func TestSequenceAlertContents(t *testing.T) {
	rs := mustLoad(t, rule(`severity: high
labels: {team: payments}
pattern:
  - begin: probe
    where: amount < 2
    times: 3..
  - followed_by: big
    where: amount > 500
within: 10m
alert:
  summary: 'card {{ key }}: {{ len(matched.probe) }} probes then {{ matched.big[0].amount }}'
  fields:
    probe_total: sum(map(matched.probe, .amount))
    big_at: now()`))
	res := runEvents(t, rs, []string{"p1 10:00 c1 amount=1", "p2 10:01 c1 amount=0.5", "p3 10:02 c1 amount=1.5", "b1 10:03 c1 amount=900"}, "")
	if len(res.alerts) != 1 {
		t.Fatalf("alerts = %q; want one", alertLines(res.alerts))
	}
	a := res.alerts[0]
	if a.Summary != "card c1: 3 probes then 900" {
		t.Errorf("summary = %q", a.Summary)
	}
	if a.Fields["probe_total"] != 3.0 {
		t.Errorf("probe_total = %v; want 3", a.Fields["probe_total"])
	}
	if bigAt, ok := a.Fields["big_at"].(time.Time); !ok || bigAt.UnixMilli() != at("10:03") {
		t.Errorf("now() in fields = %v; want the alert time", a.Fields["big_at"])
	}
	ids := map[string][]string{}
	for stage, evs := range a.Matched {
		for _, ev := range evs {
			ids[stage] = append(ids[stage], ev["id"].(string))
		}
	}
	if want := map[string][]string{"probe": {"p1", "p2", "p3"}, "big": {"b1"}}; !reflect.DeepEqual(ids, want) {
		t.Errorf("matched = %v; want %v", ids, want)
	}
	if a.Severity != "high" || a.Labels["team"] != "payments" || strings.Join(a.EventIDs, ",") != "p1,p2,p3,b1" {
		t.Errorf("alert = %+v", a)
	}
}

func TestSequenceStateIsBounded(t *testing.T) {
	// followed_by_any with no window keeps every a: the bound evicts the oldest.
	rs := mustLoad(t, rule(`pattern:
  - begin: a
    where: t == "a"
  - followed_by_any: b
    where: t == "b"
skip: no_skip
max_partial_matches: 5`))
	var lines []string
	for i := 0; i < 20; i++ {
		lines = append(lines, fmt.Sprintf("a%d 10:00:%02d c1 t=a", i, i))
	}
	lines = append(lines, "b1 10:01 c1 t=b")
	res := runEvents(t, rs, lines, "10:01")
	st := res.eng.Stats().Rules["r"]
	if st.Evicted != 15 {
		t.Errorf("evicted = %d; want 15", st.Evicted)
	}
	want := []string{"r c1 10:01:00.000 a15,b1", "r c1 10:01:00.000 a16,b1", "r c1 10:01:00.000 a17,b1",
		"r c1 10:01:00.000 a18,b1", "r c1 10:01:00.000 a19,b1"}
	if got := alertLines(res.alerts); !sameLines(got, want) {
		t.Errorf("alerts:\n got  %q\n want %q (the five newest a's)", got, want)
	}
	// Evictions on a key's very first event count too: with an optional
	// begin stage, an event both stages accept starts two partial matches.
	rs = mustLoad(t, rule(`pattern:
  - begin: a
    where: t == "a"
    optional: true
  - followed_by: b
    where: t == "a" || t == "b"
  - followed_by: c
    where: t == "c"
max_partial_matches: 1`))
	first := runEvents(t, rs, []string{"a1 10:00 c1 t=a"}, "10:00").eng.Stats().Rules["r"]
	if first.Evicted != 1 {
		t.Errorf("evictions on a key's first event: %d; want 1", first.Evicted)
	}
	// With a window, every partial match expires and the key is released.
	rs = mustLoad(t, rule(`pattern:
  - begin: a
    where: t == "a"
  - followed_by: b
    where: t == "b"
within: 1m`))
	eng, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 500; i++ {
		if err := eng.Process(ctx, map[string]any{"ts": at("10:00") + int64(i), "card": "k" + strconv.Itoa(i), "t": "a"}); err != nil {
			t.Fatal(err)
		}
	}
	if st := eng.Stats().Rules["r"]; st.Keys != 500 || st.Partial != 500 {
		t.Fatalf("before expiry: keys %d, partial %d; want 500 each", st.Keys, st.Partial)
	}
	if err := eng.AdvanceWatermark(ctx, time.UnixMilli(at("10:02"))); err != nil {
		t.Fatal(err)
	}
	if st := eng.Stats().Rules["r"]; st.Keys != 0 || st.Partial != 0 {
		t.Errorf("after expiry: keys %d, partial %d; want 0", st.Keys, st.Partial)
	}
}
