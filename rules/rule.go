// Package rules owns vigil's rules language: it reads rules
// files, validates them with positioned errors, compiles every expression
// once with expr-lang, and hands the engine a Ruleset of compiled rules.
//
// A ruleset is all-or-nothing: Load returns either every rule compiled or
// an ErrorList, never a part.
package rules

import (
	"github.com/vigilhq/vigil/patterns/sequence"
	"github.com/vigilhq/vigil/patterns/window"
)

// Severities, lowest first.
var Severities = []string{"info", "low", "medium", "high", "critical"}

// DefaultSeverity is the severity of a rule that names none.
const DefaultSeverity = "medium"

// Ruleset is a loaded, fully compiled set of rules.
type Ruleset struct {
	// Version increases with every ruleset a service loads; 0 until the
	// engine or service assigns one.
	Version int64
	Rules   []*Rule
	// Lists are the named sets, values normalised: strings stay strings,
	// numbers are float64 (as in decoded events), booleans bool.
	Lists map[string]map[any]struct{}
	// ListsAt says where each list of the files is defined (file:line).
	ListsAt map[string]string
	// ReplacedLists are the lists of LoadOptions.Lists that a file
	// defined too (with LoadOptions.FilesWin).
	ReplacedLists []string
	Files         []string
}

// Rule finds a rule by name.
func (rs *Ruleset) Rule(name string) *Rule {
	for _, r := range rs.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Rule is one compiled rule: either a Sequence or a Threshold.
type Rule struct {
	Name        string
	Description string
	Severity    string
	Labels      map[string]string
	Shadow      bool   // mode: shadow
	File        string // where it was defined
	Line        int
	Text        string // the rule as written in its file

	// Key is the key expressions (values joined by "|"); empty means the
	// whole stream is one key.
	Key   []*Expr
	Where *Expr // rule pre-filter; nil accepts all

	Sequence  *Sequence
	Threshold *Threshold

	Throttle int64 // ms; 0: no throttle
	Summary  *Template
	Fields   []Field

	// Hash identifies the rule's whole definition, presentation included.
	Hash string
	// MatchHash identifies the matching definition only: key, where,
	// pattern or threshold, within, skip, emit, max_partial_matches,
	// throttle, and the set of aggregates a threshold rule computes
	// (including those only its alert fields or summary use). A reload
	// keeps a rule's state while it is unchanged, and alert ids include
	// it, so presentation edits keep both.
	MatchHash string
}

// Field is a named alert field computed by an expression.
type Field struct {
	Name string
	Expr *Expr
}

// Sequence is the pattern of a sequence rule. Its conditions are bound to
// an Evaluator by Pattern, once per worker.
type Sequence struct {
	Stages            []Stage
	Within            int64 // ms; 0: none
	Skip              sequence.Skip
	MaxPartialMatches int // 0: the engine's default
	// StageNames lists the leaf stages in pattern order.
	StageNames []string
}

// Stage is one stage of a sequence rule, with compiled conditions.
type Stage struct {
	Name     string
	Kind     sequence.Kind
	Where    *Expr
	Until    *Expr
	Group    []Stage
	Min, Max int
	Optional bool
	Greedy   bool
	Inner    sequence.Contiguity
	Within   int64
}

// Threshold is the definition of a threshold rule.
type Threshold struct {
	Where     *Expr // which events enter the window; nil: all
	Window    int64 // ms
	Tumbling  bool
	Condition *Expr
	// Aggregates are those named in the condition, summary and fields, in
	// order of first use; Args holds each one's argument (nil for count()).
	Aggregates []window.Aggregate
	Args       []*Expr
	EmitEvery  bool // emit: every
}
