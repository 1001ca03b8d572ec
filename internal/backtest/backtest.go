// Package backtest runs rules over stored event history — what would
// these rules have caught last month? — with the engine `vigil serve` and
// `vigil replay` use, and scores the alerts against labels the events
// carry.
//
// Scoring, per rule, over the events of the range:
//
//   - A fraud event is one whose label field (default is_fraud) is true:
//     the JSON true, a non-zero number, or the string "true", "1" or "yes".
//   - An alert is a hit when at least one of its matched events (for a
//     threshold rule: the events in its window) is a fraud event, and a
//     false alarm otherwise. Suppressed alerts (inside a throttle) are
//     counted apart and score nothing: no analyst sees them.
//   - A fraud event is caught when it is among the matched events of at
//     least one hit, and missed otherwise.
//   - precision = hits / (hits + false alarms); recall = caught / fraud
//     events. Each is absent (null in JSON) when its denominator is 0, and
//     both are absent when no event in the range carries the label field.
//
// Recall is against every fraud event of the range, whatever its kind: a
// rule aimed at one pattern catches only part of it. Where events carry a
// fraud type (default field fraud_type), each rule's report also gives
// caught/total per type, so a rule can be read against its own pattern.
//
// Memory: the events stream through; what is kept grows with the alerts
// and the fraud events, not with the range.
package backtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/replay"
	"github.com/vigilhq/vigil/rules"
	"github.com/vigilhq/vigil/store/clickhouse"
)

// History is where the events come from: the ClickHouse store.
type History interface {
	ScanEvents(ctx context.Context, from, to time.Time, chunk time.Duration, fn func(clickhouse.StoredEvent) error) error
	CountEvents(ctx context.Context, from, to time.Time) (uint64, error)
}

// Options configure a backtest.
type Options struct {
	From, To   time.Time // from <= event time < to
	LabelField string    // default is_fraud
	TypeField  string    // default fraud_type
	Decoder    event.Decoder
	// Chunk is how much event time one read covers (default 1h).
	Chunk time.Duration
	// OnProgress is called now and then with the events read and the
	// total.
	OnProgress func(done, total uint64)
	// OnAlert, when set, receives every alert of ruleset A.
	OnAlert func(cep.Alert)
}

// Report is a backtest's result.
type Report struct {
	From     time.Time      `json:"from"`
	To       time.Time      `json:"to"`
	Events   uint64         `json:"events"`
	Rejected map[string]int `json:"rejected"`
	// Labelled is the number of events carrying the label field, Fraud
	// those where it is true, FraudByType the fraud events per type.
	Labelled    uint64         `json:"labelled"`
	Fraud       int            `json:"fraud"`
	FraudByType map[string]int `json:"fraud_by_type,omitempty"`
	Rules       []RuleReport   `json:"rules"`
	Elapsed     time.Duration  `json:"-"`
	Seconds     float64        `json:"seconds"`
	EventsPerS  float64        `json:"events_per_second"`
	// Compare is set with a second ruleset or the live alerts.
	Compare *Comparison `json:"compare,omitempty"`
	alerts  []cep.Alert
}

// RuleReport is one rule's result.
type RuleReport struct {
	Rule        string         `json:"rule"`
	Alerts      int            `json:"alerts"` // suppressed ones included
	Suppressed  int            `json:"suppressed"`
	Keys        int            `json:"keys"` // distinct keys alerted on
	PerDay      map[string]int `json:"alerts_per_day"`
	Hits        int            `json:"hits"`
	FalseAlarms int            `json:"false_alarms"`
	Caught      int            `json:"caught"` // fraud events caught
	Precision   *float64       `json:"precision"`
	Recall      *float64       `json:"recall"`
	// CaughtByType is caught fraud events per fraud type.
	CaughtByType map[string]int `json:"caught_by_type,omitempty"`
}

// Alerts returns ruleset A's alerts in the order they were raised.
func (r *Report) Alerts() []cep.Alert { return r.alerts }

