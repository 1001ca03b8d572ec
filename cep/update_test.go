package cep

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// updateCase feeds events, replaces the rules between two of them, feeds
// the rest and compares the alerts exactly: what keeps its state and what
// starts afresh.
type updateCase struct {
	name          string
	before, after string // rules
	events        []string
	at            int // events before the update
	want          []string
	// wantIDs names alerts (by index into want) whose id must equal that of
	// the same alert in a run with the rules of before all along.
	sameID []int
}

func (tc updateCase) run(t *testing.T) {
	ctx := context.Background()
	var got []Alert
	eng, err := New(mustLoad(t, tc.before), WithAlertHandler(func(_ context.Context, a Alert) error {
		got = append(got, a)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range tc.events {
		if i == tc.at {
			if err := eng.Update(ctx, mustLoad(t, tc.after)); err != nil {
				t.Fatalf("Update: %v", err)
			}
		}
		if err := eng.Process(ctx, parseEvent(t, l)); err != nil {
			t.Fatalf("Process(%s): %v", l, err)
		}
	}
	if err := eng.AdvanceWatermark(ctx, EndOfTime); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	lines := make([]string, len(got))
	for i, a := range got {
		lines[i] = describeAlert(a) + " " + a.Severity + " " + a.Summary
	}
	if !sameLines(lines, tc.want) {
		t.Errorf("alerts:\n got  %q\n want %q", lines, tc.want)
	}
	if len(tc.sameID) > 0 {
		base := runEvents(t, mustLoad(t, tc.before), tc.events, "")
		for _, i := range tc.sameID {
			if i >= len(got) || i >= len(base.alerts) || got[i].ID != base.alerts[i].ID {
				t.Errorf("alert %d: id changed by a presentation edit", i)
			}
		}
	}
}

const seqRule = `rules:
  - name: probe
    key: card
    severity: SEVERITY
    pattern:
      - begin: small
        where: amount < 2
        times: 2
      - followed_by: big
        where: amount > 500
    within: WITHIN
    alert:
      summary: 'SUMMARY {{ len(matched.small) }}'
`

func seqRuleWith(severity, within, summary string) string {
	return strings.NewReplacer("SEVERITY", severity, "WITHIN", within, "SUMMARY", summary).Replace(seqRule)
}

const velocity = `  - name: velocity
    key: card
    threshold:
      window: 10m
      condition: count() >= 3
    alert:
      summary: 'SUMMARY'
`

func TestUpdateKeepsOrResetsState(t *testing.T) {
	probes := []string{"s1 10:00 c1 amount=1", "s2 10:01 c1 amount=1", "b1 10:02 c1 amount=900"}
	declines := []string{"d1 10:00 c1", "d2 10:01 c1", "d3 10:02 c1"}
	cases := []updateCase{
		{
			name:   "an in-flight sequence survives a severity edit and alerts with the new severity",
			before: seqRuleWith("low", "10m", "probes"), after: seqRuleWith("critical", "10m", "probes"),
			events: probes, at: 2,
			want:   []string{"probe c1 10:02:00.000 s1,s2,b1 critical probes 2"},
			sameID: []int{0},
		},
		{
			name:   "a summary edit keeps the partial match and the id",
			before: seqRuleWith("low", "10m", "probes"), after: seqRuleWith("low", "10m", "card testing:"),
			events: probes, at: 1,
			want:   []string{"probe c1 10:02:00.000 s1,s2,b1 low card testing: 2"},
			sameID: []int{0},
		},
		{
			name:   "an in-flight sequence does not survive a within edit",
			before: seqRuleWith("low", "10m", "probes"), after: seqRuleWith("low", "11m", "probes"),
			events: probes, at: 2,
			want: nil,
		},
		{
			name:   "a window survives a summary edit",
			before: "rules:\n" + strings.ReplaceAll(velocity, "SUMMARY", "old"),
			after:  "rules:\n" + strings.ReplaceAll(velocity, "SUMMARY", "{{ count() }} declines"),
			events: declines, at: 2,
			want:   []string{"velocity c1 10:02:00.000 d1,d2,d3 medium 3 declines"},
			sameID: []int{0},
		},
		{
			name:   "a window does not survive a field that adds an aggregate",
			before: "rules:\n" + strings.ReplaceAll(velocity, "SUMMARY", "s"),
			after:  "rules:\n" + strings.ReplaceAll(velocity, "SUMMARY", "s") + "      fields:\n        total: sum(amount)\n",
			events: declines, at: 2,
			want: nil,
		},
		{
			name:   "a rule moved to another position keeps its state",
			before: "rules:\n" + strings.ReplaceAll(velocity, "SUMMARY", "s") + "  - name: other\n    key: card\n    threshold: {window: 1m, condition: count() >= 100}\n",
			after:  "rules:\n  - name: other\n    key: card\n    threshold: {window: 1m, condition: count() >= 100}\n" + strings.ReplaceAll(velocity, "SUMMARY", "s"),
			events: declines, at: 2,
			want:   []string{"velocity c1 10:02:00.000 d1,d2,d3 medium s"},
			sameID: []int{0},
		},
		{
			name:   "a removed rule raises nothing more",
			before: "rules:\n" + strings.ReplaceAll(velocity, "SUMMARY", "s") + "  - name: other\n    key: card\n    threshold: {window: 1m, condition: count() >= 1}\n",
			after:  "rules:\n  - name: other\n    key: card\n    threshold: {window: 1m, condition: count() >= 1}\n",
			events: declines, at: 2,
			want: []string{"other c1 10:00:00.000 d1 medium "},
		},
		{
			name:   "an added rule starts afresh",
			before: "rules:\n  - name: other\n    key: card\n    threshold: {window: 1m, condition: count() >= 100}\n",
			after:  "rules:\n  - name: other\n    key: card\n    threshold: {window: 1m, condition: count() >= 100}\n" + strings.ReplaceAll(velocity, "SUMMARY", "s"),
			events: append(append([]string{}, declines...), "d4 10:03 c1", "d5 10:04 c1"), at: 2,
			want: []string{"velocity c1 10:04:00.000 d3,d4,d5 medium s"},
		},
		{
			name:   "a throttle clock survives a label edit",
			before: "rules:\n  - name: t\n    key: card\n    throttle: 1h\n    threshold: {window: 1m, condition: count() >= 1}\n    emit: every\n",
			after:  "rules:\n  - name: t\n    key: card\n    throttle: 1h\n    labels: {team: risk}\n    threshold: {window: 1m, condition: count() >= 1}\n    emit: every\n",
			events: []string{"d1 10:00 c1", "d2 10:01 c1"}, at: 1,
			want: []string{"t c1 10:00:00.000 d1 medium ", "t c1 10:01:00.000 d2 suppressed medium "},
		},
		{
			name:   "a throttle edit starts the rule afresh, clock included",
			before: "rules:\n  - name: t\n    key: card\n    throttle: 1h\n    threshold: {window: 1m, condition: count() >= 1}\n    emit: every\n",
			after:  "rules:\n  - name: t\n    key: card\n    throttle: 2h\n    threshold: {window: 1m, condition: count() >= 1}\n    emit: every\n",
			events: []string{"d1 10:00 c1", "d2 10:01 c1"}, at: 1,
			want: []string{"t c1 10:00:00.000 d1 medium ", "t c1 10:01:00.000 d2 medium "},
		},
		{
			name: "reordered aggregates keep the window and its values",
			before: "rules:\n  - name: a\n    key: card\n    threshold: {window: 10m, condition: count() >= 3}\n" +
				"    alert:\n      summary: '{{ sum(amount) }} {{ max(amount) }}'\n",
			after: "rules:\n  - name: a\n    key: card\n    threshold: {window: 10m, condition: count() >= 3}\n" +
				"    alert:\n      summary: '{{ max(amount) }} {{ sum(amount) }}'\n",
			events: []string{"d1 10:00 c1 amount=5", "d2 10:01 c1 amount=7", "d3 10:02 c1 amount=1"}, at: 2,
			want: []string{"a c1 10:02:00.000 d1,d2,d3 medium 7 13"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

// Removed rules release their state and timers.
func TestUpdateReleasesRemovedRules(t *testing.T) {
	ctx := context.Background()
	eng, err := New(mustLoad(t, seqRuleWith("low", "10m", "s")))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := eng.Process(ctx, map[string]any{"ts": at("10:00") + int64(i), "card": fmt.Sprint("c", i), "amount": 1.0}); err != nil {
			t.Fatal(err)
		}
	}
	if st := eng.Stats().Rules["probe"]; st.Keys != 100 || st.Partial != 100 {
		t.Fatalf("before: %+v", st)
	}
	if err := eng.Update(ctx, mustLoad(t, "rules:\n  - name: other\n    threshold: {window: 1m, condition: count() >= 100}\n")); err != nil {
		t.Fatal(err)
	}
	st := eng.Stats()
	if p := st.Rules["probe"]; p.Keys != 0 || p.Partial != 0 {
		t.Errorf("removed rule still holds %d keys, %d partial matches", p.Keys, p.Partial)
	}
	var timers int
	eng.mu.Lock()
	eng.eachPartition(func(p *partition) { timers += len(p.timers) })
	eng.mu.Unlock()
	if timers != 0 {
		t.Errorf("%d timers left after the rule was removed", timers)
	}
	if eng.Ruleset().Version != 2 {
		t.Errorf("version = %d; want 2", eng.Ruleset().Version)
	}
	_ = eng.Close(ctx)
}

// An update that does not compile changes nothing.
func TestUpdateIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	eng, err := New(mustLoad(t, "rules:\n"+strings.ReplaceAll(velocity, "SUMMARY", "s")))
	if err != nil {
		t.Fatal(err)
	}
	bad := mustLoad(t, "rules:\n"+strings.ReplaceAll(velocity, "SUMMARY", "s"))
	bad.Rules[0].Sequence = nil
	bad.Rules[0].Threshold = nil
	bad.Rules = append(bad.Rules, mustLoad(t, seqRuleWith("low", "10m", "s")).Rules[0])
	bad.Rules[1].Sequence.Stages = nil // cannot compile
	if err := eng.Update(ctx, bad); err == nil {
		t.Fatal("Update of an invalid ruleset succeeded")
	}
	if eng.Ruleset().Version != 1 || len(eng.Ruleset().Rules) != 1 {
		t.Errorf("the failed update changed the ruleset")
	}
	_ = eng.Close(ctx)
}

// Update races with Process from other goroutines (run with -race): every
// event is processed exactly once, by one ruleset or the other.
func TestUpdateRacesWithProcess(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	alerts := 0
	a := "rules:\n  - name: every\n    key: card\n    threshold: {window: 1m, condition: count() >= 1}\n    emit: every\n    alert: {summary: A}\n"
	b := strings.Replace(a, "summary: A", "summary: B", 1)
	eng, err := New(mustLoad(t, a), WithWorkers(2), WithOutOfOrderness(time.Hour), WithAlertHandler(func(context.Context, Alert) error {
		mu.Lock()
		alerts++
		mu.Unlock()
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Go(func() {
			for i := 0; i < 300; i++ {
				ev := map[string]any{"ts": at("10:00") + int64(i), "card": fmt.Sprintf("g%d-%d", g, i%7)}
				if err := eng.Process(ctx, ev); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; i < 30; i++ {
			src := a
			if i%2 == 1 {
				src = b
			}
			if err := eng.Update(ctx, mustLoad(t, src)); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := eng.Stats(); st.Processed != 900 || alerts != 900 || st.Rules["every"].Alerts != 900 {
		t.Errorf("processed %d, %d alerts delivered, %d counted; want 900 each", st.Processed, alerts, st.Rules["every"].Alerts)
	}
}
