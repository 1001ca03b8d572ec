package cep

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"time"

	"github.com/vigilhq/vigil/event"
)

// Alert is what a rule raises.
type Alert struct {
	// ID is deterministic: a hash of the rule name, the rule's match hash,
	// the key and the ids of the matched events with the stage each
	// belongs to (threshold rules: the window's events). Replaying the
	// same input yields the same ids, so sinks and stores de-duplicate on
	// it; distinct matches never share one; presentation edits (summary,
	// severity, labels, fields that add no aggregate, mode) keep it.
	ID          string
	Rule        string
	RuleVersion int64
	RuleHash    string // the rule's whole definition
	MatchHash   string // the rule's matching definition
	Severity    string
	Key         string
	// Time is event time: the last matched event, the absence deadline,
	// or a tumbling window's end − 1 ms.
	Time       time.Time
	DetectedAt time.Time // wall time
	Summary    string
	Labels     map[string]string
	Fields     map[string]any
	// Values holds a threshold rule's aggregates, keyed by their text.
	Values map[string]any
	Shadow bool
	// Suppressed marks an alert inside its rule+key throttle: kept in
	// history, never sent to action sinks.
	Suppressed bool
	// TraceID is the trace of the batch whose arrival raised the alert,
	// when the embedding program traces (its Observer.Alert sets it).
	TraceID string
	// Matched holds each stage's events (sequence rules), as JSON objects.
	Matched map[string][]map[string]any
	// EventIDs lists the ids of the matched events (sequence rules: stage by
	// stage in pattern order, each stage's events in time order) or of the
	// events in the window (threshold rules: oldest first).
	EventIDs []string
}

// alertJSON is the wire form of an alert.
type alertJSON struct {
	ID          string                      `json:"id"`
	Rule        string                      `json:"rule"`
	RuleVersion int64                       `json:"rule_version"`
	RuleHash    string                      `json:"rule_hash"`
	MatchHash   string                      `json:"match_hash"`
	Severity    string                      `json:"severity"`
	Key         string                      `json:"key"`
	Time        string                      `json:"time"`
	DetectedAt  string                      `json:"detected_at"`
	Summary     string                      `json:"summary"`
	Labels      map[string]string           `json:"labels"`
	Fields      map[string]any              `json:"fields"`
	Values      map[string]any              `json:"values"`
	Shadow      bool                        `json:"shadow"`
	Suppressed  bool                        `json:"suppressed"`
	Matched     map[string][]map[string]any `json:"matched,omitempty"`
	EventIDs    []string                    `json:"event_ids"`
	TraceID     string                      `json:"trace_id,omitempty"`
}

// MarshalJSON writes the alert in its wire form, times in RFC 3339 UTC with
// milliseconds.
func (a Alert) MarshalJSON() ([]byte, error) {
	j := alertJSON{
		ID: a.ID, Rule: a.Rule, RuleVersion: a.RuleVersion, RuleHash: a.RuleHash, MatchHash: a.MatchHash,
		Severity: a.Severity, Key: a.Key, Summary: a.Summary,
		Time: event.FormatTime(a.Time.UnixMilli()), DetectedAt: event.FormatTime(a.DetectedAt.UnixMilli()),
		Labels: a.Labels, Fields: a.Fields, Values: a.Values, Shadow: a.Shadow, Suppressed: a.Suppressed,
		Matched: a.Matched, EventIDs: a.EventIDs, TraceID: a.TraceID,
	}
	if j.Labels == nil {
		j.Labels = map[string]string{}
	}
	if j.Fields == nil {
		j.Fields = map[string]any{}
	}
	if j.Values == nil {
		j.Values = map[string]any{}
	}
	if j.EventIDs == nil {
		j.EventIDs = []string{}
	}
	data, err := json.Marshal(j)
	if err == nil {
		return data, nil
	}
	// A value JSON cannot carry (NaN, an infinity, from an embedding
	// program's own types) must not make the alert unwritable — it would
	// hold back every alert behind it: such values are written as null.
	j.Fields = sanitizeMap(j.Fields)
	j.Values = sanitizeMap(j.Values)
	if j.Matched != nil {
		m := make(map[string][]map[string]any, len(j.Matched))
		for stage, evs := range j.Matched {
			list := make([]map[string]any, len(evs))
			for i, ev := range evs {
				list[i] = sanitizeMap(ev)
			}
			m[stage] = list
		}
		j.Matched = m
	}
	return json.Marshal(j)
}

func sanitizeMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = sanitize(v)
	}
	return out
}

// sanitize returns v with every value JSON cannot encode replaced by nil.
func sanitize(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return x
	case map[string]any:
		return sanitizeMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = sanitize(e)
		}
		return out
	}
	if _, err := json.Marshal(v); err != nil {
		return nil
	}
	return v
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (a *Alert) UnmarshalJSON(data []byte) error {
	var j alertJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	t, err := event.ParseTime(j.Time)
	if err != nil {
		return err
	}
	var detected int64
	if j.DetectedAt != "" {
		if detected, err = event.ParseTime(j.DetectedAt); err != nil {
			return err
		}
	}
	*a = Alert{
		ID: j.ID, Rule: j.Rule, RuleVersion: j.RuleVersion, RuleHash: j.RuleHash, MatchHash: j.MatchHash,
		Severity: j.Severity, Key: j.Key, Summary: j.Summary,
		Time: time.UnixMilli(t).UTC(), DetectedAt: time.UnixMilli(detected).UTC(),
		Labels: j.Labels, Fields: j.Fields, Values: j.Values, Shadow: j.Shadow, Suppressed: j.Suppressed,
		Matched: j.Matched, EventIDs: j.EventIDs, TraceID: j.TraceID,
	}
	return nil
}

// stageIDs are the ids of the events one stage of a match took; a
// threshold alert has one, without a stage name, for its window.
type stageIDs struct {
	stage string
	ids   []string
}

// alertID hashes what identifies an alert. Each part is written with its
// length first, and each stage with its name and its number of events, so
// no two different matches hash the same input, whatever bytes keys and
// ids contain: {a: [1, 2], b: [3]} is not {a: [1], b: [2, 3]}.
func alertID(rule, matchHash, key string, stages []stageIDs) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	num := func(v int) { h.Write(n[:binary.PutUvarint(n[:], uint64(v))]) }
	part := func(s string) {
		num(len(s))
		h.Write([]byte(s))
	}
	part(rule)
	part(matchHash)
	part(key)
	for _, st := range stages {
		part(st.stage)
		num(len(st.ids))
		for _, id := range st.ids {
			part(id)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
