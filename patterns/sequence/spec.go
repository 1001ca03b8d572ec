// Package sequence matches sequence patterns with FlinkCEP's semantics:
// stages with contiguity, quantifiers, groups, negation, windows and
// after-match skip strategies, over the events of one key.
//
// A Pattern is compiled once per rule and worker into an *NFA, shared by
// every key that worker handles. Each key owns a *State. The caller feeds a key's
// events in event-time order (ties in arrival order) with Advance, and moves
// time forward with AdvanceTime when the watermark passes.
package sequence

import "github.com/vigilhq/vigil/event"

// Kind says how a stage follows the previous one.
type Kind uint8

const (
	Begin         Kind = iota // first stage
	Next                      // strict contiguity
	FollowedBy                // relaxed contiguity
	FollowedByAny             // non-deterministic relaxed contiguity
	NotNext                   // the very next event must not match
	NotFollowedBy             // no matching event before the next stage (or, last, before within)
)

// Contiguity inside a looping stage (between its own repetitions).
type Contiguity uint8

const (
	Relaxed          Contiguity = iota // FlinkCEP's default inside loops
	Strict                             // consecutive: true
	NonDeterministic                   // allow_combinations: true
)

// Unbounded is Stage.Max for quantifiers with no upper bound (times: N..).
const Unbounded = -1

// Context is what a condition sees of the partial match it may extend.
type Context interface {
	// Matched returns the events already taken by the named stage in this
	// partial match, in order. The event under test is not included.
	Matched(stage string) []*event.Event
	// Prev returns the last event taken by this partial match, or nil.
	Prev() *event.Event
}

// Condition decides whether ev is accepted by a stage (or, for Until,
// whether it stops a loop). It must be pure. A runtime error in the
// underlying expression is the caller's business: it returns false.
type Condition func(ev *event.Event, ctx Context) bool

// Stage is one entry of a pattern.
type Stage struct {
	Name  string    // unique across the whole pattern, groups included
	Kind  Kind      // how it follows the previous stage
	Where Condition // nil accepts every event; must be nil for a group
	Group []Stage   // non-empty: a group pattern matched as one unit

	// Quantifier: times Min..Max; Max == Unbounded for "N..". The zero
	// value is treated as exactly once (Min = Max = 1).
	Min, Max int
	Optional bool
	Greedy   bool
	Until    Condition  // stop condition for a looping stage
	Inner    Contiguity // contiguity between repetitions of a looping stage

	// Within, in ms, is the largest gap from the previous taken event to
	// this stage's first event (FlinkCEP's PREVIOUS_AND_CURRENT). 0: none.
	Within int64
}

// SkipKind is the after-match skip strategy.
type SkipKind uint8

const (
	SkipPastLastEvent SkipKind = iota // vigil's default
	NoSkip
	SkipToNext
	SkipToFirst
	SkipToLast
)

// Skip is an after-match skip strategy; Stage names the target of
// SkipToFirst and SkipToLast.
type Skip struct {
	Kind  SkipKind
	Stage string
}

// Pattern is a complete sequence pattern.
type Pattern struct {
	Stages []Stage
	// Within, in ms: every match satisfies last.Time - first.Time < Within.
	// 0: no window. Required when the last stage is NotFollowedBy.
	Within int64
	Skip   Skip
	// MaxPartialMatches bounds the partial matches one key holds; when
	// exceeded the oldest is evicted and State.Evicted counts it. 0: no bound.
	MaxPartialMatches int
}

// Match is one complete match.
type Match struct {
	// Stages lists the leaf stages that took events, in pattern order, with
	// the events each took in order.
	Stages []StageEvents
	// Time is the alert time: the time of the last matched event, or, for a
	// pattern ending in NotFollowedBy, the deadline first.Time + Within.
	Time int64
	// Last is the event the match took most recently: the event of its
	// final step, the latest of Stages' events in processing order. For a
	// pattern ending in NotFollowedBy it is the last event taken before the
	// absence, not the event (if any) that released the match. Callers use
	// it instead of comparing the events' times and arrival order.
	Last *event.Event
}

// StageEvents is the events one leaf stage took in a match.
type StageEvents struct {
	Stage  string
	Events []*event.Event
}
