// Package event defines vigil's event: a decoded JSON object with its event
// time and identity, and the decoder that turns raw bytes into one.
//
// Every other package (rules, the matchers in patterns/, the engine in cep/)
// works on *Event, so the decoding rules live here and only here.
package event

import (
	"strconv"
	"time"
)

// Event is one keyed input record.
type Event struct {
	// ID comes from the id field, or is derived from the source position
	// (file:line, topic/partition/offset) when the event has none.
	ID string
	// Time is the event time in Unix milliseconds.
	Time int64
	// Seq is the arrival order, assigned by the engine. Events with equal
	// Time are processed in Seq order.
	Seq uint64
	// Fields is the decoded JSON object. Numbers are float64, as with
	// encoding/json. Fields must not be modified once the event is handed to
	// the engine: matchers share it.
	Fields map[string]any
}

// Before reports whether e is processed before o: by time, then arrival.
func (e *Event) Before(o *Event) bool {
	if e.Time != o.Time {
		return e.Time < o.Time
	}
	return e.Seq < o.Seq
}

// FormatTime renders Unix milliseconds as RFC 3339 UTC with exactly three
// fractional digits, the form vigil writes everywhere.
func FormatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// ParseTime accepts an RFC 3339 timestamp (any fractional precision) or an
// integer of Unix milliseconds, and returns Unix milliseconds.
func ParseTime(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	t, err := ParseRFC3339(s)
	if err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}