// Run backtests rs over the events of h in [opts.From, opts.To).
func Run(ctx context.Context, h History, rs *rules.Ruleset, opts Options) (*Report, error) {
	return run(ctx, h, rs, nil, opts)
}

// RunCompare backtests rs (A) and other (B) over the same events in one
// read, and compares their alerts.
func RunCompare(ctx context.Context, h History, rs, other *rules.Ruleset, opts Options) (*Report, error) {
	return run(ctx, h, rs, other, opts)
}

func run(ctx context.Context, h History, rs, other *rules.Ruleset, opts Options) (*Report, error) {
	if !opts.From.Before(opts.To) {
		return nil, fmt.Errorf("backtest: --from (%s) must be before --to (%s)", event.FormatTime(opts.From.UnixMilli()), event.FormatTime(opts.To.UnixMilli()))
	}
	if opts.LabelField == "" {
		opts.LabelField = "is_fraud"
	}
	if opts.TypeField == "" {
		opts.TypeField = "fraud_type"
	}
	start := time.Now()
	rep := &Report{From: opts.From.UTC(), To: opts.To.UTC(), FraudByType: map[string]int{}}
	total, err := h.CountEvents(ctx, opts.From, opts.To)
	if err != nil {
		return nil, err
	}
	fraudType := map[string]string{} // fraud event id → type
	var bAlerts []cep.Alert
	a, err := replay.NewRunner(rs, replay.Options{Decoder: opts.Decoder, OnAlert: func(al cep.Alert) error {
		rep.alerts = append(rep.alerts, al)
		if opts.OnAlert != nil {
			opts.OnAlert(al)
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	var b *replay.Runner
	if other != nil {
		if b, err = replay.NewRunner(other, replay.Options{Decoder: opts.Decoder, OnAlert: func(al cep.Alert) error {
			bAlerts = append(bAlerts, al)
			return nil
		}}); err != nil {
			return nil, err
		}
	}
	var done uint64
	err = h.ScanEvents(ctx, opts.From, opts.To, opts.Chunk, func(e clickhouse.StoredEvent) error {
		done++
		if opts.OnProgress != nil && done%4096 == 0 {
			opts.OnProgress(done, total)
		}
		pos := e.Position // as it was decoded live: events without an id get the same id
		ev, err := feed(ctx, a, e.Raw, pos)
		if err != nil {
			return err
		}
		if b != nil {
			if _, err := feed(ctx, b, e.Raw, pos); err != nil {
				return err
			}
		}
		if ev == nil {
			return nil // did not decode: counted as rejected by the run
		}
		// The labels, from the event as decoded (the engine does not
		// change its fields).
		v, has := ev.Fields[opts.LabelField]
		if !has {
			return nil
		}
		rep.Labelled++
		if truthy(v) {
			t, _ := ev.Fields[opts.TypeField].(string)
			fraudType[ev.ID] = t
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if opts.OnProgress != nil {
		opts.OnProgress(done, total)
	}
	sum, err := a.Finish(ctx)
	if err != nil {
		return nil, err
	}
	rep.Events, rep.Rejected = done, sum.Rejected
	if b != nil {
		if _, err := b.Finish(ctx); err != nil {
			return nil, err
		}
		rep.Compare = Compare(rep.alerts, bAlerts)
	}
	rep.Fraud = len(fraudType)
	for _, t := range fraudType {
		rep.FraudByType[t]++
	}
	if len(rep.FraudByType) == 1 && rep.FraudByType[""] > 0 {
		rep.FraudByType = nil // no types in the data
	}
	rep.Rules = score(rs, rep.alerts, fraudType, rep.Labelled > 0, rep.FraudByType != nil)
	rep.Elapsed = time.Since(start)
	rep.Seconds = rep.Elapsed.Seconds()
	if rep.Seconds > 0 {
		rep.EventsPerS = float64(rep.Events) / rep.Seconds
	}
	return rep, nil
}

// feed gives one event to a run; a rejected event is counted by the run
// and is not an error of the backtest.
func feed(ctx context.Context, r *replay.Runner, raw []byte, pos string) (*event.Event, error) {
	var evErr *event.Error
	ev, err := r.Feed(ctx, raw, pos)
	if err != nil && !errors.As(err, &evErr) {
		return nil, err
	}
	return ev, nil
}

// truthy is the label's value read as a yes/no.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1", "yes":
			return true
		}
	}
	return false
}

// score builds the per-rule reports, in the ruleset's order.
func score(rs *rules.Ruleset, alerts []cep.Alert, fraudType map[string]string, labelled, typed bool) []RuleReport {
	byRule := map[string]*RuleReport{}
	keys := map[string]map[string]bool{}
	caught := map[string]map[string]bool{}
	var order []string
	for _, r := range rs.Rules {
		order = append(order, r.Name)
		byRule[r.Name] = &RuleReport{Rule: r.Name, PerDay: map[string]int{}}
		keys[r.Name], caught[r.Name] = map[string]bool{}, map[string]bool{}
	}
	for _, a := range alerts {
		rr := byRule[a.Rule]
		if rr == nil {
			continue
		}
		rr.Alerts++
		rr.PerDay[a.Time.UTC().Format("2006-01-02")]++
		keys[a.Rule][a.Key] = true
		if a.Suppressed {
			rr.Suppressed++
			continue
		}
		hit := false
		for _, id := range a.EventIDs {
			if _, ok := fraudType[id]; ok {
				hit = true
				caught[a.Rule][id] = true
			}
		}
		if hit {
			rr.Hits++
		} else {
			rr.FalseAlarms++
		}
	}
	out := make([]RuleReport, 0, len(order))
	for _, name := range order {
		rr := byRule[name]
		rr.Keys = len(keys[name])
		rr.Caught = len(caught[name])
		if labelled {
			if n := rr.Hits + rr.FalseAlarms; n > 0 {
				rr.Precision = ratio(rr.Hits, n)
			}
			if len(fraudType) > 0 {
				rr.Recall = ratio(rr.Caught, len(fraudType))
			}
		}
		if typed {
			rr.CaughtByType = map[string]int{}
			for id := range caught[name] {
				rr.CaughtByType[fraudType[id]]++
			}
		}
		out = append(out, *rr)
	}
	return out
}

func ratio(a, b int) *float64 {
	v := float64(a) / float64(b)
	return &v
}

// Comparison is, per rule, how the alerts of two runs overlap. Alerts
// are the same incident when they have the same rule, key and time: ids
// include the rule's matching definition, so a changed rule never shares
// an id with its old version.
type Comparison struct {
	Rules []RuleDiff `json:"rules"`
}

// RuleDiff is one rule's overlap.
type RuleDiff struct {
	Rule  string `json:"rule"`
	OnlyA int    `json:"only_a"`
	OnlyB int    `json:"only_b"`
	Both  int    `json:"both"`
}

// Compare counts, per rule name, the incidents only in a, only in b, and
// in both.
func Compare(a, b []cep.Alert) *Comparison {
	type incident struct {
		rule, key string
		ms        int64
	}
	set := func(alerts []cep.Alert) map[incident]bool {
		m := map[incident]bool{}
		for _, x := range alerts {
			m[incident{x.Rule, x.Key, x.Time.UnixMilli()}] = true
		}
		return m
	}
	sa, sb := set(a), set(b)
	diffs := map[string]*RuleDiff{}
	get := func(rule string) *RuleDiff {
		if diffs[rule] == nil {
			diffs[rule] = &RuleDiff{Rule: rule}
		}
		return diffs[rule]
	}
	for k := range sa {
		if sb[k] {
			get(k.rule).Both++
		} else {
			get(k.rule).OnlyA++
		}
	}
	for k := range sb {
		if !sa[k] {
			get(k.rule).OnlyB++
		}
	}
	c := &Comparison{}
	for _, name := range slices.Sorted(maps.Keys(diffs)) {
		c.Rules = append(c.Rules, *diffs[name])
	}
	return c
}

// FormatRatio prints a precision or recall: "0.750", or "-" when absent.
func FormatRatio(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 3, 64)
}
